"""The caseload registry (issue #8): open episodes with their flags, for the care manager and the consultant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.core.errors import FieldError, InvalidInput
from careweave.identity.models import User
from careweave.outcomes import repository as repo
from careweave.outcomes import rules
from careweave.outcomes.models import CaseReview
from careweave.patients import service as patients

# Worst first: the episode's headline status is its worst instrument's.

# --- registry ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewMark:
    """An episode's latest caseload review, as a registry row shows it."""

    reviewed_on: date
    decision: str


@dataclass(frozen=True, slots=True)
class RegistryRow:
    episode: repo.PageEpisode
    patient_name: str
    visible: bool  # may the viewer see the scores (screening category)?
    summaries: list[repo.PageSummary]
    flags: tuple[str, ...]
    weeks_in_treatment: int
    clinicians: list[str]
    reviewed: ReviewMark | None


@dataclass(frozen=True, slots=True)
class RegistryPage:
    rows: list[RegistryRow]
    total: int
    on: date


def caseload(
    session: Session,
    actor: Actor,
    *,
    clock: Clock,
    flag: str | None = None,
    status: str | None = None,
    clinician_id: uuid.UUID | None = None,
    care_manager_id: uuid.UUID | None = None,
    sort: str = "flags",
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> RegistryPage:
    """The caseload: open episodes of the clinic the viewer is care manager or consultant for, or treats."""
    policy.require(actor, policy.Action.REGISTRY_READ)
    rs = rules.default_rules()
    if flag not in (None, "any", *rules.FLAGS):
        raise InvalidInput(
            "Unknown flag.", fields=[FieldError("flag", "one of any, " + ", ".join(rules.FLAGS))]
        )
    if status not in (None, "no_baseline", *rules.STATUSES):
        raise InvalidInput(
            "Unknown status.", fields=[FieldError("status", "one of " + ", ".join(rules.STATUSES))]
        )
    if sort not in repo.SORTS:
        raise InvalidInput("Unknown sort.", fields=[FieldError("sort", "one of " + ", ".join(repo.SORTS))])
    if not 1 <= limit <= 200 or offset < 0:
        raise InvalidInput("Pages hold 1 to 200 rows.", fields=[FieldError("limit", "1 to 200")])
    if actor.clinic_id is None:
        return RegistryPage([], 0, clock.now().date())
    today = clock.now().date()
    query = repo.RegistryQuery(
        on=today,
        clinic_id=actor.clinic_id,
        viewer_id=actor.user_id,
        clinician_id=clinician_id,
        care_manager_id=care_manager_id,
        flag=flag,
        status=status,
        sort=sort,
        descending=descending,
        limit=limit,
        offset=offset,
    )
    found, total = repo.registry_rows(session, query, rs)
    rows = _rows(session, actor, found, today, rs)
    audit.record(
        session,
        actor,
        "registry.read",
        clock=clock,
        entity_type="registry",
        entity_id=None,
        details={"rows": len(rows), "flag": flag, "status": status},
    )
    return RegistryPage(rows, total, today)


def _rows(
    session: Session,
    actor: Actor,
    found: list[tuple[repo.PageEpisode, repo.PagePatient]],
    today: date,
    rs: rules.MbcRules,
) -> list[RegistryRow]:
    from careweave.careteam.models import CareTeamMember
    from careweave.consent import rules as consent_rules
    from careweave.outcomes import labs_bridge

    if not found:
        return []
    episodes = [e for e, _ in found]
    ids = [e.patient_id for e in episodes]
    people = {p.id: p for _, p in found}
    # One read of the care teams serves both the policy (every membership, as careteam.team_facts_many reads
    # them) and the page's clinicians (the current ones, by name).
    members: dict[uuid.UUID, list[consent_rules.Member]] = {p: [] for p in ids}
    team: dict[uuid.UUID, list[str]] = {}
    for pid, uid, role, basis, start, end, name in session.execute(
        select(
            CareTeamMember.patient_id,
            CareTeamMember.user_id,
            CareTeamMember.role,
            CareTeamMember.basis,
            CareTeamMember.start_date,
            CareTeamMember.end_date,
            User.full_name,
        )
        .outerjoin(User, User.id == CareTeamMember.user_id)
        .where(repo.among(session, CareTeamMember.patient_id, ids))
        .order_by(User.full_name)
    ):
        members[pid].append(consent_rules.Member(str(uid), role, basis, start, end))
        if end is None and name is not None:
            team.setdefault(pid, []).append(f"{name} ({role.replace('_', ' ')})")
    alerts: set[uuid.UUID] = set()
    refs = patients.refs_for(
        session, list(people.values()), teams={p: tuple(m) for p, m in members.items()}, open_alerts=alerts
    )
    sums = repo.page_summaries(session, [e.id for e in episodes])
    labs = labs_bridge.overdue_counts(session, ids, today)
    reviews = _latest_reviews(session, ids, [e.id for e in episodes])
    out = []
    for e in episodes:
        p = people[e.patient_id]
        visible = policy.category_verdict(actor, refs[p.id], "screening").allowed
        weeks = rules.weeks_between(e.started_on, today)
        statuses = [_status_of(s, weeks) for s in sums[e.id]]
        case = rules.CaseFacts(
            statuses=statuses,
            weeks_in_treatment=weeks,
            next_due=e.next_due_on,
            last_contact=e.last_contact_on,
            episode_start=e.started_on,
            open_safety_alert=p.id in alerts,
            last_item9_positive=e.last_item9_positive_on,
            overdue_labs=labs.get(p.id, 0),
            last_review=e.last_review_on,
        )
        out.append(
            RegistryRow(
                episode=e,
                patient_name=f"{p.family_name}, {p.given_name}",
                visible=visible,
                summaries=sums[e.id] if visible else [],
                flags=rules.registry_flags(case, on=today, rules=rs),
                weeks_in_treatment=weeks,
                clinicians=team.get(p.id, []),
                reviewed=reviews.get(e.id),
            )
        )
    return out


def _status_of(s: repo.PageSummary, weeks: int) -> rules.MeasurementStatus:
    """A stored summary as the rules' status (the status after its latest score)."""
    base = (
        rules.Score(s.baseline_score, s.baseline_at)
        if s.baseline_score is not None and s.baseline_at
        else None
    )
    latest = (
        rules.Score(s.latest_score, s.latest_at, prorated=s.latest_prorated)
        if s.latest_score is not None and s.latest_at
        else None
    )
    return rules.MeasurementStatus(
        s.instrument,
        base,
        latest,
        s.change,
        s.percent_change,
        weeks,
        s.status,
        tuple(s.flags or ()),  # type: ignore[arg-type]
    )


def _latest_reviews(
    session: Session, patient_ids: list[uuid.UUID], episode_ids: list[uuid.UUID]
) -> dict[uuid.UUID, ReviewMark]:
    """Each episode's latest review, as the page shows it (by the patients' index: an episode's reviews are its
    patient's)."""
    out: dict[uuid.UUID, ReviewMark] = {}
    if not episode_ids:
        return out
    wanted = set(episode_ids)
    for episode_id, reviewed_on, decision in session.execute(
        select(CaseReview.episode_id, CaseReview.reviewed_on, CaseReview.decision)
        .where(repo.among(session, CaseReview.patient_id, patient_ids))
        .order_by(CaseReview.created_at)
    ):
        if episode_id in wanted:
            out[episode_id] = ReviewMark(reviewed_on, decision)
    return out


def registry_csv(rows: list[RegistryRow]) -> str:
    """The registry page as CSV (one line per patient and followed instrument; hidden scores stay blank)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "patient",
            "clinicians",
            "weeks",
            "instrument",
            "baseline",
            "latest",
            "percent_change",
            "status",
            "last_contact",
            "next_due",
            "flags",
        ]
    )
    for r in rows:
        for s in r.summaries or [None]:
            writer.writerow(
                [
                    r.patient_name,
                    "; ".join(r.clinicians),
                    r.weeks_in_treatment,
                    s.instrument if s else "",
                    s.baseline_score if s else "",
                    s.latest_score if s else "",
                    s.percent_change if s is not None and s.percent_change is not None else "",
                    s.status or "" if s else "",
                    r.episode.last_contact_on or "",
                    r.episode.next_due_on or "",
                    " ".join(r.flags),
                ]
            )
    return out.getvalue()
