"""One worker process of a scale-out deployment, for tests (``tests/fakes/workers.py``): the
API (no Reflex page) of a ``ChatService``, served by uvicorn on 127.0.0.1:$PORT. Its settings
come from ``UNBROKEN_TEST_SETTINGS`` (JSON of a ``Settings``, so a test's exact settings),
else from the environment like the app's. Its lifecycle log (JSON lines) goes to stderr,
which tells a test which worker served what.
"""

from __future__ import annotations

import os

import uvicorn

from app.engine.service import ChatService
from app.settings import Settings
from app.web.asgi import build_api_app
from tests.fakes.workers import SETTINGS_VARIABLE, settings_from_json

if __name__ == "__main__":
    given = os.environ.get(SETTINGS_VARIABLE)
    settings = settings_from_json(given) if given else Settings.from_env()
    uvicorn.run(build_api_app(ChatService(settings)), host="127.0.0.1", port=int(os.environ["PORT"]),
                log_level="warning")
