"""The visit room's front door: the page ``GET /visits/{appointment_id}`` (waiting room for the patient,
the clinician's view with who is waiting and an Admit button) and the WebSocket
``/visits/{appointment_id}/ws`` that carries admission, presence and WebRTC signaling."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket
from starlette.responses import Response

from careweave.deps import ClockDep, DbSession, SettingsDep
from careweave.visits import ice, live
from careweave.visits import service as visits
from careweave.visits.signaling import make_broker
from careweave.web.auth import HOME, CurrentUser, check_csrf
from careweave.web.templating import render


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Check the signaling setting at start-up; close the broker's connections at shutdown."""
    app.state.visit_broker = make_broker(app.state.settings)  # connects on first use
    try:
        yield
    finally:
        await app.state.visit_broker.close()


router = APIRouter(include_in_schema=False, lifespan=lifespan)
pages = APIRouter(dependencies=[Depends(check_csrf)])


def _local(at: datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
    except (ValueError, KeyError):
        tz = ZoneInfo("UTC")
    local = at.astimezone(tz)
    return f"{local:%A %d %B %Y}, {local:%I:%M %p}".replace(" 0", " ") + f" {local.tzname()}"


@pages.get("/visits/{appointment_id}")
def visit_room(
    request: Request,
    appointment_id: uuid.UUID,
    session: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    web_user: CurrentUser,
) -> Response:
    room = visits.view_room(session, web_user.actor, appointment_id, settings=settings, clock=clock)
    ctx: dict[str, Any] = {
        "room": room,
        "when": {
            "start": _local(room.start_at, room.timezone),
            "end": _local(room.end_at, room.timezone),
            "opens": _local(room.opens_at, room.timezone),
            "closes": _local(room.closes_at, room.timezone),
        },
        "phase_message": visits.PHASE_MESSAGES.get(room.phase),
        "opens_minutes": settings.visit_room_opens_minutes,
        "other_name": room.clinician_name if room.side == "patient" else room.patient_name,
        "ice_servers": json.dumps(
            ice.ice_servers(
                settings.ice_servers,
                turn_urls=settings.turn_urls,
                turn_secret=settings.turn_secret.get_secret_value(),
                user_id=web_user.user.id,
                expires_at=room.closes_at,
            )
        ),
        "home": HOME[web_user.role],
    }
    return render(request, "visits/room.html", ctx)


@router.websocket("/visits/{appointment_id}/ws")
async def visit_socket(websocket: WebSocket, appointment_id: uuid.UUID) -> None:
    await live.serve(websocket, appointment_id)


router.include_router(pages)
