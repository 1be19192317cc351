from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "moyai.gateway"
    label = "gateway"
    verbose_name = "情報連携ゲートウェイ"

    def ready(self) -> None:
        from . import signals  # noqa: F401
