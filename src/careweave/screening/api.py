"""JSON API: instrument definitions, submitting screenings, history."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from careweave.deps import ClockDep, CurrentActor, DbSession, MailerDep, SettingsDep
from careweave.screening import service
from careweave.screening.instruments import Code, Instrument, all_instruments, get_instrument
from careweave.screening.schemas import (
    InstrumentRead,
    InstrumentSummary,
    ItemRead,
    ScreeningRead,
    ScreeningResult,
    ScreeningSubmit,
)

router = APIRouter(tags=["screening"])
NOT_FOUND = {404: {"description": "No such patient or instrument, or not visible to you"}}
EXTRA_INPUTS = {"audit-c": ["sex"], "c-ssrs-screener": ["behavior_within_3_months"]}


def _verified(code: Code | None) -> str | None:
    """Only codes the instrument data marks verified are published (spec §9 lists the doubtful ones)."""
    return code.code if code is not None and code.verified else None


def instrument_read(instrument: Instrument) -> InstrumentRead:
    return InstrumentRead(
        code=instrument.code,
        version=instrument.version,
        title=instrument.title,
        description=instrument.description,
        stem=instrument.stem,
        instructions=instrument.instructions,
        copyright=instrument.copyright,
        spec=instrument.spec,
        panel_loinc=_verified(instrument.panel),
        total_loinc=_verified(instrument.total.code if instrument.total else None),
        items=[
            ItemRead(
                link_id=item.link_id,
                number=item.number,
                text=item.text,
                paraphrased=item.paraphrased,
                scored=item.scored,
                required=item.required,
                loinc=_verified(item.code),
                options=[{"value": o.value, "label": o.label, "code": o.code} for o in item.answer_options],
                enable_when=(
                    {"question": item.enable_when.question, "answer": item.enable_when.answer}
                    if item.enable_when
                    else None
                ),
            )
            for item in instrument.scored_items
        ],
        extra_inputs=EXTRA_INPUTS.get(instrument.code, []),
    )


@router.get("/instruments", response_model=list[InstrumentSummary], summary="Screening instruments")
def list_instruments() -> list[InstrumentSummary]:
    return [
        InstrumentSummary(code=i.code, version=i.version, title=i.title, description=i.description)
        for i in all_instruments()
    ]


@router.get(
    "/instruments/{code}", response_model=InstrumentRead, responses=NOT_FOUND, summary="One instrument"
)
def read_instrument(code: str) -> InstrumentRead:
    return instrument_read(get_instrument(code))


@router.post(
    "/patients/{patient_id}/screenings",
    response_model=ScreeningResult,
    status_code=201,
    responses=NOT_FOUND,
    summary="Submit a completed instrument",
)
def submit(
    patient_id: uuid.UUID,
    body: ScreeningSubmit,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    mailer: MailerDep,
) -> ScreeningResult:
    outcome = service.submit_screening(
        session,
        actor,
        patient_id,
        instrument=body.instrument,
        answers=body.answers,
        sex=body.sex,
        behavior_within_3_months=body.behavior_within_3_months,
        clock=clock,
        settings=settings,
        mailer=mailer,
    )
    r = outcome.response
    return ScreeningResult(
        id=r.id,
        instrument=r.instrument,
        total=r.total,
        severity=r.severity,
        positive=r.positive,
        prorated=r.prorated,
        risk_level=r.risk_level,
        flags=r.flags,
        next_instruments=outcome.next_instruments,
        crisis=outcome.crisis,
        safety_alert_id=outcome.alert.id if outcome.alert else None,
    )


@router.get(
    "/patients/{patient_id}/screenings",
    response_model=list[ScreeningRead],
    responses=NOT_FOUND,
    summary="Screening history, oldest first",
)
def screening_history(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[ScreeningRead]:
    return [ScreeningRead.model_validate(r) for r in service.history(session, actor, patient_id, clock=clock)]
