"""JSON API for medications (issue #7): formulary, a patient's medication facts, prescriptions (create, sign,
stop, dose, taper), refill requests and the prescriber's refill queue."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from careweave.deps import ClockDep, CurrentActor, DbSession
from careweave.medications import common, facts, formulary_service, prescribing, refills, rules, tapering
from careweave.medications.models import Prescription

router = APIRouter(tags=["medications"])
Text = Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")]
LongText = Annotated[str, Field(max_length=1000, pattern=r"^[^\x00]*$")]


class FindingRead(BaseModel):
    code: str
    severity: str
    message: str
    source: str
    override_reason: str | None = None


class FindingsErrorBody(BaseModel):
    error: dict[str, Any]
    findings: list[FindingRead]


class FormularyItemRead(BaseModel):
    code: str
    ingredient: str
    rxnorm: str | None
    rxcui_status: str
    drug_class: str
    schedule: str | None
    boxed_warnings: list[str]
    monitoring: list[str]
    forms: list[str]
    strengths: list[str]
    adult_daily_dose: dict[str, Any] | None
    sources: list[str]
    origin: str


class FormularyEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
    code: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_]+$")]
    ingredient: Text
    rxcui: Annotated[str | None, Field(max_length=20, pattern=r"^[0-9]+$")] = None
    rxcui_status: Literal[
        "verified_cpic", "secondary", "not_verified", "not_found", "not_in_spec", "unverified"
    ] = "unverified"
    drug_class: Annotated[str, Field(alias="class", max_length=60)]
    tags: list[Annotated[str, Field(max_length=40)]] = []
    schedule: Literal["C-II", "C-III", "C-IV", "C-V"] | None = None
    boxed_warnings: list[Annotated[str, Field(max_length=60)]] = []
    monitoring: list[Literal["lithium", "clozapine", "valproate", "sga_metabolic"]] = []
    forms: list[Text] = []
    strengths: list[Text] = []
    adult_daily_dose: dict[str, Any] | None = None
    sources: list[LongText] = []


def item_read(i: rules.FormularyItem) -> FormularyItemRead:
    return FormularyItemRead(
        code=i.code,
        ingredient=i.ingredient,
        rxnorm=i.rxcui,
        rxcui_status=i.rxcui_status,
        drug_class=i.drug_class,
        schedule=i.schedule,
        boxed_warnings=list(i.boxed_warnings),
        monitoring=list(i.monitoring),
        forms=list(i.forms),
        strengths=list(i.strengths),
        adult_daily_dose=(
            {"min": i.dose.min, "max": i.dose.max, "unit": i.dose.unit, "source": i.dose.source}
            if i.dose
            else None
        ),
        sources=list(i.sources),
        origin=i.origin,
    )


@router.get(
    "/formulary", response_model=list[FormularyItemRead], summary="The formulary (packaged + admin entries)"
)
def get_formulary(actor: CurrentActor, session: DbSession) -> list[FormularyItemRead]:
    return [item_read(i) for i in formulary_service.list_formulary(session, actor)]


@router.post(
    "/formulary",
    response_model=FormularyItemRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a formulary entry (administrators)",
)
def post_formulary(
    body: FormularyEntryIn, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> FormularyItemRead:
    data = body.model_dump(by_alias=True)
    return item_read(formulary_service.add_formulary_entry(session, actor, data, clock=clock))


# ------------------------------------------------------------------ patient medication facts


class OutsideRead(BaseModel):
    id: uuid.UUID
    name: str
    formulary_code: str | None
    dose_text: str | None
    status: str
    started_on: date | None
    stopped_on: date | None
    reported_by_role: str


class AllergyRead(BaseModel):
    id: uuid.UUID
    substance: str
    formulary_code: str | None
    drug_class: str | None
    kind: str
    reaction: str | None


class SigRead(BaseModel):
    dose: float
    unit: str
    route: str
    frequency: str


class PrescriptionRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    prescriber_user_id: uuid.UUID
    medication: str
    ingredient: str
    rxnorm: str | None
    schedule: str | None
    strength: str
    form: str | None
    sig: SigRead
    quantity: float
    refills: int
    days_supply: int
    pharmacy: str | None
    started_on: date
    status: str
    status_reason: str | None
    authority_rule: str
    pdmp_reviewed_at: datetime | None
    findings: list[FindingRead] = []


class MedicationsRead(BaseModel):
    patient_id: uuid.UUID
    prescriptions: list[PrescriptionRead]
    outside_medications: list[OutsideRead]
    allergies: list[AllergyRead]
    pregnancy_status: str
    breastfeeding: bool | None
    hla_b_1502: str | None


class OutsideIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: Text
    formulary_code: Annotated[str | None, Field(max_length=60)] = None
    dose_text: Text | None = None
    started_on: date | None = None


class AllergyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    substance: Text
    formulary_code: Annotated[str | None, Field(max_length=60)] = None
    drug_class: Annotated[str | None, Field(max_length=60)] = None
    kind: Literal["allergy", "intolerance"] = "allergy"
    reaction: Text | None = None


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    pregnancy_status: Literal["unknown", "not_pregnant", "pregnant", "not_applicable"] | None = None
    breastfeeding: bool | None = None
    hla_b_1502: Literal["positive", "negative"] | None = None


class MedicationFactsIn(BaseModel):
    """Any of: outside medications, allergies/intolerances, pregnancy/breastfeeding status."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    outside_medications: list[OutsideIn] = Field(default=[], max_length=20)
    allergies: list[AllergyIn] = Field(default=[], max_length=20)
    profile: ProfileIn | None = None


def rx_read(rx: Prescription, findings: list[FindingRead] | None = None) -> PrescriptionRead:
    return PrescriptionRead(
        id=rx.id,
        patient_id=rx.patient_id,
        prescriber_user_id=rx.prescriber_user_id,
        medication=rx.formulary_code,
        ingredient=rx.ingredient,
        rxnorm=rx.rxcui,
        schedule=rx.schedule,
        strength=rx.strength,
        form=rx.form,
        sig=SigRead(dose=rx.dose, unit=rx.dose_unit, route=rx.route, frequency=rx.frequency),
        quantity=rx.quantity,
        refills=rx.refills,
        days_supply=rx.days_supply,
        pharmacy=rx.pharmacy,
        started_on=rx.started_on,
        status=rx.status,
        status_reason=rx.status_reason,
        authority_rule=rx.authority_rule,
        pdmp_reviewed_at=rx.pdmp_reviewed_at,
        findings=findings or [],
    )


def _meds_read(view: facts.MedicationList) -> MedicationsRead:
    p = view.profile
    return MedicationsRead(
        patient_id=view.patient.id,
        prescriptions=[rx_read(rx) for rx in view.prescriptions],
        outside_medications=[
            OutsideRead(
                id=o.id,
                name=o.name,
                formulary_code=o.formulary_code,
                dose_text=o.dose_text,
                status=o.status,
                started_on=o.started_on,
                stopped_on=o.stopped_on,
                reported_by_role=o.reported_by_role,
            )
            for o in view.outside
        ],
        allergies=[
            AllergyRead(
                id=a.id,
                substance=a.substance,
                formulary_code=a.formulary_code,
                drug_class=a.drug_class,
                kind=a.kind,
                reaction=a.reaction,
            )
            for a in view.allergies
        ],
        pregnancy_status=p.pregnancy_status if p else "unknown",
        breastfeeding=p.breastfeeding if p else None,
        hla_b_1502=p.hla_b_1502 if p else None,
    )


HIDDEN = {
    403: {"description": "On the care team, but not allowed (reason given)"},
    404: {"description": "No such patient, or not yours to see"},
}


@router.get("/patients/{patient_id}/medications", response_model=MedicationsRead, responses=HIDDEN)
def get_medications(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> MedicationsRead:
    return _meds_read(facts.medication_list(session, actor, patient_id, clock=clock))


@router.post(
    "/patients/{patient_id}/medications",
    response_model=MedicationsRead,
    status_code=status.HTTP_201_CREATED,
    responses=HIDDEN,
    summary="Report outside medications, allergies/intolerances, pregnancy/breastfeeding status",
)
def post_medications(
    patient_id: uuid.UUID, body: MedicationFactsIn, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> MedicationsRead:
    for o in body.outside_medications:
        facts.add_outside_medication(
            session,
            actor,
            patient_id,
            name=o.name,
            formulary_code=o.formulary_code,
            dose_text=o.dose_text,
            started_on=o.started_on,
            clock=clock,
        )
    for a in body.allergies:
        facts.add_allergy(
            session,
            actor,
            patient_id,
            substance=a.substance,
            formulary_code=a.formulary_code,
            drug_class=a.drug_class,
            kind=a.kind,
            reaction=a.reaction,
            clock=clock,
        )
    if body.profile is not None:
        facts.set_profile(
            session,
            actor,
            patient_id,
            pregnancy_status=body.profile.pregnancy_status,
            breastfeeding=body.profile.breastfeeding,
            hla_b_1502=body.profile.hla_b_1502,
            clock=clock,
        )
    return _meds_read(facts.medication_list(session, actor, patient_id, clock=clock))


class ReconcileItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["prescription", "outside"]
    id: uuid.UUID
    action: Literal["confirm", "stop", "change"]
    note: LongText | None = None
    dose_text: Text | None = None
    dose: Annotated[float | None, Field(gt=0, le=100000)] = None
    unit: Annotated[str | None, Field(min_length=1, max_length=20)] = None
    frequency: Annotated[str | None, Field(min_length=1, max_length=60)] = None
    override_reasons: dict[Annotated[str, Field(max_length=80)], LongText] = Field(default={}, max_length=10)


class ReconcileIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    items: list[ReconcileItemIn] = Field(max_length=100)
    appointment_id: uuid.UUID | None = None


class ReconcileRead(BaseModel):
    id: uuid.UUID
    performed_by: uuid.UUID | None
    performed_at: datetime
    items: list[dict[str, Any]]


@router.post(
    "/patients/{patient_id}/medication-reconciliations",
    response_model=ReconcileRead,
    status_code=status.HTTP_201_CREATED,
    responses=HIDDEN,
)
def post_reconciliation(
    patient_id: uuid.UUID, body: ReconcileIn, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> ReconcileRead:
    rec = facts.reconcile(
        session,
        actor,
        patient_id,
        [
            facts.ReconcileItem(
                i.kind,
                i.id,
                i.action,
                i.note,
                i.dose_text,
                i.dose,
                i.unit,
                i.frequency,
                i.override_reasons,
            )
            for i in body.items
        ],
        appointment_id=body.appointment_id,
        clock=clock,
    )
    return ReconcileRead(
        id=rec.id, performed_by=rec.performed_by, performed_at=rec.performed_at, items=rec.items
    )


# ------------------------------------------------------------------ prescriptions


class SigIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    dose: Annotated[float, Field(gt=0, le=100000)]
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    route: Annotated[str, Field(min_length=1, max_length=30)] = "oral"
    frequency: Annotated[str, Field(min_length=1, max_length=60)]


class PrescriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    patient_id: uuid.UUID
    medication: Annotated[str, Field(min_length=1, max_length=60, description="formulary code or RXCUI")]
    strength: Annotated[str, Field(min_length=1, max_length=60)]
    form: Annotated[str | None, Field(max_length=60)] = None
    sig: SigIn
    quantity: Annotated[float, Field(gt=0, le=10000)]
    refills: Annotated[int, Field(ge=0, le=11)] = 0
    days_supply: Annotated[int, Field(ge=1, le=365)]
    pharmacy: Annotated[str | None, Field(max_length=300)] = None
    started_on: date | None = None
    override_reasons: dict[Annotated[str, Field(max_length=80)], LongText] = Field(default={}, max_length=30)
    modality: Literal["audio_video", "audio_only", "in_person"] = "audio_video"
    in_person_evaluated_on: date | None = None
    pdmp_reviewed_at: datetime | None = None
    pdmp_unavailable: bool = False


class CreatedRead(BaseModel):
    id: uuid.UUID
    status: str
    findings: list[FindingRead]


def to_service(body: PrescriptionIn) -> common.PrescriptionIn:
    return common.PrescriptionIn(
        patient_id=body.patient_id,
        medication=body.medication,
        strength=body.strength,
        form=body.form,
        sig=common.SigIn(body.sig.dose, body.sig.unit, body.sig.route, body.sig.frequency),
        quantity=body.quantity,
        refills=body.refills,
        days_supply=body.days_supply,
        pharmacy=body.pharmacy,
        started_on=body.started_on,
        override_reasons=body.override_reasons,
        modality=body.modality,
        in_person_evaluated_on=body.in_person_evaluated_on,
        pdmp_reviewed_at=body.pdmp_reviewed_at,
        pdmp_unavailable=body.pdmp_unavailable,
    )


def _findings(findings: Any) -> list[FindingRead]:
    return [
        FindingRead(code=f.code, severity=f.severity, message=f.message, source=f.source) for f in findings
    ]


def findings_response(request: Request, exc: common.FindingsError) -> JSONResponse:
    body = {
        "error": {
            "code": exc.code,
            "message": exc.message,
            "fields": [{"field": f.field, "message": f.message} for f in exc.fields],
            "request_id": _rid(request),
        },
        "findings": [f.model_dump() for f in _findings(exc.findings)],
    }
    return JSONResponse(body, status_code=exc.status)


def _rid(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


RX_ERRORS = {
    403: {"description": "Not a prescriber, or no authority in the patient's state (reason given)"},
    404: {"description": "No such patient, or not yours to see"},
    409: {
        "model": FindingsErrorBody,
        "description": "A contraindicated finding: not prescribed (findings given)",
    },
    422: {
        "description": "Bad input (field named), or a major finding without an override reason (findings given)"
    },
    503: {"description": "The safety-check data could not be loaded: prescribing refused"},
}


@router.post(
    "/prescriptions",
    response_model=CreatedRead,
    status_code=status.HTTP_201_CREATED,
    responses=RX_ERRORS,
    summary="Create a draft prescription after the authority checks and the checks before signing",
)
def post_prescription(
    request: Request, body: PrescriptionIn, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> Any:
    try:
        rx, findings = prescribing.create_prescription(session, actor, to_service(body), clock=clock)
    except common.FindingsError as exc:
        return findings_response(request, exc)
    return CreatedRead(id=rx.id, status=rx.status, findings=_findings(findings))


def _stored_findings(session: DbSession, rx: Prescription) -> list[FindingRead]:
    return [
        FindingRead(
            code=f.code,
            severity=f.severity,
            message=f.message,
            source=f.source,
            override_reason=f.override_reason,
        )
        for f in prescribing.findings_of(session, rx.id)
    ]


@router.get("/prescriptions/{prescription_id}", response_model=PrescriptionRead, responses=HIDDEN)
def get_prescription(
    prescription_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> PrescriptionRead:
    rx = prescribing.get_prescription(session, actor, prescription_id, clock=clock, interface="api")
    return rx_read(rx, _stored_findings(session, rx))


@router.get("/patients/{patient_id}/prescriptions", response_model=list[PrescriptionRead], responses=HIDDEN)
def list_prescriptions(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[PrescriptionRead]:
    return [
        rx_read(rx)
        for rx in prescribing.list_prescriptions(session, actor, patient_id, clock=clock, interface="api")
    ]


@router.post("/prescriptions/{prescription_id}/sign", response_model=PrescriptionRead, responses=RX_ERRORS)
def sign(
    request: Request, prescription_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> Any:
    try:
        rx = prescribing.sign_prescription(session, actor, prescription_id, clock=clock)
    except common.FindingsError as exc:
        return findings_response(request, exc)
    return rx_read(rx, _stored_findings(session, rx))


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    reason: Annotated[str, Field(min_length=1, max_length=1000, pattern=r"^[^\x00]*$")]


@router.post("/prescriptions/{prescription_id}/stop", response_model=PrescriptionRead, responses=RX_ERRORS)
def stop(
    prescription_id: uuid.UUID, body: StopIn, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> PrescriptionRead:
    return rx_read(
        prescribing.stop_prescription(session, actor, prescription_id, reason=body.reason, clock=clock)
    )


class DoseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    dose: Annotated[float, Field(gt=0, le=100000)]
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    frequency: Annotated[str, Field(min_length=1, max_length=60)]
    override_reasons: dict[Annotated[str, Field(max_length=80)], LongText] = Field(default={}, max_length=10)


@router.post("/prescriptions/{prescription_id}/dose", response_model=PrescriptionRead, responses=RX_ERRORS)
def dose(
    request: Request,
    prescription_id: uuid.UUID,
    body: DoseIn,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
) -> Any:
    try:
        rx, findings = prescribing.change_dose(
            session,
            actor,
            prescription_id,
            dose=body.dose,
            unit=body.unit,
            frequency=body.frequency,
            override_reasons=body.override_reasons,
            clock=clock,
        )
    except common.FindingsError as exc:
        return findings_response(request, exc)
    return rx_read(rx, _findings(findings))


class TaperStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    dose: Annotated[float, Field(ge=0, le=100000)]
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    days: Annotated[int, Field(ge=1, le=365)]


class TaperIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    steps: list[TaperStepIn] = Field(min_length=1, max_length=rules.MAX_TAPER_STEPS)
    start_date: date | None = None


class TaperStepRead(BaseModel):
    number: int
    dose: float
    unit: str
    start: date
    end: date
    days: int


class TaperRead(BaseModel):
    id: uuid.UUID
    prescription_id: uuid.UUID
    medication: str
    start_date: date
    steps: list[TaperStepRead]
    today: TaperStepRead | None
    upcoming: list[TaperStepRead]


def _step(s: rules.ScheduledStep) -> TaperStepRead:
    return TaperStepRead(number=s.number, dose=s.dose, unit=s.unit, start=s.start, end=s.end, days=s.days)


def taper_read(view: tapering.TaperView) -> TaperRead:
    current = view.current
    return TaperRead(
        id=view.taper.id,
        prescription_id=view.prescription.id,
        medication=view.prescription.ingredient,
        start_date=view.taper.start_date,
        steps=[_step(s) for s in view.schedule],
        today=_step(current) if current else None,
        upcoming=[_step(s) for s in view.upcoming],
    )


@router.post(
    "/prescriptions/{prescription_id}/taper",
    response_model=TaperRead,
    status_code=status.HTTP_201_CREATED,
    responses=RX_ERRORS,
)
def taper(
    prescription_id: uuid.UUID, body: TaperIn, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> TaperRead:
    view = tapering.create_taper(
        session,
        actor,
        prescription_id,
        [rules.TaperStep(s.dose, s.unit, s.days) for s in body.steps],
        start=body.start_date,
        clock=clock,
    )
    return taper_read(view)


@router.get("/patients/{patient_id}/tapers", response_model=list[TaperRead], responses=HIDDEN)
def tapers(
    patient_id: uuid.UUID, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> list[TaperRead]:
    return [
        taper_read(v) for v in tapering.tapers_for(session, actor, patient_id, clock=clock, interface="api")
    ]


# ------------------------------------------------------------------ refills


class RefillIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    note: LongText | None = None


class RefillRead(BaseModel):
    id: uuid.UUID
    prescription_id: uuid.UUID
    patient_id: uuid.UUID
    status: str
    note: str | None
    decision_note: str | None
    medication: str | None = None
    patient_name: str | None = None


@router.post(
    "/prescriptions/{prescription_id}/refill-requests",
    response_model=RefillRead,
    status_code=status.HTTP_201_CREATED,
    summary="The patient asks their prescriber for a refill",
)
def request_refill(
    prescription_id: uuid.UUID,
    actor: CurrentActor,
    session: DbSession,
    clock: ClockDep,
    body: Annotated[RefillIn | None, Body()] = None,
) -> RefillRead:
    r = refills.request_refill(session, actor, prescription_id, note=body.note if body else None, clock=clock)
    return RefillRead(
        id=r.id,
        prescription_id=r.prescription_id,
        patient_id=r.patient_id,
        status=r.status,
        note=r.note,
        decision_note=r.decision_note,
    )


@router.get("/refill-requests", response_model=list[RefillRead], summary="The prescriber's refill queue")
def refill_queue(actor: CurrentActor, session: DbSession) -> list[RefillRead]:
    return [
        RefillRead(
            id=row.request.id,
            prescription_id=row.request.prescription_id,
            patient_id=row.request.patient_id,
            status=row.request.status,
            note=row.request.note,
            decision_note=row.request.decision_note,
            medication=row.prescription.ingredient,
            patient_name=row.patient_name,
        )
        for row in refills.refill_queue(session, actor)
    ]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    approve: bool
    note: LongText | None = None


@router.post("/refill-requests/{request_id}/decision", response_model=RefillRead)
def decide_refill(
    request_id: uuid.UUID, body: DecisionIn, actor: CurrentActor, session: DbSession, clock: ClockDep
) -> RefillRead:
    r = refills.decide_refill(session, actor, request_id, approve=body.approve, note=body.note, clock=clock)
    return RefillRead(
        id=r.id,
        prescription_id=r.prescription_id,
        patient_id=r.patient_id,
        status=r.status,
        note=r.note,
        decision_note=r.decision_note,
    )
