"""Debian's nginx in front of the API, configured from deploy/nginx/unbroken.conf: the
recommended config passes an event stream on as it is written; a buffering proxy holds it
to the end. The diagnostics tick stream has a known timing, so the difference is measured."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.nginx import RECOMMENDED_CONF, NginxProxy, site_config
from tests.sse_client import timed_events

TICKS, INTERVAL_MS = 8, 200  # sent over 1.6 s (heartbeat 1 s: pings at 1 s and 2 s)
OVERSIZED_TRIES = 20  # the reset is a race: one try passes by luck often enough
PROBE = f"/api/diagnostics/stream?ticks={TICKS}&interval_ms={INTERVAL_MS}&pings=2"


def test_through_the_recommended_config_each_event_arrives_while_the_stream_is_open(api_against):
    app = api_against()
    with NginxProxy(app.port, "streaming") as nginx:
        headers, arrivals = timed_events(nginx.url + PROBE)
    assert headers["server"].startswith("nginx")
    ticks = [a for a in arrivals if a.event == "tick"]
    done = arrivals[-1]
    assert [t.data["n"] for t in ticks] == list(range(1, TICKS + 1)) and done.event == "done"
    assert done.at_s - ticks[0].at_s >= 1.2, "the first tick came 1.8 s before the end"
    assert ticks[-1].at_s - ticks[0].at_s >= 1.0, "ticks sent 1.4 s apart arrived together"
    pings = [a for a in arrivals if a.event == "ping"]
    assert pings[2].at_s - pings[1].at_s >= 0.7, "heartbeats arrive a heartbeat apart"


def test_through_a_buffering_proxy_nothing_arrives_until_the_stream_ends(api_against):
    app = api_against()
    with NginxProxy(app.port, "buffering") as nginx:
        headers, arrivals = timed_events(nginx.url + PROBE)
    assert headers["server"].startswith("nginx")
    assert [a.event for a in arrivals].count("tick") == TICKS and arrivals[-1].event == "done"
    first, last = arrivals[0], arrivals[-1]
    assert first.at_s >= last.data["server_ms"] / 1000 - 0.1, "the first event waited for the end"
    assert last.at_s - first.at_s < 0.2, "everything arrived in one burst"


def test_the_page_and_the_api_come_through_both_modes_with_the_callers_address(api_against):
    app = api_against()
    for mode in ("streaming", "buffering"):
        with NginxProxy(app.port, mode) as nginx:
            body = httpx.get(nginx.url + "/api/diagnostics", headers={"X-Forwarded-For": "198.51.100.4"}).json()
            assert body["client_address"] == "198.51.100.4", mode  # forwarded by nginx, trusted from loopback
            assert httpx.get(nginx.url + "/healthz").json() == {"status": "ok"}


def test_an_oversized_question_through_nginx_is_refused_with_the_json_413_every_time(api_against):
    """The app answers 413 before the body is through; nginx is still sending the body it
    buffered, so an app that closed at once would reset the connection and nginx answer 502."""
    app = api_against()
    body = {"content": "x" * 1_000_000, "client_request_id": "too-large"}
    with NginxProxy(app.port, "streaming") as nginx, httpx.Client(base_url=nginx.url, timeout=15) as client:
        answers = [client.post("/api/runs", json=body) for _ in range(OVERSIZED_TRIES)]
    assert [a.status_code for a in answers] == [413] * OVERSIZED_TRIES
    assert {a.json()["error"]["code"] for a in answers} == {"request_too_large"}


def test_the_recommended_config_is_the_file_the_tests_render():
    rendered = site_config(4001, 4002)
    assert rendered == RECOMMENDED_CONF.read_text().replace("listen 80;", "listen 127.0.0.1:4001;").replace(
        "server 127.0.0.1:3000;", "server 127.0.0.1:4002;")
    for directive in ("proxy_buffering off;", "proxy_cache off;", "proxy_http_version 1.1;",
                      "proxy_set_header Upgrade $http_upgrade;", "proxy_read_timeout 3600s;"):
        assert directive in rendered


def test_several_workers_become_one_server_line_each():
    rendered = site_config(4001, [4002, 4003, 4004])
    assert "    server 127.0.0.1:4002;\n    server 127.0.0.1:4003;\n    server 127.0.0.1:4004;\n" in rendered
    assert "proxy_pass http://unbroken_app;" in rendered


def test_a_config_missing_a_line_the_fixture_edits_is_refused_by_name():
    with pytest.raises(ValueError, match="listen 80;"):
        site_config(4001, 4002, template="upstream a {\n    server 127.0.0.1:3000;\n}\nserver { }")


def test_nginx_that_cannot_start_says_why(api_against):
    app = api_against()
    with NginxProxy(app.port) as first:
        clash = NginxProxy(app.port)
        clash.port = first.port  # the address is taken
        with pytest.raises(RuntimeError, match="Address already in use"):
            clash.__enter__()
