"""One worker process of a scale-out deployment, for tests (``tests/fakes/workers.py``): the
API (no Reflex page) of a ``ChatService``, served by uvicorn on 127.0.0.1. ``serve`` is what
the deployment's fork server runs, with a test's exact settings (JSON of a ``Settings``); run
as a script, the settings come from ``UNBROKEN_TEST_SETTINGS``, else from the environment like
the app's, and the port from ``PORT``. Its lifecycle log (JSON lines) goes to stderr — to the
log file ``serve`` is given — which tells a test which worker served what. The workers of a
deployment share their metrics through a folder (``PROMETHEUS_MULTIPROC_DIR``), as
``scripts/run`` has them do.
"""

from __future__ import annotations

import os

import uvicorn
from prometheus_client import values

from app.engine.metrics import SHARED_FOLDER_VARIABLE
from app.engine.service import ChatService
from app.settings import Settings
from app.web.asgi import build_api_app
from tests.fakes.server import die_with_parent
from tests.fakes.workers import SETTINGS_VARIABLE, settings_from_json


def serve(settings_text: str, port: int, log_path: str, metrics_folder: str) -> None:
    """Serve the API with these settings until stopped; output to ``log_path``, metrics in
    ``metrics_folder`` with the deployment's other workers."""
    die_with_parent()  # the fork server: it goes when the test run does
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # prometheus_client chooses how it keeps values when imported (the fork server imported
    # it before this deployment's folder existed): choose again, as that import would have.
    os.environ[SHARED_FOLDER_VARIABLE] = metrics_folder
    values.ValueClass = values.get_value_class()
    run(settings_from_json(settings_text), port)


def run(settings: Settings, port: int) -> None:
    uvicorn.run(build_api_app(ChatService(settings)), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    given = os.environ.get(SETTINGS_VARIABLE)
    run(settings_from_json(given) if given else Settings.from_env(), int(os.environ["PORT"]))
