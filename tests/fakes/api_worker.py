"""One worker process of a scale-out deployment, for tests: the API (no Reflex page) of a
``ChatService`` configured from the environment like the app (``DATABASE_URL``, ``REDIS_URL``,
``OPENAI_BASE_URL`` …), served by uvicorn on 127.0.0.1:$PORT. Its lifecycle log (JSON lines)
goes to stderr, which tells a test which worker served what.

    PORT=4001 DATABASE_URL=… REDIS_URL=… python -m tests.fakes.api_worker
"""

from __future__ import annotations

import os

import uvicorn

from app.engine.service import ChatService
from app.settings import Settings
from app.web.asgi import build_api_app

if __name__ == "__main__":
    app = build_api_app(ChatService(Settings.from_env()))
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
