from django.apps import AppConfig


class HttpConfig(AppConfig):
    name = "moyai.platform.http"
    label = "moyai_http"
    verbose_name = "HTTP"
