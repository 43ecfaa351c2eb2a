"""The app's API alone (``build_api_app``, no Reflex) on one uvicorn worker, for the benchmark.

``python -m bench.app_server PORT UPSTREAM_BASE_URL DATABASE_PATH`` serves it on 127.0.0.1,
pointed at the fake upstream, and prints ``ready``. The provider concurrency is raised to
``PROVIDER_CONCURRENCY`` (an operator setting, ``UNBROKEN_PROVIDER_CONCURRENCY``) so that
200 streams run at once rather than queue, and so are the per-user limits (all the streams
are the one local user's). With ``BENCH_PROFILE=<file>`` the whole process
runs under cProfile and the top entries by own time are written to that file at exit.
"""

from __future__ import annotations

import cProfile
import io
import logging
import os
import pstats
import sys

import uvicorn

from app.engine.service import ChatService
from app.settings import Settings
from app.web.asgi import build_api_app

PROVIDER_CONCURRENCY = 1000
PROFILE_TOP_ENTRIES = 40


class _ReadyServer(uvicorn.Server):
    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        print("ready", flush=True)


def _use_transport(name: str) -> None:
    """The app runs on ``asyncio_transport``; ``httpcore`` swaps in httpx's default transport
    (httpcore on anyio) under the same client, for the transport comparison (bench/transport.py)."""
    if name == "httpcore":
        import httpx

        client_class = httpx.AsyncClient
        httpx.AsyncClient = lambda **kwargs: client_class(**{k: v for k, v in kwargs.items() if k != "transport"})


def bench_settings(upstream_base_url: str, database_url: str, redis_url: str | None = None) -> Settings:
    """The benchmark's app settings: the fake upstream as the one provider, limits raised so
    that every stream runs at once. ``redis_url`` (with a Postgres ``database_url``) makes the
    app a worker of a scale-out deployment (bench/scale.py); everything else stays the same."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        openai_base_url=upstream_base_url,
        openai_api_key="bench",
        openai_model="bench",
        provider_concurrency=PROVIDER_CONCURRENCY,
        # Every stream is the one local user's: the per-user limits would stop at 2 at once.
        concurrent_runs=PROVIDER_CONCURRENCY,
        messages_per_minute=1_000_000,
    )


def build_server(port: int, upstream_base_url: str, database_path: str) -> uvicorn.Server:
    app = build_api_app(ChatService(bench_settings(upstream_base_url, f"sqlite:///{database_path}")))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            backlog=4096, timeout_graceful_shutdown=5)
    return _ReadyServer(config)


def main() -> None:
    port, upstream, database = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    logging.getLogger("app").setLevel(logging.WARNING)
    _use_transport(os.environ.get("BENCH_TRANSPORT", "asyncio"))
    server = build_server(port, upstream, database)
    profile_path = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_path else None
    if profiler:
        profiler.enable()
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn raises the SIGINT it stopped on again once it is done
        pass
    if not profiler:
        return
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(PROFILE_TOP_ENTRIES)
    with open(profile_path, "w") as file:
        file.write(out.getvalue())


if __name__ == "__main__":
    main()
