"""The app of one worker process when ``moyai gateway serve --workers N`` (N > 1).

uvicorn's supervisor starts each worker as a new interpreter and imports the factory named by
string: this module sets Django up before anything that needs it is imported, then builds the
app from the configuration the parent left in the environment.
"""

from __future__ import annotations

import json
import os
from typing import Any, Final

CONFIG_ENV: Final = "MOYAI_GATEWAY_SERVE_CONFIG"


def app() -> Any:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moyai.settings")
    django.setup()
    from .run import GatewayConfig, build_app

    return build_app(GatewayConfig(**json.loads(os.environ[CONFIG_ENV])))
