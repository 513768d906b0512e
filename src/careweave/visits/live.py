"""One WebSocket connection to a visit room: who it is, and the relay between the browser and the room.

The handshake must come from a Careweave page (Origin) and carry a signed-in web session (the
``cw_session`` cookie, two-step verification passed); the visit must be the user's own (404 rules of
``visits.service``). Refused handshakes are closed before they are accepted (the browser sees a failed
connection, nothing more).

Messages (JSON objects with a ``type``), browser → server:
``admit`` (clinician), ``join`` (the admitted patient enters the call), ``signal`` (``data``: an SDP
``description``, an ICE ``candidate``, or ``restart`` — a call that did not connect starts over with new peer
connections on both sides — and the ``epoch`` of the peer connection it belongs to; only while in the call),
``leave``, ``end`` (clinician: ends the visit for everyone and marks it completed), ``ping``.

Server → browser: ``welcome`` (``cid``, ``side``, ``state``: waiting | in_call), ``peer`` (the other
side's ``cid`` and ``state``: waiting | in_call | left), ``admitted`` (to the patient), ``joined``,
``signal`` (``from``, ``data``), ``error``, ``closed`` / ``replaced`` (then the socket closes), ``pong``.
``closed`` also comes when the clinician ended the visit (``code`` ``visit.ended``), and when the visit was
cancelled, completed, marked a no-show or moved out of the room's hours meanwhile (``visit.room_not_open``): at
once when the change came through the app (visits.rooms sends the room ``changed`` after the commit), else at the
next check, every SESSION_CHECK_S.

Between processes every message goes through the room's broker (``visits.signaling``) with the
sender's ``cid`` and ``side``. The server never relays a signal to or from a patient who has not been
admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketState

from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import DomainError
from careweave.db.uow import unit_of_work
from careweave.identity import service as identity
from careweave.settings import Settings
from careweave.visits import service
from careweave.visits.signaling import (
    MAX_MESSAGE_BYTES,
    Broker,
    SignalingError,
    SubscriberTooSlow,
    make_broker,
)
from careweave.web.security import SESSION_COOKIE

log = structlog.get_logger("careweave.visits")

WATCH_INTERVAL_S = 15.0
SESSION_CHECK_S = 60.0
RATE_WINDOW_S = 10.0
RATE_MAX_MESSAGES = 400  # ICE candidates come in bursts of a few dozen; this is far above a real call
SIGNAL_KINDS = frozenset({"description", "candidate", "restart"})  # a signal carries exactly one
MAX_EPOCH = 1_000_000  # which of a call's peer connections a signal belongs to (visit.js counts restarts)

CLOSE_CODES = {
    "left": 1000,
    "too_large": 1009,
    "too_fast": 1008,
    "too_slow": 1013,
    "replaced": 4001,
    "signed_out": 4401,
    "closed": 4409,
}


def origin_allowed(origin: str | None, host: str | None, base_url: str) -> bool:
    """The handshake comes from our own pages: Origin is the configured base URL's, or the Host asked for.

    Browsers always send Origin on a WebSocket handshake; a page on another site cannot forge it, which is
    what stops cross-site WebSocket hijacking with the (SameSite=Lax) session cookie."""
    if not origin:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    netloc = parts.netloc.lower()
    base = urlsplit(base_url)
    if parts.scheme == base.scheme and netloc == base.netloc.lower():
        return True
    return host is not None and netloc == host.lower()


def get_broker(state: Any) -> Broker:
    broker: Broker | None = getattr(state, "visit_broker", None)
    if broker is None:
        broker = make_broker(state.settings)
        state.visit_broker = broker
    return broker


def _authenticate(
    factory: sessionmaker[Session], raw: str, *, settings: Settings, clock: Clock, ip: str | None, rid: str
) -> Actor | None:
    with unit_of_work(factory) as session:
        resolved = identity.resolve_web_session(session, raw, settings=settings, clock=clock)
        if resolved is None or not resolved.fully_authenticated:
            return None
        user = resolved.user
        if identity.mfa_required_for(user, settings) and not user.mfa_enabled:
            return None
        return identity.actor_for(session, user, ip=ip, request_id=rid)


def _check_access(
    factory: sessionmaker[Session],
    actor: Actor,
    appointment_id: uuid.UUID,
    *,
    settings: Settings,
    clock: Clock,
) -> bool:
    try:
        with unit_of_work(factory) as session:
            service.check_access(session, actor, appointment_id, settings=settings, clock=clock)
    except DomainError:
        return False
    return True


async def serve(websocket: WebSocket, appointment_id: uuid.UUID) -> None:
    """The WebSocket ``/visits/{appointment_id}/ws``."""
    state = websocket.app.state
    settings: Settings = state.settings
    clock: Clock = state.clock
    factory: sessionmaker[Session] = state.sessionmaker
    headers = websocket.headers
    if not origin_allowed(headers.get("origin"), headers.get("host"), settings.base_url):
        log.info("visit.ws_refused", reason="origin")
        await websocket.close(code=1008)
        return
    raw = websocket.cookies.get(SESSION_COOKIE)
    cid = uuid.uuid4().hex
    ip = websocket.client.host if websocket.client else None
    actor = (
        await run_in_threadpool(_authenticate, factory, raw, settings=settings, clock=clock, ip=ip, rid=cid)
        if raw
        else None
    )
    if actor is None:
        log.info("visit.ws_refused", reason="not_signed_in")
        await websocket.close(code=1008)
        return
    allowed = await run_in_threadpool(
        _check_access, factory, actor, appointment_id, settings=settings, clock=clock
    )
    if not allowed:
        log.info("visit.ws_refused", reason="not_found")
        await websocket.close(code=1008)
        return
    await websocket.accept()
    connection = Connection(
        websocket,
        appointment_id=appointment_id,
        actor=actor,
        cid=cid,
        raw_session=raw or "",
        broker=get_broker(state),
        factory=factory,
        settings=settings,
        clock=clock,
    )
    await connection.run()


class Connection:
    """One participant's socket: relays between the browser and the room's broker."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        appointment_id: uuid.UUID,
        actor: Actor,
        cid: str,
        raw_session: str,
        broker: Broker,
        factory: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.ws = websocket
        self.appointment_id = appointment_id
        self.room_key = str(appointment_id)
        self.actor = actor
        self.cid = cid
        self.raw_session = raw_session
        self.broker = broker
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self.side: service.Side = "patient"
        self.state = "waiting"
        self.replaced = False
        self.ended = False  # the clinician ended the visit: both sides' leaving is recorded already
        self.arrived = False
        self.closes_at = clock.now()
        self._sent_times: list[float] = []
        self._send_lock = asyncio.Lock()

    # ---------------------------------------------------------------- plumbing

    async def _db(self, use_case: Callable[..., service.Room]) -> service.Room:
        def work() -> service.Room:
            with unit_of_work(self.factory) as session:
                return use_case(
                    session, self.actor, self.appointment_id, settings=self.settings, clock=self.clock
                )

        return await run_in_threadpool(work)

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:  # two tasks write to the socket: the browser's replies and the room's
            if self.ws.application_state == WebSocketState.CONNECTED:
                await self.ws.send_text(json.dumps(message, separators=(",", ":")))

    async def _publish(self, message: dict[str, Any]) -> None:
        await self.broker.publish(self.room_key, message | {"cid": self.cid, "side": self.side})

    async def _error(self, exc: DomainError) -> None:
        await self._send({"type": "error", "code": exc.code, "message": exc.message})

    # ---------------------------------------------------------------- the connection's life

    async def run(self) -> None:
        reason = "disconnected"
        async with self.broker.subscribe(self.room_key) as sub:
            try:
                room = await self._db(service.arrive)
            except DomainError as exc:
                await self._send({"type": "closed", "code": exc.code, "message": exc.message})
                await self._close(CLOSE_CODES["closed"])
                return
            self.arrived = True
            self.side = room.side
            self.state = "in_call" if room.in_call else "waiting"
            self.closes_at = room.closes_at
            try:
                await self._send(
                    {
                        "type": "welcome",
                        "cid": self.cid,
                        "side": self.side,
                        "state": self.state,
                        "admitted": room.encounter.admitted,
                    }
                )
                await self._publish({"type": "hello", "state": self.state})
                reason = await _first(self._from_client(), self._from_room(sub), self._watch())
            except (SignalingError, SubscriberTooSlow):
                reason = "too_slow"
            except Exception as exc:
                log.warning("visit.ws_failed", error_type=type(exc).__name__)
                reason = "disconnected"
            finally:
                if not self.replaced and not self.ended:
                    await asyncio.shield(self._leave())
        if reason in CLOSE_CODES:
            await self._close(CLOSE_CODES[reason])

    async def _leave(self) -> None:
        try:
            await self._db(service.leave)
        except Exception as exc:
            log.warning("visit.leave_not_recorded", error_type=type(exc).__name__)
        with contextlib.suppress(Exception):
            await self._publish({"type": "left"})

    async def _close(self, code: int) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=code)

    # ---------------------------------------------------------------- browser → room

    def _too_fast(self) -> bool:
        now = time.monotonic()
        self._sent_times = [t for t in self._sent_times if now - t < RATE_WINDOW_S]
        self._sent_times.append(now)
        return len(self._sent_times) > RATE_MAX_MESSAGES

    async def _from_client(self) -> str:
        while True:
            event = await self.ws.receive()
            if event["type"] == "websocket.disconnect":
                return "disconnected"
            text = event.get("text")
            if text is None:
                await self._send({"type": "error", "code": "bad_message", "message": "Send JSON text."})
                continue
            if len(text.encode()) > MAX_MESSAGE_BYTES:
                return "too_large"
            if self._too_fast():
                return "too_fast"
            try:
                message = json.loads(text)
            except ValueError:
                message = None
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                await self._send(
                    {"type": "error", "code": "bad_message", "message": "Not a signaling message."}
                )
                continue
            kind = message["type"]
            if kind == "leave":
                return "left"
            if kind == "end":
                if await self._end():
                    return "closed"
                continue
            if kind == "ping":
                await self._send({"type": "pong"})
            elif kind == "admit":
                await self._admit()
            elif kind == "join":
                await self._join()
            elif kind == "signal":
                await self._signal(message.get("data"))
            else:
                await self._send({"type": "error", "code": "bad_message", "message": "Unknown message type."})

    async def _admit(self) -> None:
        try:
            await self._db(service.admit)
        except DomainError as exc:
            await self._error(exc)
            return
        await self._publish({"type": "admitted"})

    async def _end(self) -> bool:
        try:
            await self._db(service.end)
        except DomainError as exc:
            await self._error(exc)
            return False
        self.ended = True
        await self._publish({"type": "ended"})
        await self._send({"type": "closed", "code": "visit.ended", "message": "You ended the visit."})
        return True

    async def _join(self) -> None:
        try:
            room = await self._db(service.join)
        except DomainError as exc:
            await self._error(exc)
            return
        if room.in_call and self.state != "in_call":
            self.state = "in_call"
            await self._send({"type": "joined"})
            await self._publish({"type": "presence", "state": self.state})

    async def _signal(self, data: object) -> None:
        if self.state != "in_call":
            await self._send(
                {"type": "error", "code": "visit.not_admitted", "message": "You are not in the call yet."}
            )
            return
        if not _valid_signal(data):
            await self._send(
                {
                    "type": "error",
                    "code": "bad_message",
                    "message": "A signal carries a description, a candidate or a restart (and an epoch).",
                }
            )
            return
        await self._publish({"type": "signal", "data": data})

    # ---------------------------------------------------------------- room → browser

    async def _from_room(self, sub: Any) -> str:
        while True:
            try:
                message = await sub.get()
            except SubscriberTooSlow:
                return "too_slow"
            sender, kind, side = message.get("cid"), message.get("type"), message.get("side")
            if sender == self.cid or not isinstance(sender, str):
                continue
            if side == self.side:
                if kind == "hello":  # the same person opened the visit again elsewhere: the newest wins
                    self.replaced = True
                    await self._send(
                        {"type": "replaced", "message": "You opened this visit in another window or device."}
                    )
                    return "replaced"
                continue
            if kind == "hello":
                await self._send({"type": "peer", "side": side, "cid": sender, "state": message.get("state")})
                await self._publish({"type": "presence", "state": self.state})
            elif kind == "presence":
                await self._send({"type": "peer", "side": side, "cid": sender, "state": message.get("state")})
            elif kind == "left":
                await self._send({"type": "peer", "side": side, "cid": sender, "state": "left"})
            elif (
                kind == "changed" and side == "server"
            ):  # cancelled, moved, completed elsewhere (visits.rooms)
                why = await run_in_threadpool(self._why_closed)
                if why is not None:
                    await self._send({"type": "closed", "code": "visit.room_not_open", "message": why})
                    return "closed"
            elif kind == "ended":
                self.ended = True
                await self._send(
                    {"type": "closed", "code": "visit.ended", "message": "Your clinician ended the visit."}
                )
                return "closed"
            elif kind == "admitted" and self.side == "patient":
                await self._send({"type": "admitted"})
            elif kind == "signal" and self.state == "in_call":
                await self._send({"type": "signal", "from": sender, "data": message.get("data")})

    # ---------------------------------------------------------------- the room's clock, the session

    async def _watch(self) -> str:
        last_check = time.monotonic()
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if self.clock.now() > self.closes_at:
                await self._send(
                    {"type": "closed", "code": "visit.room_not_open", "message": "The visit room has closed."}
                )
                return "closed"
            if time.monotonic() - last_check >= SESSION_CHECK_S:
                last_check = time.monotonic()
                if not await run_in_threadpool(self._still_signed_in):
                    await self._send(
                        {"type": "closed", "code": "not_authenticated", "message": "You were signed out."}
                    )
                    return "signed_out"
                # cancelled, completed or marked a no-show meanwhile (another page, another process), or an
                # ``ended`` message lost on the way (signaling is best effort): the room closes
                why = await run_in_threadpool(self._why_closed)
                if why is not None:
                    await self._send({"type": "closed", "code": "visit.room_not_open", "message": why})
                    return "closed"

    def _why_closed(self) -> str | None:
        with unit_of_work(self.factory) as session:
            return service.still_open(session, self.appointment_id, settings=self.settings, clock=self.clock)

    def _still_signed_in(self) -> bool:
        """The session is still valid (and kept alive while the call lasts: a visit is activity)."""
        actor = _authenticate(
            self.factory, self.raw_session, settings=self.settings, clock=self.clock, ip=None, rid=self.cid
        )
        return actor is not None and actor.user_id == self.actor.user_id


def _valid_signal(data: object) -> bool:
    """One of SIGNAL_KINDS, an object, and optionally ``epoch``: a whole number below MAX_EPOCH."""
    if not isinstance(data, dict):
        return False
    kinds = set(data) - {"epoch"}
    if len(kinds) != 1 or not kinds <= SIGNAL_KINDS or not isinstance(data[next(iter(kinds))], dict):
        return False
    epoch = data.get("epoch", 0)
    return isinstance(epoch, int) and not isinstance(epoch, bool) and 0 <= epoch < MAX_EPOCH


async def _first(*work: Coroutine[Any, Any, str]) -> str:
    """Run the coroutines until the first one returns; cancel the rest."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
