from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "moyai.platform.identity"
    label = "identity"
    verbose_name = "職員・権限"
