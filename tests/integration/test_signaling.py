"""Signaling brokers: a message published in one "process" (its own broker and connections) reaches the
subscribers of that room in another, and no one else. In-process, PostgreSQL LISTEN/NOTIFY (including a
message over NOTIFY's 8000-byte payload limit) and Redis pub/sub (skipped when Redis is not reachable)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from careweave.settings import Settings
from careweave.visits.signaling import (
    Broker,
    InProcessBroker,
    PostgresNotifyBroker,
    RedisBroker,
    SignalingError,
    make_broker,
    pg_conninfo,
)
from tests import pg

REDIS_URL = os.environ.get("CAREWEAVE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _run(coro):  # type: ignore[no-untyped-def]
    """asyncio.run in a thread of its own: in a full run, the browser tests' sync Playwright keeps an event loop
    running in the main thread, where asyncio.run refuses to start another."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=0.5):
            return True
    except OSError:
        return False


def big_sdp() -> str:
    """An SDP-like text that stays over 8000 bytes even compressed (random candidates/fingerprints)."""
    lines = [
        f"a=candidate:{secrets.token_hex(40)} 1 udp 2122260223 10.0.0.{i} 5{i:04d} typ host"
        for i in range(200)
    ]
    return "v=0\r\n" + "\r\n".join(lines)


async def _get(sub, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(sub.get(), timeout)


async def _exchange(make_a: Callable[[], Broker], make_b: Callable[[], Broker]) -> None:
    """Two brokers stand for two app processes; each has a participant in room r1, and b also in r2."""
    a, b = make_a(), make_b()
    try:
        async with a.subscribe("r1") as sub_a, b.subscribe("r1") as sub_b, b.subscribe("r2") as other_room:
            await a.publish("r1", {"type": "hello", "cid": "A"})
            assert await _get(sub_b) == {"type": "hello", "cid": "A"}
            assert await _get(sub_a) == {
                "type": "hello",
                "cid": "A",
            }  # senders see their own (ignored by cid)
            sdp = big_sdp()
            assert len(sdp) > 8000
            await b.publish(
                "r1", {"type": "signal", "cid": "B", "data": {"description": {"type": "offer", "sdp": sdp}}}
            )
            got = await _get(sub_a)
            assert got["data"]["description"]["sdp"] == sdp
            assert (await _get(sub_b))["cid"] == "B"
            for n in range(20):  # order is kept
                await a.publish("r1", {"type": "signal", "n": n})
            assert [(await _get(sub_b))["n"] for _ in range(20)] == list(range(20))
            assert other_room.queue.empty()
    finally:
        await a.close()
        await b.close()


def test_in_process_broker_relays_within_one_process() -> None:
    async def main() -> None:
        broker = InProcessBroker()
        await _exchange(lambda: broker, lambda: broker)

    _run(main())


def test_a_message_must_be_a_small_json_object() -> None:
    async def main() -> None:
        broker = InProcessBroker()
        with pytest.raises(SignalingError):
            await broker.publish("r", {"type": "signal", "blob": "x" * 70_000})
        with pytest.raises(SignalingError):
            await broker.publish("r", ["not", "an", "object"])  # type: ignore[arg-type]
        async with broker.subscribe("r"):
            assert broker.local_subscribers("r") == 1
        assert broker.local_subscribers("r") == 0

    _run(main())


def test_a_subscriber_that_does_not_read_is_cut_off() -> None:
    from careweave.visits.signaling import QUEUE_LIMIT, SubscriberTooSlow

    async def main() -> None:
        broker = InProcessBroker()
        async with broker.subscribe("r") as sub:
            for n in range(QUEUE_LIMIT + 1):
                await broker.publish("r", {"n": n})
            for _ in range(QUEUE_LIMIT):
                await sub.get()
            with pytest.raises(SubscriberTooSlow):
                await sub.get()

    _run(main())


@pytest.fixture(scope="module")
def pg_conninfo_url() -> str:
    url = pg.admin_url()
    if not _reachable(url.replace("postgresql+psycopg", "postgresql")):
        pytest.skip("PostgreSQL is not reachable")
    return pg_conninfo(url)


def test_postgres_notify_relays_between_processes(pg_conninfo_url: str) -> None:
    _run(
        _exchange(
            lambda: PostgresNotifyBroker(pg_conninfo_url), lambda: PostgresNotifyBroker(pg_conninfo_url)
        )
    )


def test_postgres_listener_reconnects_after_its_connection_is_killed(pg_conninfo_url: str) -> None:
    import psycopg

    async def main() -> None:
        a = PostgresNotifyBroker(pg_conninfo_url, health_check_s=0.2)
        b = PostgresNotifyBroker(pg_conninfo_url)
        try:
            async with a.subscribe("r") as sub:
                async with await psycopg.AsyncConnection.connect(pg_conninfo_url, autocommit=True) as admin:
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query = 'LISTEN careweave_visits' AND pid <> pg_backend_pid()"
                    )
                for _ in range(100):  # published until the new listener hears one (NOTIFY is best effort)
                    await b.publish("r", {"type": "ping"})
                    try:
                        assert await asyncio.wait_for(sub.get(), 0.2) == {"type": "ping"}
                        return
                    except TimeoutError:
                        continue
                pytest.fail("the listener did not come back")
        finally:
            await a.close()
            await b.close()

    _run(main())


def test_redis_relays_between_processes() -> None:
    if not _reachable(REDIS_URL):
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    _run(_exchange(lambda: RedisBroker(REDIS_URL), lambda: RedisBroker(REDIS_URL)))


def test_the_broker_follows_the_setting() -> None:
    def broker(url: str, choice: str) -> Broker:
        return make_broker(Settings(env="test", database_url=url, signaling_broker=choice))

    pg_url = "postgresql+psycopg://u:p@db.example:5432/cw?sslmode=require"
    assert isinstance(broker("sqlite:///x.db", "auto"), InProcessBroker)
    auto_pg = broker(pg_url, "auto")
    assert isinstance(auto_pg, PostgresNotifyBroker)
    assert auto_pg.conninfo == "postgresql://u:p@db.example:5432/cw?sslmode=require"
    assert isinstance(broker("sqlite:///x.db", "redis://cache:6379/2"), RedisBroker)
    assert isinstance(broker(pg_url, "memory"), InProcessBroker)
    with pytest.raises(ValueError, match="needs a PostgreSQL database"):
        broker("sqlite:///x.db", "postgresql")
    with pytest.raises(ValueError, match="SIGNALING_BROKER"):
        broker("sqlite:///x.db", "kafka")
