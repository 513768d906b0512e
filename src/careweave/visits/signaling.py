"""Signaling for video visits: small JSON messages relayed between the two participants of a room.

A room is an appointment id. Each WebSocket connection subscribes to its room and publishes to it; the
broker carries every message to every subscriber of that room **in every app process**:

- :class:`InProcessBroker`: asyncio queues in this process only. For SQLite, which runs one process.
- :class:`PostgresNotifyBroker`: PostgreSQL ``LISTEN``/``NOTIFY`` on one channel (``careweave_visits``).
  A ``NOTIFY`` payload must be shorter than 8000 bytes and an SDP offer can be longer, so each message is
  zlib-compressed and base64-encoded, then cut into chunks of at most :data:`PG_CHUNK_CHARS` characters,
  all sent in **one transaction** (delivered together, in order, or not at all) and reassembled by message
  id on the listening side. Nothing is stored: no table, no second engine.
- :class:`RedisBroker`: Redis pub/sub on one channel (no size limit to work around).

Every process listens on the single channel and hands each message to its local subscribers of that room
(others are dropped): no per-room LISTEN/SUBSCRIBE churn, and signaling traffic is tiny (a few kB per
call set-up). Messages are best effort, like any pub/sub: one sent while a listener is reconnecting is
lost, and the browser recovers by renegotiating (docs/video.md).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
import zlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.engine import make_url

from careweave.settings import Settings

log = structlog.get_logger("careweave.visits.signaling")

Message = dict[str, Any]

CHANNEL = "careweave_visits"
MAX_MESSAGE_BYTES = 64_000  # one JSON message (an SDP is ~3-10 kB, an ICE candidate ~200 bytes)
QUEUE_LIMIT = 500  # messages waiting for one subscriber before it is cut off as too slow
PG_CHUNK_CHARS = 7_000  # + a ~120-byte envelope: well under PostgreSQL's 8000-byte NOTIFY payload limit
PARTIAL_TTL_S = 30.0  # an incomplete chunked message is dropped after this
RECONNECT_MAX_S = 10.0


class SignalingError(Exception):
    """A message that cannot be carried (too large, not a JSON object)."""


class SubscriberTooSlow(Exception):
    """The subscriber did not read its messages; it must reconnect."""


@dataclass(eq=False)
class Subscription:
    room: str
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False

    async def get(self) -> Message:
        if self.overflowed and self.queue.empty():
            raise SubscriberTooSlow(self.room)
        message = await self.queue.get()
        return message

    def offer(self, message: Message) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True


def encode(message: Message) -> str:
    if not isinstance(message, dict):
        raise SignalingError("a signaling message is a JSON object")
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if len(data.encode()) > MAX_MESSAGE_BYTES:
        raise SignalingError(f"a signaling message is limited to {MAX_MESSAGE_BYTES} bytes")
    return data


class Broker(ABC):
    """Fan-out to this process's subscribers; subclasses carry messages between processes."""

    name = "broker"

    def __init__(self) -> None:
        self._rooms: dict[str, set[Subscription]] = {}
        self._started = False
        self._start_lock: asyncio.Lock | None = None

    async def start(self) -> None:
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self._start()
                self._started = True

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self._close()

    @contextlib.asynccontextmanager
    async def subscribe(self, room: str) -> AsyncIterator[Subscription]:
        await self.start()
        sub = Subscription(room)
        self._rooms.setdefault(room, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._rooms.get(room)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._rooms[room]

    async def publish(self, room: str, message: Message) -> None:
        data = encode(message)
        await self.start()
        await self._send(room, data)

    def local_subscribers(self, room: str) -> int:
        return len(self._rooms.get(room, ()))

    def _deliver(self, room: str, data: str) -> None:
        subs = self._rooms.get(room)
        if not subs:
            return
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("signaling.bad_message", broker=self.name)
            return
        for sub in list(subs):
            sub.offer(message)

    async def _start(self) -> None:  # noqa: B027 - optional hook
        pass

    async def _close(self) -> None:  # noqa: B027 - optional hook
        pass

    @abstractmethod
    async def _send(self, room: str, data: str) -> None: ...


class InProcessBroker(Broker):
    """One process only (SQLite deployments, tests)."""

    name = "in-process"

    async def _send(self, room: str, data: str) -> None:
        self._deliver(room, data)


# ------------------------------------------------------------------ PostgreSQL LISTEN/NOTIFY


def pg_chunks(room: str, data: str, *, chunk_chars: int = PG_CHUNK_CHARS) -> list[str]:
    """NOTIFY payloads for one message: compressed, base64, cut into pieces with an envelope."""
    packed = base64.b64encode(zlib.compress(data.encode(), 6)).decode("ascii")
    parts = [packed[i : i + chunk_chars] for i in range(0, len(packed), chunk_chars)] or [""]
    mid = uuid.uuid4().hex
    return [
        json.dumps({"r": room, "m": mid, "i": i, "n": len(parts), "z": part}, separators=(",", ":"))
        for i, part in enumerate(parts)
    ]


class Reassembler:
    """Puts chunked NOTIFY payloads back together; drops pieces of messages that never complete."""

    def __init__(self, ttl_s: float = PARTIAL_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._partial: dict[str, tuple[float, str, int, dict[int, str]]] = {}

    def feed(self, payload: str) -> tuple[str, str] | None:
        """One payload in; ``(room, message JSON)`` when a message is complete."""
        try:
            env = json.loads(payload)
            room, mid, i, n, part = str(env["r"]), str(env["m"]), int(env["i"]), int(env["n"]), str(env["z"])
        except (ValueError, KeyError, TypeError):
            log.warning("signaling.bad_payload")
            return None
        if not 0 <= i < n <= 1_000:
            return None
        now = time.monotonic()
        self._sweep(now)
        if n == 1:
            return room, self._unpack(part)
        _started, _room, _n, parts = self._partial.setdefault(mid, (now, room, n, {}))
        parts[i] = part
        if len(parts) < n:
            return None
        del self._partial[mid]
        return room, self._unpack("".join(parts[k] for k in range(n)))

    def _sweep(self, now: float) -> None:
        stale = [mid for mid, (started, *_rest) in self._partial.items() if now - started > self.ttl_s]
        for mid in stale:
            del self._partial[mid]

    @staticmethod
    def _unpack(packed: str) -> str:
        return zlib.decompress(base64.b64decode(packed)).decode()

    def __len__(self) -> int:
        return len(self._partial)


def pg_conninfo(database_url: str) -> str:
    """A libpq URI from the SQLAlchemy URL (``postgresql+psycopg://`` → ``postgresql://``)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PostgresNotifyBroker(Broker):
    """LISTEN on one connection, NOTIFY (all chunks of a message in one transaction) on another."""

    name = "postgresql"

    def __init__(self, conninfo: str, *, health_check_s: float = 15.0) -> None:
        super().__init__()
        self.conninfo = conninfo
        self.health_check_s = health_check_s
        self._reader: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._send_conn: Any = None
        self._send_lock = asyncio.Lock()
        self._reassembler = Reassembler()

    async def _start(self) -> None:
        self._listening = asyncio.Event()
        self._reader = asyncio.create_task(self._listen_forever(), name="careweave-visits-listen")
        # Wait for the first LISTEN, so a message published right after subscribe() is not missed.
        await asyncio.wait_for(self._listening.wait(), timeout=15)

    async def _close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._send_conn is not None:
            with contextlib.suppress(Exception):
                await self._send_conn.close()
            self._send_conn = None

    async def _listen_forever(self) -> None:
        import psycopg

        delay = 0.2
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    delay = 0.2
                    while True:
                        async for notify in conn.notifies(timeout=self.health_check_s):
                            done = self._reassembler.feed(notify.payload)
                            if done is not None:
                                self._deliver(*done)
                        await conn.execute("SELECT 1")  # a dead connection raises here
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("signaling.listen_failed", error_type=type(exc).__name__, retry_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _send(self, room: str, data: str) -> None:
        import psycopg

        payloads = pg_chunks(room, data)
        async with self._send_lock:
            for attempt in (1, 2):
                try:
                    if self._send_conn is None or self._send_conn.closed:
                        self._send_conn = await psycopg.AsyncConnection.connect(self.conninfo)
                    async with self._send_conn.transaction():
                        for payload in payloads:
                            await self._send_conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                    return
                except psycopg.OperationalError:
                    if self._send_conn is not None:
                        with contextlib.suppress(Exception):
                            await self._send_conn.close()
                    self._send_conn = None
                    if attempt == 2:
                        raise


# ------------------------------------------------------------------ Redis pub/sub


class RedisBroker(Broker):
    """Redis pub/sub on one channel; the envelope names the room."""

    name = "redis"
    redis_channel = "careweave:visits"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._client: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def _start(self) -> None:
        import redis.asyncio as redis

        self._client = redis.from_url(self.url, decode_responses=True)
        self._listening = asyncio.Event()
        self._reader = asyncio.create_task(self._listen_forever(), name="careweave-visits-redis")
        await asyncio.wait_for(self._listening.wait(), timeout=15)

    async def _close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None

    async def _listen_forever(self) -> None:
        delay = 0.2
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.redis_channel)
                self._listening.set()
                delay = 0.2
                while True:
                    item = await pubsub.get_message(timeout=15.0)
                    if item is None or item.get("type") != "message":
                        continue
                    try:
                        env = json.loads(item["data"])
                        room, data = str(env["r"]), str(env["d"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("signaling.bad_payload", broker=self.name)
                        continue
                    self._deliver(room, data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("signaling.listen_failed", error_type=type(exc).__name__, retry_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _send(self, room: str, data: str) -> None:
        envelope = json.dumps({"r": room, "d": data}, separators=(",", ":"))
        await self._client.publish(self.redis_channel, envelope)


# ------------------------------------------------------------------ choosing one


def make_broker(settings: Settings) -> Broker:
    """``signaling_broker``: ``auto`` (PostgreSQL NOTIFY on PostgreSQL, in-process on SQLite),
    ``postgresql``, ``memory``, or a ``redis://`` / ``rediss://`` / ``unix://`` URL."""
    choice = settings.signaling_broker.strip()
    backend = make_url(settings.database_url).get_backend_name()
    if choice.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(choice)
    if choice in ("auto", ""):
        return (
            PostgresNotifyBroker(pg_conninfo(settings.database_url))
            if backend == "postgresql"
            else InProcessBroker()
        )
    if choice == "postgresql":
        if backend != "postgresql":
            raise ValueError("CAREWEAVE_SIGNALING_BROKER=postgresql needs a PostgreSQL database")
        return PostgresNotifyBroker(pg_conninfo(settings.database_url))
    if choice == "memory":
        return InProcessBroker()
    raise ValueError("CAREWEAVE_SIGNALING_BROKER must be auto, postgresql, memory or a redis:// URL")
