from django.db import migrations

from moyai.platform.tenancy.operations import AppendOnly, EnableTenantRLS


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [
        EnableTenantRLS("audit_accesslog"),
        EnableTenantRLS("audit_accesslogsubject"),
        AppendOnly("audit_accesslog"),
        AppendOnly("audit_accesslogsubject"),
    ]
