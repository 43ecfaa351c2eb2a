"""Start and stop the benchmark's servers as child processes, and read their /proc counters.

Each server is its own process (the fake upstream, the app, the bare SSE endpoint), so that
one Python interpreter's lock never stands for another's work. Every server listens on
127.0.0.1 on a free port and prints ``ready`` once it accepts connections.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m <module> <args>`` in a child process, stopped with SIGINT (graceful)."""

    def __init__(self, module: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self._argv = [sys.executable, "-m", module, str(self.port), *args]
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self._env = {**os.environ, **(env or {}), "PYTHONPATH": path}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def __enter__(self) -> Server:
        # Output goes to a file, never a pipe nobody reads (a full pipe would stall the server).
        self._output = tempfile.NamedTemporaryFile(prefix="unbroken-bench-", suffix=".log")
        self.process = subprocess.Popen(self._argv, cwd=ROOT, env=self._env, stdout=self._output,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not Path(self._output.name).read_bytes().startswith(b"ready"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"{' '.join(self._argv[2:4])} did not start: {self.output()[-2000:]}")
            time.sleep(0.02)
        return self

    def output(self) -> str:
        return Path(self._output.name).read_text(errors="replace")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def written_bytes(pid: int) -> int:
    """Bytes the process caused to be written to storage (``write_bytes`` of /proc/<pid>/io)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError(f"no write_bytes for pid {pid}")


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces): field 3 onwards."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
                continue
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of all its descendants so far, those that exited included
    (their parents' ``cutime`` + ``cstime``): a server such as Postgres or nginx does its work
    in child processes."""
    total = 0.0
    for member in (pid, *_descendants(pid)):
        try:
            fields = _stat_fields(member)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")
    return total


def machine_cpu_seconds() -> float:
    """CPU time all cores spent busy so far, every process's (``/proc/stat``: all but idle
    and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
