from django.apps import AppConfig


class LinkageConfig(AppConfig):
    name = "moyai.linkage"
    label = "linkage"
    verbose_name = "宛名連携"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from moyai.residents.signals import recorded

        from .services import on_recorded

        recorded.connect(on_recorded, dispatch_uid="moyai.linkage.outbox")
