"""The patient's portal for sharing: their care team, who can see what (and why), consent directives to
grant, change and revoke, and requests from clinicians to answer."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from careweave.careteam import service as careteam
from careweave.consent import rules
from careweave.consent import service as consent
from careweave.core.actor import Role
from careweave.core.errors import InvalidInput
from careweave.deps import ClockDep, DbSession
from careweave.identity import service as identity
from careweave.web.auth import PostedForm, WebUser, check_csrf, require_role
from careweave.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
PATIENT = require_role(Role.PATIENT)


def _page(
    request: Request,
    session: DbSession,
    clock: ClockDep,
    web_user: WebUser,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    pid = web_user.actor.patient_id
    assert pid is not None
    team = careteam.team(session, web_user.actor, pid, clock=clock)
    directives = consent.directives(session, web_user.actor, pid, clock=clock)
    names = {
        uid: pair[0]
        for uid, pair in identity.user_names(
            session,
            {d.grantee_user_id for d in directives if d.grantee_user_id} | {t.member.user_id for t in team},
        ).items()
    }
    requests = consent.pending_requests(session, web_user.actor, pid)
    names |= {
        uid: pair[0] for uid, pair in identity.user_names(session, {r.for_user_id for r in requests}).items()
    }
    return render(
        request,
        "sharing/portal.html",
        {
            "team": [t for t in team if t.current],
            "rows": consent.who_can_see(session, web_user.actor, pid, clock=clock),
            "categories": rules.CATEGORIES,
            "shareable": rules.SHAREABLE,
            "labels": rules.LABELS,
            "directives": directives,
            "names": names,
            "requests": requests,
            "error": error,
            "today": clock.now().date().isoformat(),
        },
        status_code=status_code,
    )


@router.get("/sharing")
def sharing(request: Request, session: DbSession, clock: ClockDep, web_user: WebUser = PATIENT) -> Response:
    return _page(request, session, clock, web_user)


@router.post("/sharing/grant")
def grant(
    request: Request, session: DbSession, clock: ClockDep, form: PostedForm, web_user: WebUser = PATIENT
) -> Response:
    who = str(form.get("grantee") or "")
    expires_raw = str(form.get("expires") or "")
    try:
        expires = date.fromisoformat(expires_raw) if expires_raw else None
        grantee = None if who in ("", "care_team") else uuid.UUID(who)
    except ValueError:
        return _page(request, session, clock, web_user, error="Choose who and a valid date.", status_code=422)
    try:
        consent.grant(
            session,
            web_user.actor,
            web_user.actor.patient_id,  # type: ignore[arg-type]
            consent.GrantIn(
                grantee, grantee is None, tuple(str(c) for c in form.getlist("categories")), expires
            ),
            clock=clock,
        )
    except InvalidInput as exc:
        session.rollback()
        return _page(
            request,
            session,
            clock,
            web_user,
            error="; ".join(f.message for f in exc.fields) or exc.message,
            status_code=422,
        )
    return RedirectResponse("/sharing?saved=1", status_code=303)


@router.post("/sharing/{directive_id}/revoke")
def revoke(
    directive_id: uuid.UUID, session: DbSession, clock: ClockDep, web_user: WebUser = PATIENT
) -> Response:
    consent.revoke(session, web_user.actor, directive_id, clock=clock)
    return RedirectResponse("/sharing?revoked=1", status_code=303)


@router.post("/sharing/requests/{request_id}")
def answer(
    request_id: uuid.UUID,
    session: DbSession,
    clock: ClockDep,
    decision: Annotated[str, Form(pattern="^(accept|decline)$")],
    web_user: WebUser = PATIENT,
) -> Response:
    consent.answer_request(session, web_user.actor, request_id, accept=decision == "accept", clock=clock)
    return RedirectResponse("/sharing", status_code=303)
