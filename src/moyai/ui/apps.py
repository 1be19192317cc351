from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "moyai.ui"
    label = "ui"
    verbose_name = "窓口画面"
