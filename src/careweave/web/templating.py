"""Jinja2 environment for the pages (autoescaped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from careweave.core.actor import Role
from careweave.web.security import csrf_token

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC_DIR = Path(__file__).parent / "static"

NAV: dict[str, list[tuple[str, str]]] = {
    Role.PATIENT: [
        ("/patient", "My care"),
        ("/care-pathway", "My recommendation"),
        ("/appointments", "My visits"),
        ("/my/plan", "My plan"),
        ("/messages", "Messages"),
        ("/sharing", "Sharing"),
        ("/patient/profile", "My details"),
        ("/patient/access-log", "Who viewed my record"),
        ("/checkins", "Check-ins"),
    ],
    Role.THERAPIST: [
        ("/clinician", "My patients"),
        ("/registry", "Registry"),
        ("/messages", "Messages"),
        ("/referrals", "Referrals"),
        ("/appointments", "Visits"),
        ("/schedule/availability", "My hours"),
        ("/safety", "Safety queue"),
        ("/provider/profile", "My profile"),
    ],
    Role.PSYCHIATRIST: [
        ("/clinician", "My patients"),
        ("/registry", "Registry"),
        ("/messages", "Messages"),
        ("/referrals", "Referrals"),
        ("/appointments", "Visits"),
        ("/schedule/availability", "My hours"),
        ("/safety", "Safety queue"),
        ("/provider/profile", "My profile"),
    ],
    Role.CARE_MANAGER: [
        ("/clinician", "Caseload"),
        ("/registry", "Registry"),
        ("/billing/cocm", "CoCM minutes"),
        ("/outcomes/report", "Outcomes"),
        ("/messages", "Messages"),
        ("/referrals", "Referrals"),
        ("/appointments", "Visits"),
        ("/safety", "Safety queue"),
        ("/provider/profile", "My profile"),
    ],
    Role.ADMIN: [
        ("/admin", "Users"),
        ("/admin/directory", "Directory"),
        ("/admin/break-glass", "Emergency accesses"),
        ("/appointments", "Visits"),
        ("/admin/on-call", "On-call roster"),
        ("/billing/cocm", "CoCM billing"),
        ("/outcomes/report", "Outcomes"),
        ("/admin/api-clients", "API clients"),
        ("/admin/audit", "Audit log"),
    ],
}


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    state = request.app.state
    user = getattr(request.state, "user", None)
    ctx: dict[str, Any] = {
        "user": user,
        "nav": NAV.get(user.role, []) if user is not None else [],
        "csrf_token": csrf_token(request, state.settings) if hasattr(state, "settings") else "",
        "path": request.url.path,
    }
    ctx.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)
