from django.db import migrations

from moyai.platform.tenancy.operations import EnableTenantRLS


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]
    operations = [EnableTenantRLS("tenancy_tenantparameter")]
