"""Debian's nginx in front of an app on loopback, configured from deploy/nginx/unbroken.conf.

Not a fake of nginx: the real ``/usr/sbin/nginx`` (``scripts/test`` installs it), running the
server block the README recommends, so the documented example is the one the tests run.

- ``NginxProxy(upstream_port, mode="streaming", port=None)`` — the recommended config as it
  is, with its ``listen`` moved to ``port`` on 127.0.0.1 (None: a free one) and its
  ``upstream`` block pointed at ``upstream_port`` (a list of ports: one server line each,
  several workers taken in turn);
- ``mode="buffering"`` — the same, but ``/api/`` goes through a location left at nginx's
  defaults (HTTP/1.0 to the app, ``proxy_buffering on``) that also ignores the app's
  ``X-Accel-Buffering: no``: a proxy that holds event streams in its buffers, as
  misconfigured ones do. (HTTP/1.0 matters: with HTTP/1.1 the app's response is chunked, and
  nginx passes each chunk on as it parses it even with buffering on; a response without
  chunks is held until a buffer fills or the app closes it.) The page's websocket keeps the
  recommended location.

Everything nginx writes (pid, error and access logs, temp files) stays in its own temporary
directory. A start that fails raises with nginx's error log; ``__exit__`` stops it (SIGTERM,
then SIGKILL) and removes the directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.fakes.server import free_port

NGINX = os.environ.get("UNBROKEN_NGINX", "/usr/sbin/nginx")
RECOMMENDED_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "unbroken.conf"
MODES = ("streaming", "buffering")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
# Each proxied event stream holds two connections (the client's and the one to the app): the
# benchmark runs hundreds of streams through it at once (bench/scale.py).
WORKER_CONNECTIONS = 4096
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

# The exact lines of the recommended config that a test run changes; each must occur once.
LISTEN_LINE = "listen 80;"
UPSTREAM = "    server 127.0.0.1:3000;\n"
LOCATION_LINE = "    location / {"
BUFFERING_LOCATION = """    # Test only: the API through nginx's defaults, ignoring the app's X-Accel-Buffering: no.
    location /api/ {
        proxy_pass http://127.0.0.1:%(upstream_port)d;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_buffering on;
        proxy_ignore_headers X-Accel-Buffering;
    }

"""


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"{RECOMMENDED_CONF.name} must contain {old!r} exactly once (tests/fakes/nginx.py edits it)")
    return text.replace(old, new)


def site_config(listen_port: int, upstream_port: int | list[int], mode: str = "streaming",
                template: str | None = None) -> str:
    """The recommended server block, pointed at the given ports; ``buffering`` adds the
    buffering ``/api/`` location (to the first port)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ports = upstream_port if isinstance(upstream_port, list) else [upstream_port]
    text = RECOMMENDED_CONF.read_text() if template is None else template
    text = _replace_once(text, LISTEN_LINE, f"listen 127.0.0.1:{listen_port};")
    text = _replace_once(text, UPSTREAM, "".join(f"    server 127.0.0.1:{port};\n" for port in ports))
    if mode == "buffering":
        text = _replace_once(text, LOCATION_LINE, BUFFERING_LOCATION % {"upstream_port": ports[0]} + LOCATION_LINE)
    return text


def main_config(directory: Path, site_path: Path) -> str:
    """A complete nginx.conf that keeps every file in ``directory`` and includes the site."""
    temp_paths = "\n".join(f"    {name}_temp_path {directory / name};" for name in _TEMP_PATHS)
    # As root, workers would run as nobody, who cannot enter a 0700 temp directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\n"
        f"events {{ worker_connections {WORKER_CONNECTIONS}; }}\n"
        "http {\n"
        f"    access_log {directory / 'access.log'};\n"
        f"{temp_paths}\n"
        f"    include {site_path};\n"
        "}\n"
    )


class NginxProxy:
    def __init__(self, upstream_port: int | list[int], mode: str = "streaming", port: int | None = None) -> None:
        self.upstream_port, self.mode = upstream_port, mode
        self.port = port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="unbroken-nginx-"))
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The master process (its one worker process is its child)."""
        return self._process.pid

    def error_log(self) -> str:
        path = self._dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        """Requests nginx finished (a stream appears once it has ended)."""
        path = self._dir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> NginxProxy:
        site = self._dir / "unbroken.conf"
        site.write_text(site_config(self.port, self.upstream_port, self.mode))
        conf = self._dir / "nginx.conf"
        conf.write_text(main_config(self._dir, site))
        self._process = subprocess.Popen(
            [NGINX, "-p", str(self._dir), "-c", str(conf), "-e", str(self._dir / "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            self._wait_until_listening()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_until_listening(self) -> None:
        """nginx writes its pid file once its sockets are bound (a port someone else holds
        makes it give up instead): then the port answers."""
        pid_file = self._dir / "nginx.pid"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self._process.stdout.read().decode(errors="replace")
                raise RuntimeError(f"nginx exited with {self._process.returncode}:\n{output}\n{self.error_log()}")
            if pid_file.exists() and pid_file.read_text().strip() == str(self._process.pid):
                with socket.create_connection(("127.0.0.1", self.port), timeout=5):
                    return
            time.sleep(0.02)
        raise RuntimeError(f"nginx did not start within {START_TIMEOUT_S} s:\n{self.error_log()}")

    def __exit__(self, *exc) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)  # fast shutdown: open streams are cut
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)  # the master and its worker
                self._process.wait()
        if self._process is not None:
            self._process.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)
