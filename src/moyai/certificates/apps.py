from __future__ import annotations

from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "moyai.certificates"
    label = "certificates"
    verbose_name = "証明書"
