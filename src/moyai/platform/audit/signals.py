"""認証ログ: Django's log-in signals write the security log (never the password)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .models import SecurityLog


def _terminal(request: Any) -> str:
    return str(getattr(request, "META", {}).get("REMOTE_ADDR", "") or "")[:64]


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    SecurityLog.objects.create(kind="login", username=user.get_username()[:150], terminal=_terminal(request))


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        SecurityLog.objects.create(kind="logout", username=user.get_username()[:150], terminal=_terminal(request))


@receiver(user_login_failed)
def _failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    SecurityLog.objects.create(kind="login_failed", username=str(credentials.get("username", ""))[:150],
                               terminal=_terminal(request))
