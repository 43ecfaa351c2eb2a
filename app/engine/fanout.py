"""Live events and requests between workers, through Redis pub/sub (``REDIS_URL``).

The database stays the source of truth: a worker publishes a run's events only after they
are committed, and a reader on another worker subscribes *before* it replays the database,
so what it misses in one it finds in the other (duplicates are dropped by seq, a gap is read
from the database). A message Redis loses costs time, not text: readers check the database
on every heartbeat tick (``EventLog.follow``).

- ``post(events_by_run)`` — after each commit; a task of its own sends what is posted in one
  pipelined round trip, so a slow or absent Redis never holds up the log's commits (past
  ``MAX_QUEUED`` posts it drops the oldest: readers elsewhere read them from the database);
- ``watch(run_id)`` — a ``RunFeed`` fed from Redis while the context is open, shared by all
  readers of that run in this process;
- ``ask(worker, action, run_id)`` — "stop" or "retry_now" to the worker answering the run;
  each worker listens on a channel of its own and hands requests to ``on_request``;
- ``tell_all(action)`` — "providers_changed" to every worker (itself included): an admin
  changed the providers, each worker reads them again (``on_request(action, None)``).

Channels: ``unbroken:run:<run id>`` carry ``[[seq, kind, data], …]`` (the stored events,
byte for byte); ``unbroken:worker:<worker id>`` carry ``{"action": …, "run_id": …}``, and
``unbroken:workers`` ``{"action": …}`` for all.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.engine.events import LogEvent
from app.engine.feed import RunFeed

logger = logging.getLogger(__name__)

RUN_CHANNEL = "unbroken:run:"
WORKER_CHANNEL = "unbroken:worker:"
ALL_WORKERS_CHANNEL = "unbroken:workers"
RECONNECT_S = 1.0
SUBSCRIBE_TIMEOUT_S = 2.0  # past it a reader goes on without Redis, on the database alone
MAX_QUEUED = 1000
ACTIONS = ("stop", "retry_now")
ACTIONS_FOR_ALL = ("providers_changed",)


class RedisFanOut:
    def __init__(self, url: str, worker_id: str, on_request: Callable[[str, str | None], Awaitable[None]]) -> None:
        # Commands time out (a dead Redis must not hang a stop); the subscription waits for
        # messages as long as it takes, and pings the server to notice a dead connection.
        self._redis = redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._subscriber = redis.from_url(url, socket_connect_timeout=2, health_check_interval=10)
        self._worker_id = worker_id
        self._on_request = on_request
        self._pubsub = self._subscriber.pubsub()
        self._outbox: collections.deque[dict[str, list[LogEvent]]] = collections.deque(maxlen=MAX_QUEUED)
        self._posted = asyncio.Event()
        self._sender: asyncio.Task | None = None
        self._feeds: dict[str, tuple[RunFeed, int]] = {}  # run id → (feed, readers)
        self._subscribed: dict[str, asyncio.Future] = {}  # channel → confirmed by Redis
        self._listener: asyncio.Task | None = None
        self._requests: set[asyncio.Task] = set()

    async def start(self) -> None:
        await self._subscribe(WORKER_CHANNEL + self._worker_id)
        await self._subscribe(ALL_WORKERS_CHANNEL)
        self._listener = asyncio.create_task(self._listen(), name="fan-out-listener")
        self._sender = asyncio.create_task(self._send(), name="fan-out-sender")
        await self._subscribed[WORKER_CHANNEL + self._worker_id]
        await self._subscribed[ALL_WORKERS_CHANNEL]

    async def close(self) -> None:
        tasks = [t for t in (self._listener, self._sender, *self._requests) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._pubsub.aclose()
        await self._subscriber.aclose()
        await self._redis.aclose()

    # -- sending ---------------------------------------------------------------------------

    def post(self, events_by_run: dict[str, list[LogEvent]]) -> None:
        if len(self._outbox) == MAX_QUEUED:
            logger.warning("Redis is behind: live events dropped (readers elsewhere read them from the database)")
        self._outbox.append(events_by_run)
        self._posted.set()

    async def _send(self) -> None:
        while True:
            await self._posted.wait()
            self._posted.clear()
            posts = list(self._outbox)
            self._outbox.clear()
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for events_by_run in posts:
                        for run_id, events in events_by_run.items():
                            pipe.publish(RUN_CHANNEL + run_id, json.dumps([[e.seq, e.kind, e.data] for e in events]))
                    await pipe.execute()
            except RedisError as exc:  # readers elsewhere catch up from the database
                logger.warning("could not publish live events to Redis: %s", exc)
                await asyncio.sleep(RECONNECT_S)

    async def ask(self, worker_id: str, action: str, run_id: str) -> None:
        """Best effort: the asking side watches the database for the outcome."""
        try:
            await self._redis.publish(WORKER_CHANNEL + worker_id, json.dumps({"action": action, "run_id": run_id}))
        except RedisError as exc:
            logger.warning("could not pass %s of run %s on to worker %s: %s", action, run_id, worker_id, exc)

    async def tell_all(self, action: str) -> None:
        """Best effort, like ``ask``: a worker that misses it reads the change at its next start."""
        try:
            await self._redis.publish(ALL_WORKERS_CHANNEL, json.dumps({"action": action}))
        except RedisError as exc:
            logger.warning("could not tell the other workers %s: %s", action, exc)

    # -- receiving -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def watch(self, run_id: str) -> AsyncIterator[RunFeed]:
        """The run's live events from other workers; subscribed when this returns."""
        feed, readers = self._feeds.get(run_id, (None, 0))
        if feed is None:
            feed = RunFeed(run_id, 0)
        self._feeds[run_id] = (feed, readers + 1)
        try:
            try:
                if readers == 0:
                    await self._subscribe(RUN_CHANNEL + run_id)
                async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                    await asyncio.shield(self._subscribed[RUN_CHANNEL + run_id])
            except (RedisError, TimeoutError) as exc:
                logger.warning("no live events from Redis for run %s (%s): reading the database", run_id, exc)
                feed.from_database_only = True
            yield feed
        finally:
            feed, readers = self._feeds[run_id]
            if readers > 1:
                self._feeds[run_id] = (feed, readers - 1)
            else:
                del self._feeds[run_id]
                self._subscribed.pop(RUN_CHANNEL + run_id, None)
                with contextlib.suppress(RedisError):
                    await self._pubsub.unsubscribe(RUN_CHANNEL + run_id)

    async def _subscribe(self, channel: str) -> None:
        self._subscribed[channel] = asyncio.get_running_loop().create_future()
        await self._pubsub.subscribe(channel)

    async def _listen(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except RedisError as exc:
                # redis-py subscribes again on the next read; what was published meanwhile is
                # in the database, and the readers' feeds start over from there.
                logger.warning("lost the Redis subscription (%s); reconnecting", exc)
                for feed, _ in self._feeds.values():
                    feed.forget()
                await asyncio.sleep(RECONNECT_S)
                continue
            if message is not None:
                self._receive(message)

    def _receive(self, message: dict) -> None:
        channel = message["channel"].decode()
        if message["type"] == "subscribe":
            confirmed = self._subscribed.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        elif message["type"] != "message":
            return
        elif channel.startswith(RUN_CHANNEL):
            entry = self._feeds.get(channel.removeprefix(RUN_CHANNEL))
            if entry is not None:
                events = [LogEvent(seq, kind, data) for seq, kind, data in json.loads(message["data"])]
                entry[0].publish_remote(events)
        else:
            request = json.loads(message["data"])
            action, run_id = request.get("action"), request.get("run_id")
            if channel == ALL_WORKERS_CHANNEL and action in ACTIONS_FOR_ALL:
                self._handle(action, None)
            elif action in ACTIONS and isinstance(run_id, str):
                self._handle(action, run_id)

    def _handle(self, action: str, run_id: str | None) -> None:
        task = asyncio.create_task(self._on_request(action, run_id))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)
