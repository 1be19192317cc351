from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "moyai.platform.tenancy"
    label = "tenancy"
    verbose_name = "団体（テナント）"

    def ready(self) -> None:
        from moyai.platform.db import lookups  # noqa: F401  (registers bytes_gte / bytes_lt)

        from . import signals  # noqa: F401
