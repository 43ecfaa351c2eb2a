"""Lifecycle lines: the JSON shape, content only on request, keys masked, one handler per process."""

from __future__ import annotations

import json
import logging

import pytest

from app.engine.lifecycle_log import LOGGER_NAME, JsonLinesFormatter, LifecycleLog, install_handler

KEY = "sk-live-0123456789abcdef"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonLinesFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def lines():
    logger = logging.getLogger("test.lifecycle")
    handler = Lines()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


def test_an_event_is_one_json_line_with_time_name_run_and_user(lines):
    logger, handler = lines
    LifecycleLog(logger=logger).event("run_state", "run-1", **{"from": "queued", "to": "connecting"}, attempt=1)
    (line,) = handler.lines
    event = json.loads(line)
    assert event.pop("ts").endswith("+00:00")
    assert event == {"event": "run_state", "run_id": "run-1", "user_id": "local", "from": "queued",
                     "to": "connecting", "attempt": 1}


def test_text_is_left_out_unless_content_logging_is_on(lines):
    logger, handler = lines
    for content in (False, True):
        log = LifecycleLog(content=content, logger=logger)
        log.event("run_created", "r", provider="demo", **log.text("content", "my question\nsecond line"))
    quiet, loud = (json.loads(line) for line in handler.lines)
    assert "content" not in quiet
    assert loud["content"] == "my question\nsecond line"
    assert all("\n" not in line for line in handler.lines)


def test_keys_are_masked_in_every_string_even_in_logged_content(lines):
    logger, handler = lines
    log = LifecycleLog(content=True, secrets=("configured-secret-value",), logger=logger)
    log.event("attempt_end", "r", error=f"Incorrect API key provided: {KEY}",
              **log.text("content", "use configured-secret-value please"))
    (line,) = handler.lines
    assert KEY not in line and "configured-secret-value" not in line
    assert json.loads(line)["error"] == "Incorrect API key provided: [redacted]"


def test_a_plain_log_record_keeps_its_level_and_message():
    record = logging.LogRecord("app.x", logging.WARNING, __file__, 1, "disk %s", ("full",), None)
    line = json.loads(JsonLinesFormatter().format(record))
    assert (line["event"], line["level"], line["logger"], line["message"]) == ("log", "warning", "app.x", "disk full")


def test_the_handler_is_installed_once_however_many_services_start(capsys):
    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        logger.handlers = []
        install_handler()
        install_handler()
        assert len(logger.handlers) == 1
        LifecycleLog().event("stream_open", "run-9", after_seq=3)
        out = capsys.readouterr().out  # written to the stdout of the moment
        assert json.loads(out)["after_seq"] == 3
    finally:
        logger.handlers, logger.level, logger.propagate = saved
