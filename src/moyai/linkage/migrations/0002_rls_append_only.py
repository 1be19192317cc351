from django.db import migrations

from moyai.platform.tenancy.operations import AppendOnly, EnableTenantRLS

TABLES = ["linkage_linkagecounter", "linkage_linkagechange", "linkage_linkageconsumer", "linkage_linkagedelivery",
          "linkage_cardtoken"]


class Migration(migrations.Migration):
    dependencies = [("linkage", "0001_initial")]
    operations = [
        *[EnableTenantRLS(t) for t in TABLES],
        AppendOnly("linkage_linkagechange"),
        AppendOnly("linkage_linkagedelivery"),
    ]
