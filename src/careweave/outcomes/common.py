"""What the measurement-based care modules share: access with audit, text checks, scores from screening rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.identity.models import User
from careweave.outcomes import rules
from careweave.patients import service as patients
from careweave.patients.models import Patient
from careweave.screening.models import ScreeningResponse

MAX_TEXT = 2000


def patient_for(
    session: Session, actor: Actor, patient_id: uuid.UUID, action: policy.Action, *, clock: Clock, event: str
) -> tuple[Patient, policy.PatientRef]:
    patient, ref = patients.get_patient_ref(session, patient_id)
    audit.require(session, actor, action, ref, clock=clock, event=event)
    return patient, ref


def clean_text(value: str | None, field: str, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"{field} is required.", fields=[FieldError(field, "required")])
        return None
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"{field} is too long.", fields=[FieldError(field, f"at most {MAX_TEXT} characters")]
        )
    return text


def check_staff(
    session: Session, user_id: uuid.UUID | None, roles: set[Role], field: str, clinic_id: uuid.UUID
) -> None:
    if user_id is None:
        return
    user = session.get(User, user_id)
    if user is None or Role(user.role) not in roles or user.clinic_id != clinic_id or not user.is_active:
        wanted = " or ".join(sorted(r.label.lower() for r in roles))
        raise InvalidInput(
            f"{field} must be an active {wanted} of the clinic.", fields=[FieldError(field, "not allowed")]
        )


def responses_since(
    session: Session, patient_id: uuid.UUID, instruments: Sequence[str], since: date
) -> list[ScreeningResponse]:
    start = datetime.combine(since, datetime.min.time(), tzinfo=UTC)
    return list(
        session.scalars(
            select(ScreeningResponse)
            .where(
                ScreeningResponse.patient_id == patient_id,
                ScreeningResponse.instrument.in_(list(instruments)),
                ScreeningResponse.authored_at >= start,
                ScreeningResponse.total.is_not(None),
                ScreeningResponse.status == "completed",  # a corrected response is entered-in-error
            )
            .order_by(ScreeningResponse.authored_at)
        )
    )


def score_of(r: ScreeningResponse) -> rules.Score:
    return rules.Score(int(r.total or 0), r.authored_at, prorated=r.prorated, complete=r.complete)
