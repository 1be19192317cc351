from django.apps import AppConfig


class PortabilityConfig(AppConfig):
    name = "moyai.portability"
    label = "portability"
    verbose_name = "中間標準レイアウト"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from moyai.residents.signals import recorded

        from .lines import on_recorded

        # after a 本登録, in its transaction: the person's stored lines of the 住民 file
        recorded.connect(on_recorded, dispatch_uid="moyai.portability.lines")
