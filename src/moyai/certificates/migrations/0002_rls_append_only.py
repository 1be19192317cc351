from django.db import migrations

from moyai.platform.tenancy.operations import AppendOnly, EnableTenantRLS

TENANT_TABLES = [
    "certificates_issuecounter",
    "certificates_issuancerecord",
    "certificates_revocation",
    "certificates_kioskcard",
    "certificates_kiosknonce",
]


class Migration(migrations.Migration):
    dependencies = [("certificates", "0001_initial")]
    operations = [
        *[EnableTenantRLS(t) for t in TENANT_TABLES],
        AppendOnly("certificates_issuancerecord"),
        AppendOnly("certificates_revocation"),
        AppendOnly("certificates_verificationlog"),
    ]
