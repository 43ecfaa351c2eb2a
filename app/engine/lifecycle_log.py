"""Lifecycle log lines: one JSON object per line for each run and event-stream event.

Contract of a line (the logger ``unbroken.lifecycle``)::

    {"ts": "<ISO-8601 UTC, ms>", "event": "<name>", "run_id": "...", "user_id": "...", ...fields}

- It never holds a provider key: every string in it passes through ``errors.redact`` with the
  configured secrets.
- It holds message text (the question, the answer) only when ``content`` is on
  (``UNBROKEN_LOG_CONTENT=on``, for debugging); otherwise only lengths.

``install_handler`` sends the lines to the process's stdout, once per process however many
services start; the lines do not propagate to the root logger, so a host that configures
logging its own way (Reflex, uvicorn) neither drops nor doubles them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from app.engine.errors import redact
from app.engine.models import LOCAL_USER_ID

LOGGER_NAME = "unbroken.lifecycle"
_FIELDS_ATTR = "lifecycle"


class JsonLinesFormatter(logging.Formatter):
    """A record → one line of JSON; a record that is not a lifecycle event keeps its level and message."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")}
        fields = getattr(record, _FIELDS_ATTR, None)
        if fields is None:
            line.update({"event": "log", "level": record.levelname.lower(), "logger": record.name,
                         "message": record.getMessage()})
        else:
            line.update({"event": record.getMessage(), **fields})
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


class LifecycleLog:
    def __init__(self, *, content: bool = False, secrets: tuple[str, ...] = (),
                 logger: logging.Logger | None = None) -> None:
        self.content = content
        self._secrets = secrets
        self._logger = logger or logging.getLogger(LOGGER_NAME)
        self._owners: dict[str, str] = {}  # run id → user id, while the run is being driven

    def own(self, run_id: str, user_id: str) -> None:
        """Lines about ``run_id`` name ``user_id`` until ``disown``."""
        self._owners[run_id] = user_id

    def disown(self, run_id: str) -> None:
        self._owners.pop(run_id, None)

    def event(self, name: str, run_id: str, user_id: str | None = None, **fields: object) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        line = {"run_id": run_id, "user_id": user_id or self._owners.get(run_id, LOCAL_USER_ID)}
        line.update({key: self._clean(value) for key, value in fields.items()})
        self._logger.info(name, extra={_FIELDS_ATTR: line})

    def mask(self, secrets: tuple[str, ...]) -> None:
        """Mask these from now on (keys an admin entered after the start)."""
        self._secrets = secrets

    def text(self, key: str, text: str | None) -> dict[str, object]:
        """``{key: text}`` when content logging is on, else ``{}``: spread it into ``event``."""
        return {key: text} if self.content and text is not None else {}

    def _clean(self, value: object) -> object:
        return redact(value, self._secrets) if isinstance(value, str) else value


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (as ``logging.lastResort`` does for
    stderr), so a replaced stdout (a test runner's capture) never leaves it writing to a
    closed file."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def install_handler() -> logging.Logger:
    """Send lifecycle lines to stdout at INFO; does nothing when already done in this process."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(handler, _StdoutHandler) for handler in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(JsonLinesFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
