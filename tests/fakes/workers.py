"""Several worker processes of one deployment behind Debian's nginx, for tests.

``WorkerDeployment(settings, folder, count=3)`` starts ``count`` worker processes at once
(``tests/fakes/api_worker.py``: the API of a ``ChatService`` with exactly ``settings``, which
should name a Postgres ``database_url`` and a ``redis_url``), waits until each answers, and
puts nginx in front running deploy/nginx/unbroken.conf with one ``server`` line per worker:
each new connection goes to the next worker in turn. ``url`` / ``port`` are nginx's. Each
worker's output (its lifecycle log: JSON lines) is kept in ``folder``, and their metrics in
``folder/metrics``: any worker's ``/metrics`` shows the whole deployment's.

Workers are forked by multiprocessing's fork server, which imported the app once for the
whole session: a worker starts without a second of imports of its own (the ``[workers]``
tests start a deployment each). Each is still a process of its own, with its own engine,
event loop and Redis connections, as in a deployment.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
from pathlib import Path

import sqlalchemy

from app.engine.db import create_engine
from app.settings import Settings
from tests.fakes.nginx import NginxProxy
from tests.fakes.server import free_port, wait_until_healthy

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
SETTINGS_VARIABLE = "UNBROKEN_TEST_SETTINGS"  # the worker's settings as JSON (api_worker.py)

_FORK_SERVER = multiprocessing.get_context("forkserver")
_FORK_SERVER.set_forkserver_preload(["tests.fakes.api_worker"])


def settings_json(settings: Settings) -> str:
    return json.dumps(dataclasses.asdict(settings))


def settings_from_json(text: str) -> Settings:
    return Settings(**{name: tuple(value) if isinstance(value, list) else value
                       for name, value in json.loads(text).items()})


@dataclasses.dataclass
class WorkerProcess:
    port: int
    process: multiprocessing.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        """Its exit code, or None while it runs (as ``Popen.poll``, for ``wait_until_healthy``)."""
        return self.process.exitcode

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        os.kill(self.pid, signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), then SIGKILL if it takes too long."""
        if self.process.exitcode is None:
            self.process.terminate()
            self.process.join(STOP_TIMEOUT_S)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()

    def streams_opened(self, run_id: str) -> int:
        """Event streams of ``run_id`` this worker served (its lifecycle log says so)."""
        return sum('"event":"stream_open"' in line and run_id in line
                   for line in self.log.read_text(errors="replace").splitlines())


class WorkerDeployment:
    def __init__(self, settings: Settings, folder: Path, count: int = 3) -> None:
        self.settings, self.folder, self.count = settings, folder, count
        self.workers: list[WorkerProcess] = []
        self.nginx: NginxProxy | None = None
        self._database: sqlalchemy.Engine | None = None  # for owner_of, made on first use

    @property
    def url(self) -> str:
        return self.nginx.url

    @property
    def port(self) -> int:
        return self.nginx.port

    def __enter__(self) -> WorkerDeployment:
        from tests.fakes.api_worker import serve

        self.folder.mkdir(parents=True, exist_ok=True)
        metrics = self.folder / "metrics"
        metrics.mkdir(exist_ok=True)
        given = settings_json(self.settings)
        for number in range(self.count):  # all at once, as a deployment starts: they migrate in turn
            port, log = free_port(), self.folder / f"worker{number}.log"
            process = _FORK_SERVER.Process(target=serve, args=(given, port, str(log), str(metrics)), daemon=True)
            process.start()
            self.workers.append(WorkerProcess(port, process, log))
        try:
            for worker in self.workers:
                wait_until_healthy(f"http://127.0.0.1:{worker.port}", worker, worker.log, START_TIMEOUT_S,
                                   what=f"the worker on {worker.port}")
            self.nginx = NginxProxy([worker.port for worker in self.workers]).__enter__()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._database is not None:
            self._database.dispose()
        if self.nginx is not None:
            self.nginx.__exit__(None, None, None)
        for worker in self.workers:  # all told at once, then waited for
            if worker.process.exitcode is None:
                worker.process.terminate()
        for worker in self.workers:
            worker.stop()

    def owner_of(self, run_id: str) -> str | None:
        """The worker answering ``run_id``, as its run row says (leases.py)."""
        self._database = self._database or create_engine(self.settings.database_url)
        with self._database.connect() as connection:
            return connection.execute(sqlalchemy.text("SELECT owner FROM run WHERE id = :id"), {"id": run_id}).scalar()

    def worker_of(self, owner: str) -> WorkerProcess:
        pid = int(owner.split(":")[1])  # leases.worker_id: host:pid:random
        return next(worker for worker in self.workers if worker.pid == pid)
