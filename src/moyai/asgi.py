"""ASGI entry point. Static files (the API documentation's assets) are served by Django itself,
so the embedded set-up needs no web server in front; a production deployment may put a proxy
or a CDN-free static server in front and drop the handler."""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
application = ASGIStaticFilesHandler(get_asgi_application())
