"""A throwaway Redis for tests: Debian's ``redis-server`` on a free loopback port, nothing
saved to disk, in a temporary folder. Not a fake of Redis: the real server (``scripts/test``
installs it). ``RedisServer()`` as a context manager starts it and stops it on exit; the
server also dies with the test process (``PR_SET_PDEATHSIG``), so a killed test run leaves
no server behind. A server that cannot start raises with its log; nothing here skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.fakes.server import die_with_parent, free_port

REDIS_SERVER = os.environ.get("UNBROKEN_REDIS_SERVER", "/usr/bin/redis-server")
START_TIMEOUT_S = 15.0


class RedisServer:
    def __init__(self) -> None:
        self.port = 0
        self._folder: Path | None = None
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self.database_url(0)

    def database_url(self, database: int) -> str:
        """The URL of one of the server's numbered databases (their keys are apart; pub/sub
        channels are shared by all)."""
        return f"redis://127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int:
        return self._process.pid

    def __enter__(self) -> RedisServer:
        self._folder = Path(tempfile.mkdtemp(prefix="unbroken-redis-"))
        self.port = free_port()
        log = self._folder / "redis.log"
        self._process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._folder), "--logfile", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text() if log.exists() else "(no log)"
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"redis-server did not start:\n{text}") from None
                time.sleep(0.05)
            finally:
                client.close()
        return self

    def __exit__(self, *exc) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
