from django.db import migrations

from moyai.platform.tenancy.operations import EnableTenantRLS

TABLES = ["portability_personlines"]


class Migration(migrations.Migration):
    dependencies = [("portability", "0001_initial")]
    operations = [*[EnableTenantRLS(t) for t in TABLES]]
