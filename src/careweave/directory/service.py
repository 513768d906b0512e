"""Directory use cases: plans, provider profiles, licences, compact privileges, DEA
registrations, a patient's coverage. Administrators write; clinicians edit their own profile
(not their licences); everyone signed in reads public profiles. Writes are audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import distinct, func, select, update
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.careteam.models import CareTeamMember
from careweave.core import geo
from careweave.core.actor import CLINICAL_ROLES, Actor, Role
from careweave.core.clock import Clock
from careweave.core.errors import Conflict, FieldError, InvalidInput, NotFound
from careweave.directory import documents, rules
from careweave.directory import repository as repo
from careweave.directory.models import (
    CompactPrivilege,
    DeaRegistration,
    License,
    PatientCoverage,
    Plan,
    Provider,
    rank_key,
)
from careweave.identity import service as identity
from careweave.patients import service as patients

SELF_EDITABLE = frozenset(
    {
        "bio",
        "gender",
        "conditions",
        "modalities",
        "age_groups",
        "languages",
        "timezone",
        "accepting_new_patients",
        "capacity",
    }
)
SCALARS = (
    "name",
    "taxonomy_code",
    "bio",
    "gender",
    "timezone",
    "accepting_new_patients",
    "capacity",
    "self_pay",
    "self_pay_rate_cents",
    "user_id",
)
# What matching's documents copy from the profile (directory.documents.document_rows): an edit of anything else
# (a bio, a time zone) leaves them as they are.
DOCUMENT_FIELDS = frozenset(
    {
        "name",
        "credential",
        "gender",
        "accepting_new_patients",
        "capacity",
        "self_pay",
        "offers",
        "conditions",
        "languages",
        "networks",
    }
)
TAG_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


# ---------------------------------------------------------------- plans


def create_plan(session: Session, actor: Actor, *, payer: str, name: str, clock: Clock) -> Plan:
    policy.require(actor, policy.Action.DIRECTORY_MANAGE)
    if repo.plan_by_name(session, payer, name) is not None:
        raise Conflict(
            "That plan already exists.", fields=[FieldError("name", "already exists for this payer")]
        )
    plan = Plan(payer=payer, name=name)
    repo.add(session, plan)
    audit.record(session, actor, "plan.created", clock=clock, entity_type="plan", entity_id=plan.id)
    return plan


def list_plans(session: Session, actor: Actor) -> list[Plan]:
    policy.require(actor, policy.Action.DIRECTORY_READ)
    return repo.plans(session)


# ---------------------------------------------------------------- providers


@dataclass(frozen=True, slots=True)
class ProviderView:
    provider: Provider
    conditions: list[str]
    languages: list[str]
    networks: list[uuid.UUID]
    licenses: list[License]
    compact_privileges: list[CompactPrivilege]
    dea_registrations: list[DeaRegistration]

    @property
    def offers(self) -> list[str]:
        p = self.provider
        return [
            o
            for o, on in (
                ("therapy", p.offers_therapy),
                ("medication_management", p.offers_medication_management),
            )
            if on
        ]

    @property
    def states(self) -> list[str]:
        return sorted({lic.state for lic in self.licenses if lic.status == "active"})


def _tags(name: str, values: list[str]) -> list[str]:
    cleaned = [v.strip().lower() for v in values if v and v.strip()]
    bad = [i for i, v in enumerate(cleaned) if not set(v) <= TAG_OK or len(v) > 60]
    if bad:
        raise InvalidInput(
            f"Use short lower-case codes for {name}.",
            fields=[FieldError(f"{name}[{i}]", "lower-case letters, digits, - and _ only") for i in bad],
        )
    return sorted(set(cleaned))


def _validate(session: Session, data: dict[str, Any], *, provider: Provider | None) -> dict[str, Any]:
    """Meaningful checks on a provider write (the schema checked shapes). Returns cleaned data."""
    problems: list[FieldError] = []
    out = dict(data)
    if "credential" in data:
        spec = rules.credential_spec(data["credential"])
        if spec is None:
            problems.append(FieldError("credential", "unknown credential"))
        else:
            out["credential"] = spec.code
    if data.get("npi") is not None:
        if not rules.npi_is_valid(data["npi"]):
            problems.append(FieldError("npi", "not a valid NPI (check digit)"))
        else:
            other = repo.provider_by_npi(session, data["npi"])
            if other is not None and (provider is None or other.id != provider.id):
                problems.append(FieldError("npi", "already used by another provider"))
    if data.get("timezone") is not None and not geo.is_timezone(data["timezone"]):
        problems.append(FieldError("timezone", "must be an IANA time zone such as America/Chicago"))
    if data.get("networks") is not None:
        known = repo.existing_plan_ids(session, data["networks"])
        problems += [
            FieldError(f"networks[{i}]", "no such plan")
            for i, pid in enumerate(data["networks"])
            if pid not in known
        ]
    if data.get("user_id") is not None:
        try:
            user = identity.get_user(session, data["user_id"])
        except NotFound:
            user = None
        if user is None or Role(user.role) not in CLINICAL_ROLES:
            problems.append(FieldError("user_id", "must be a clinician's account"))
        else:
            linked = repo.provider_by_user(session, user.id)
            if linked is not None and (provider is None or linked.id != provider.id):
                problems.append(FieldError("user_id", "already linked to another provider profile"))
    for name in ("conditions", "modalities", "languages"):
        if data.get(name) is not None:
            try:
                out[name] = _tags(name, data[name])
            except InvalidInput as exc:
                problems += exc.fields
    if problems:
        raise InvalidInput("Some provider details are not valid.", fields=problems)
    return out


NOT_NULL = frozenset({"name", "timezone", "accepting_new_patients", "capacity", "self_pay"})


def _apply(session: Session, provider: Provider, data: dict[str, Any]) -> list[str]:
    changed = []
    for name in SCALARS:
        if name in NOT_NULL and data.get(name, ...) is None:
            continue  # an explicit null on a required field leaves it as it is
        if name in data and getattr(provider, name) != data[name]:
            setattr(provider, name, data[name])
            changed.append(name)
    for name in ("credential", "npi", "modalities", "age_groups"):
        if name in data and data[name] is not None and getattr(provider, name) != data[name]:
            setattr(provider, name, data[name])
            changed.append(name)
    if "name" in changed:  # matching walks licences in name order (models.rank_key)
        repo.set_rank_key(session, provider.id, rank_key(provider.id, provider.name))
    if data.get("offers") is not None:
        provider.offers_therapy = "therapy" in data["offers"]
        provider.offers_medication_management = "medication_management" in data["offers"]
        changed.append("offers")
    session.flush()
    if data.get("conditions") is not None:
        repo.set_conditions(session, provider.id, data["conditions"])
        changed.append("conditions")
    if data.get("languages") is not None:
        repo.set_languages(session, provider.id, data["languages"])
        changed.append("languages")
    if data.get("networks") is not None:
        repo.set_networks(session, provider.id, data["networks"])
        changed.append("networks")
    if DOCUMENT_FIELDS & set(changed):  # a new provider has no licence yet, so no documents to build
        documents.refresh(session, [provider.id])  # flushes first
    else:
        session.flush()
    return changed


def recount_caseload(session: Session, provider_id: uuid.UUID) -> None:
    """A patient joined or left the clinician's care teams (careteam.ensure_member / end_member, the only writers
    of memberships): their caseload (``active_patients``, what the capacity filter compares with ``capacity``)
    becomes the number of distinct patients with a current membership naming them (an index range:
    ix_care_team_members_provider_current), and matching's documents follow, in the same transaction. The
    provider's row is locked first (documents.lock), as every writer of a provider's documents does before
    anything else it locks."""
    documents.lock(session, [provider_id])
    session.flush()
    current = (
        select(func.count(distinct(CareTeamMember.patient_id)))
        .where(CareTeamMember.provider_id == provider_id, CareTeamMember.end_date.is_(None))
        .scalar_subquery()
    )
    session.execute(
        update(Provider)
        .where(Provider.id == provider_id)
        .values(active_patients=current)
        .execution_options(synchronize_session=False)
    )
    loaded = session.identity_map.get(session.identity_key(Provider, provider_id))
    if loaded is not None:  # a provider already in the session reads the new count on next access
        session.expire(loaded, ["active_patients"])
    documents.refresh(session, [provider_id])


def create_provider(session: Session, actor: Actor, data: dict[str, Any], *, clock: Clock) -> Provider:
    policy.require(actor, policy.Action.DIRECTORY_MANAGE)
    data = _validate(session, data, provider=None)
    provider = Provider(name=data["name"], credential=data["credential"], clinic_id=actor.clinic_id)
    repo.add(session, provider)
    _apply(session, provider, data)
    audit.record(
        session, actor, "provider.created", clock=clock, entity_type="provider", entity_id=provider.id
    )
    return provider


def _load(session: Session, provider_id: uuid.UUID) -> Provider:
    provider = repo.provider(session, provider_id)
    if provider is None:
        raise NotFound("No such provider.")
    return provider


def update_provider(
    session: Session, actor: Actor, provider_id: uuid.UUID, changes: dict[str, Any], *, clock: Clock
) -> Provider:
    """Administrators edit any field; a clinician edits their own profile's descriptive fields."""
    provider = _load(session, provider_id)
    own = actor.user_id is not None and provider.user_id == actor.user_id
    if not policy.may(actor, policy.Action.DIRECTORY_MANAGE):
        if not own:
            raise NotFound("No such provider.")
        locked = sorted(set(changes) - SELF_EDITABLE)
        if locked:
            raise InvalidInput(
                "Your clinic's administrator manages these fields.",
                fields=[FieldError(name, "managed by an administrator") for name in locked],
            )
    data = _validate(session, changes, provider=provider)
    changed = _apply(session, provider, data)
    audit.record(
        session,
        actor,
        "provider.updated",
        clock=clock,
        entity_type="provider",
        entity_id=provider.id,
        details={"fields": sorted(changed)},
    )
    return provider


def _views(session: Session, providers: list[Provider]) -> list[ProviderView]:
    ids = [p.id for p in providers]
    conds, langs, nets = (
        repo.conditions(session, ids),
        repo.languages(session, ids),
        repo.networks(session, ids),
    )
    lics, comps, deas = (
        repo.licenses(session, ids),
        repo.compact_privileges(session, ids),
        repo.dea_registrations(session, ids),
    )
    return [
        ProviderView(p, conds[p.id], langs[p.id], nets[p.id], lics[p.id], comps[p.id], deas[p.id])
        for p in providers
    ]


def get_provider(session: Session, actor: Actor, provider_id: uuid.UUID) -> ProviderView:
    policy.require(actor, policy.Action.DIRECTORY_READ)
    provider = _load(session, provider_id)
    if not provider.is_active and not policy.may(actor, policy.Action.DIRECTORY_MANAGE):
        raise NotFound("No such provider.")
    return _views(session, [provider])[0]


def search_providers(
    session: Session,
    actor: Actor,
    *,
    query: str | None = None,
    credential: str | None = None,
    state: str | None = None,
    condition: str | None = None,
    language: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ProviderView], int]:
    policy.require(actor, policy.Action.DIRECTORY_READ)
    if credential:
        spec = rules.credential_spec(credential)
        credential = spec.code if spec else credential
    rows, total = repo.search_providers(
        session,
        query=query,
        credential=credential,
        state=state.upper() if state else None,
        condition=condition,
        language=language,
        limit=limit,
        offset=offset,
    )
    return _views(session, rows), total


def profile_for_user(session: Session, user_id: uuid.UUID) -> uuid.UUID | None:
    """The provider profile linked to a clinician account (for /me)."""
    provider = repo.provider_by_user(session, user_id)
    return provider.id if provider else None


# ---------------------------------------------------------------- licences, compacts, DEA


def _dates(issued: date | None, expires: date | None) -> list[FieldError]:
    if issued and expires and expires < issued:
        return [FieldError("expires", "must not be before the issue date")]
    return []


def _state(state: str) -> list[FieldError]:
    return [] if geo.is_us_jurisdiction(state) else [FieldError("state", "not a US state or territory code")]


def add_license(
    session: Session,
    actor: Actor,
    provider_id: uuid.UUID,
    *,
    state: str,
    license_type: str,
    number: str,
    status: str,
    issued: date | None,
    expires: date | None,
    clock: Clock,
) -> License:
    policy.require(actor, policy.Action.DIRECTORY_MANAGE)
    provider = _load(session, provider_id)
    problems = _state(state) + _dates(issued, expires)
    spec = rules.credential_spec(provider.credential)
    if spec is not None and license_type.upper() not in spec.license_types:
        allowed = ", ".join(sorted(spec.license_types))
        problems.append(
            FieldError("type", f"a {provider.credential} practises under a licence of type {allowed}")
        )
    if problems:
        raise InvalidInput("The licence is not valid.", fields=problems)
    lic = License(
        provider_id=provider.id,
        rank_key=rank_key(provider.id, provider.name),
        state=state,
        license_type=license_type.upper(),
        number=number,
        status=status,
        issued=issued,
        expires=expires,
    )
    repo.add(session, lic)
    documents.refresh(session, [provider.id])
    audit.record(
        session,
        actor,
        "license.added",
        clock=clock,
        entity_type="provider",
        entity_id=provider.id,
        details={"state": state, "status": status},
    )
    return lic


def add_compact_privilege(
    session: Session,
    actor: Actor,
    provider_id: uuid.UUID,
    *,
    compact: str,
    state: str,
    status: str,
    issued: date | None,
    expires: date | None,
    clock: Clock,
) -> CompactPrivilege:
    policy.require(actor, policy.Action.DIRECTORY_MANAGE)
    provider = _load(session, provider_id)
    problems = _state(state) + _dates(issued, expires)
    spec = rules.credential_spec(provider.credential)
    if spec is not None and compact.upper() not in spec.compacts:
        problems.append(FieldError("compact", f"does not cover a {provider.credential}"))
    if problems:
        raise InvalidInput("The compact privilege is not valid.", fields=problems)
    row = CompactPrivilege(
        provider_id=provider.id,
        rank_key=rank_key(provider.id, provider.name),
        compact=compact.upper(),
        state=state,
        status=status,
        issued=issued,
        expires=expires,
    )
    repo.add(session, row)
    documents.refresh(session, [provider.id])
    audit.record(
        session,
        actor,
        "compact_privilege.added",
        clock=clock,
        entity_type="provider",
        entity_id=provider.id,
        details={"compact": row.compact, "state": state},
    )
    return row


def add_dea_registration(
    session: Session,
    actor: Actor,
    provider_id: uuid.UUID,
    *,
    state: str,
    number: str,
    schedules: list[str],
    expires: date | None,
    clock: Clock,
) -> DeaRegistration:
    policy.require(actor, policy.Action.DIRECTORY_MANAGE)
    provider = _load(session, provider_id)
    problems = _state(state)
    spec = rules.credential_spec(provider.credential)
    if spec is not None and spec.capabilities.get("controlled_substances") in (None, "no"):
        problems.append(
            FieldError("state", f"a {provider.credential} does not prescribe controlled substances")
        )
    if problems:
        raise InvalidInput("The DEA registration is not valid.", fields=problems)
    row = DeaRegistration(
        provider_id=provider.id, state=state, number=number, schedules=sorted(set(schedules)), expires=expires
    )
    repo.add(session, row)
    audit.record(
        session,
        actor,
        "dea_registration.added",
        clock=clock,
        entity_type="provider",
        entity_id=provider.id,
        details={"state": state},
    )
    return row


# ---------------------------------------------------------------- coverage


@dataclass(frozen=True, slots=True)
class CoverageView:
    patient_id: uuid.UUID
    coverage: PatientCoverage | None
    plan: Plan | None


def get_coverage(session: Session, actor: Actor, patient_id: uuid.UUID, *, clock: Clock) -> CoverageView:
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.COVERAGE_READ, ref)
    cov = repo.coverage(session, patient.id)
    audit.record(
        session,
        actor,
        "coverage.viewed",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
    )
    plan = repo.plan(session, cov.plan_id) if cov and cov.plan_id else None
    return CoverageView(patient.id, cov, plan)


def set_coverage(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    plan_id: uuid.UUID | None,
    member_id: str | None,
    self_pay: bool,
    clock: Clock,
) -> CoverageView:
    patient, ref = patients.get_patient_ref(session, patient_id)
    policy.require(actor, policy.Action.COVERAGE_WRITE, ref)
    if self_pay == (plan_id is not None):
        raise InvalidInput(
            "Give either a plan or self-pay.",
            fields=[FieldError("plan_id", "required unless self_pay is true")],
        )
    plan = repo.plan(session, plan_id) if plan_id else None
    if plan_id and plan is None:
        raise InvalidInput("No such plan.", fields=[FieldError("plan_id", "no such plan")])
    cov = repo.coverage(session, patient.id)
    if cov is None:
        cov = PatientCoverage(patient_id=patient.id)
        session.add(cov)
    cov.plan_id, cov.member_id, cov.self_pay = plan_id, (member_id if plan_id else None), self_pay
    session.flush()
    audit.record(
        session,
        actor,
        "coverage.updated",
        clock=clock,
        entity_type="patient",
        entity_id=patient.id,
        patient_id=patient.id,
        details={"self_pay": self_pay},
    )
    return CoverageView(patient.id, cov, plan)


def coverage_for_rules(session: Session, patient_id: uuid.UUID) -> PatientCoverage | None:
    """For matching, which has checked policy already."""
    return repo.coverage(session, patient_id)
