from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "moyai.platform.tenancy"
    label = "tenancy"
    verbose_name = "団体（テナント）"

    def ready(self) -> None:
        from . import signals  # noqa: F401
