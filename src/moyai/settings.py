"""Django settings for Moyai.

Operator configuration comes from the environment (never from code changes):

- ``MOYAI_DB``: ``sqlite`` (embedded default, zero set-up) or ``postgresql``.
- ``MOYAI_SQLITE_PATH``: file of the embedded database (default ``var/moyai.sqlite3``).
- ``MOYAI_PG_HOST`` / ``MOYAI_PG_PORT`` / ``MOYAI_PG_NAME``: the PostgreSQL server and database.
- ``MOYAI_PG_USER``: the login role. The application runs as ``MOYAI_PG_APP_ROLE`` (default
  ``moyai_app``: owns no table, no BYPASSRLS) and migrations as ``MOYAI_PG_OWNER_ROLE``
  (default ``moyai_owner``); see docs/operations.md.
- ``MOYAI_SECRET_KEY``, ``MOYAI_DEBUG``, ``MOYAI_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(os.environ.get("MOYAI_HOME", Path.cwd()))

SECRET_KEY = os.environ.get("MOYAI_SECRET_KEY", "insecure-development-key-change-me")
DEBUG = os.environ.get("MOYAI_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("MOYAI_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "moyai.platform.http",
    "moyai.platform.tenancy",
    "moyai.platform.identity",
    "moyai.platform.audit",
    "moyai.residents",
    "moyai.gateway",
    "moyai.linkage",
    "moyai.ui",
    "moyai.certificates",
    "moyai.portability",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "moyai.platform.audit.middleware.RequestIdMiddleware",
]

ROOT_URLCONF = "moyai.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "moyai.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

PG_APP_ROLE = os.environ.get("MOYAI_PG_APP_ROLE", "moyai_app")
PG_OWNER_ROLE = os.environ.get("MOYAI_PG_OWNER_ROLE", "moyai_owner")

DATABASES: dict[str, dict[str, Any]]
_db = os.environ.get("MOYAI_DB", "sqlite")
if _db == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("MOYAI_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MOYAI_PG_PORT", "5432"),
            "NAME": os.environ.get("MOYAI_PG_NAME", "moyai"),
            "USER": os.environ.get("MOYAI_PG_USER", PG_OWNER_ROLE),
            "PASSWORD": os.environ.get("MOYAI_PG_PASSWORD", ""),
            "CONN_MAX_AGE": 60,
            "OPTIONS": {},
            "TEST": {"NAME": os.environ.get("MOYAI_PG_TEST_NAME", "test_moyai")},
        }
    }
    # Run as the application role unless this process is a migration (moyai db migrate).
    if os.environ.get("MOYAI_DB_AS_OWNER", "0") != "1":
        DATABASES["default"]["OPTIONS"]["options"] = f"-c role={PG_APP_ROLE}"
elif _db == "sqlite":
    _path = Path(os.environ.get("MOYAI_SQLITE_PATH", BASE_DIR / "var" / "moyai.sqlite3"))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_path),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
else:  # pragma: no cover - configuration error
    raise RuntimeError(f"MOYAI_DB must be 'sqlite' or 'postgresql', not {_db!r}")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
]

LANGUAGE_CODE = "ja"
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact": {"()": "moyai.platform.logfilter.RedactNumbers"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("MOYAI_LOG_LEVEL", "WARNING")},
}

NINJA_PAGINATION_PER_PAGE = 50
