from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "moyai.platform.audit"
    label = "audit"
    verbose_name = "アクセスログ"

    def ready(self) -> None:
        from . import signals  # noqa: F401
