"""A throwaway Postgres cluster for tests: Debian's ``initdb`` into a temporary folder, a server
on a free loopback port (and a unix socket in that folder), a fresh database on demand.

``PostgresCluster()`` as a context manager starts the server and stops it (then deletes its
files) on exit. ``new_database()`` returns the SQLAlchemy URL of an empty database of its own.
Nothing here skips: a cluster that cannot start raises ``PostgresUnavailable`` with the
server's log, so a test that needs Postgres fails when it is missing.

Postgres refuses to run as root; as root the server runs as the ``postgres`` OS user (made by
Debian's package) through ``runuser``, and owns the temporary folder. Durability is off
(``fsync``, synchronous commit, full-page writes): a test cluster is never recovered.

The server outlives a test process that is killed (a timeout, Ctrl+C twice), so a watchdog
process holds the read end of a pipe from this one: when the pipe closes, whether on a
normal exit or because the test process died, the watchdog stops the server and deletes
its folder.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from tests.fakes.server import free_port

START_TIMEOUT_S = 60  # pg_ctl -w waits at most this long for the server to accept connections
SUPERUSER = "postgres"
OS_USER = "postgres"  # who runs the server when the tests run as root


# Runs in its own session (a Ctrl+C to the tests' process group does not reach it): waits for
# the end of its stdin, then runs the stop command and deletes the folder.
_WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.buffer.read()
subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, capture_output=True)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


class PostgresUnavailable(RuntimeError):
    pass


def postgres_bin_dir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are: ``UNBROKEN_PG_BIN``, else the newest Debian
    version under /usr/lib/postgresql, else the PATH."""
    configured = os.environ.get("UNBROKEN_PG_BIN")
    if configured:
        return Path(configured)
    debian = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if debian:
        newest = max(debian, key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).parent.parent.name)] or [0])
        return Path(newest).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable("initdb not found: install Debian's postgresql package or set UNBROKEN_PG_BIN")


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = postgres_bin_dir()
        self.port = 0
        self._names = itertools.count(1)
        self._folder: Path | None = None
        self._as_user: list[str] = []
        self._watchdog: subprocess.Popen | None = None

    @property
    def data(self) -> Path:
        assert self._folder is not None
        return self._folder / "data"

    @property
    def log_file(self) -> Path:
        assert self._folder is not None
        return self._folder / "server.log"

    @property
    def pid(self) -> int:
        """The postmaster (every backend is its child): the first line of ``postmaster.pid``."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> PostgresCluster:
        self._folder = Path(tempfile.mkdtemp(prefix="unbroken-pg-"))
        try:
            if os.geteuid() == 0:
                try:
                    owner = pwd.getpwnam(OS_USER)
                except KeyError:
                    raise PostgresUnavailable(f"running as root, and there is no {OS_USER!r} OS user to run Postgres")
                os.chown(self._folder, owner.pw_uid, owner.pw_gid)
                self._as_user = ["runuser", "-u", OS_USER, "--"]
            self._watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(self._folder), *self._stop_command()],
                                              stdin=subprocess.PIPE, start_new_session=True)
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                      "--locale=C.UTF-8", "--no-sync")
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        """Start on a free port; another process can take the port between the pick and the
        bind, so a refused start is tried again on a new port (a few times, then it fails)."""
        for _ in range(3):
            self.port = free_port()
            options = (f"-p {self.port} -h 127.0.0.1 -k {self._folder} -c fsync=off -c synchronous_commit=off "
                       "-c full_page_writes=off -c max_connections=300")
            started = subprocess.run(
                [*self._as_user, str(self.bin / "pg_ctl"), "start", "-D", str(self.data), "-l", str(self.log_file),
                 "-w", "-t", str(START_TIMEOUT_S), "-o", options],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=self._folder,
            )
            if started.returncode == 0:
                return
        raise PostgresUnavailable(f"pg_ctl start failed:\n{started.stdout}{started.stderr}\n{self._log_tail()}")

    def __exit__(self, *exc) -> None:
        if self._folder is None:
            return
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self._stop_command(), stdin=subprocess.DEVNULL, capture_output=True)
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = None
        if self._watchdog is not None:
            self._watchdog.stdin.close()
            self._watchdog.wait(timeout=START_TIMEOUT_S)
            self._watchdog = None

    def _stop_command(self) -> list[str]:
        return [*self._as_user, str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate",
                "-w", "-t", str(START_TIMEOUT_S)]

    def new_database(self) -> str:
        """An empty database of its own (a copy of template1); returns its SQLAlchemy URL."""
        name = f"test_{next(self._names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _run(self, program: str, *args: str) -> None:
        try:
            done = subprocess.run([*self._as_user, str(self.bin / program), *args], stdin=subprocess.DEVNULL,
                                  cwd=self._folder, capture_output=True, text=True)
        except OSError as error:
            raise PostgresUnavailable(f"{program} could not run: {error}") from error
        if done.returncode != 0:
            raise PostgresUnavailable(f"{program} failed:\n{done.stdout}{done.stderr}")

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no server log)"
