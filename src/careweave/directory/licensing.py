"""Licence expiry: warnings before a state licence expires, and the job that marks expired ones.

* :func:`classify_expiry` is pure: days left and the warning bucket (60/30/7 days by default, configurable).
  A licence is valid through its expiry date: one that expires today is still valid today (0 days left,
  in the most urgent bucket); it is expired from the next day.
* :func:`expiring_licences` lists the active licences that expire within the widest threshold, for the
  administrator's home page.
* :func:`expire_licences` (run by ``careweave worker``) sets ``status = "expired"`` on every active licence
  whose expiry date has passed, one audit event per licence by the system actor. Running it again changes
  nothing. Inactive and suspended licences keep their status (they grant nothing either way).

"Today" for licences is the calendar date anywhere on earth (UTC−12, :func:`licence_today`): a licence is
marked expired only once its last day has ended in every US jurisdiction, never early.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careweave import policy
from careweave.audit import service as audit
from careweave.core.actor import Actor
from careweave.core.clock import Clock
from careweave.directory import documents
from careweave.directory.models import License, Provider

WARNING_THRESHOLDS: tuple[int, ...] = (60, 30, 7)
EXPIRED = "expired"


def _thresholds(values: Sequence[int]) -> tuple[int, ...]:
    out = tuple(sorted(set(values)))
    if not out or any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in out):
        raise ValueError("warning thresholds must be whole numbers of days, 0 or more")
    return out


@dataclass(frozen=True, slots=True)
class Expiry:
    days_left: int  # 0: expires today (still valid); negative: expired that many days ago
    bucket: int | None  # the smallest threshold days_left is within; None: further away, or expired

    @property
    def expired(self) -> bool:
        return self.days_left < 0


def classify_expiry(
    expires: date | None, today: date, thresholds: Sequence[int] = WARNING_THRESHOLDS
) -> Expiry | None:
    """Days to expiry and warning bucket; None for a licence without an expiry date.

    With the default thresholds: 61 days → no bucket; 60…31 → 60; 30…8 → 30; 7…0 → 7; −1 → expired.
    """
    if expires is None:
        return None
    days = (expires - today).days
    bucket = None if days < 0 else next((t for t in _thresholds(thresholds) if days <= t), None)
    return Expiry(days, bucket)


def licence_today(clock: Clock) -> date:
    """The date used for licence validity: the earliest calendar date anywhere (UTC−12)."""
    return (clock.now() - timedelta(hours=12)).date()


# ---------------------------------------------------------------- warnings for administrators


@dataclass(frozen=True, slots=True)
class ExpiringLicence:
    license_id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    credential: str
    state: str
    license_type: str
    number: str
    expires: date
    days_left: int
    bucket: int


@dataclass(frozen=True, slots=True)
class ExpiryWarnings:
    today: date
    thresholds: tuple[int, ...]  # ascending
    counts: dict[int, int]  # bucket -> licences in it (every one, even beyond ``items``)
    items: tuple[ExpiringLicence, ...]  # soonest first, at most the limit asked for

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def truncated(self) -> bool:
        return len(self.items) < self.total

    def bucket(self, threshold: int) -> list[ExpiringLicence]:
        return [item for item in self.items if item.bucket == threshold]

    def buckets(self) -> list[tuple[int, int, list[ExpiringLicence]]]:
        """(threshold, count, shown items), most urgent first."""
        return [(t, self.counts.get(t, 0), self.bucket(t)) for t in self.thresholds]


def _active_expiring(today: date, horizon: date):  # type: ignore[no-untyped-def]
    return (
        License.status == "active",
        License.expires.is_not(None),
        License.expires >= today,
        License.expires <= horizon,
        Provider.is_active.is_(True),
    )


def expiring_licences(
    session: Session,
    actor: Actor,
    *,
    clock: Clock,
    thresholds: Sequence[int] = WARNING_THRESHOLDS,
    limit: int = 100,
) -> ExpiryWarnings:
    """Active licences of active providers expiring within the widest threshold (administrators)."""
    policy.require(actor, policy.Action.DIRECTORY_MANAGE)
    steps = _thresholds(thresholds)
    today = licence_today(clock)
    horizon = today + timedelta(days=steps[-1])
    where = _active_expiring(today, horizon)
    counts: dict[int, int] = dict.fromkeys(steps, 0)
    per_day = select(License.expires, func.count()).join(Provider, Provider.id == License.provider_id)
    for expires, n in session.execute(per_day.where(*where).group_by(License.expires)):
        expiry = classify_expiry(expires, today, steps)
        if expiry is not None and expiry.bucket is not None:
            counts[expiry.bucket] += n
    stmt = (
        select(License, Provider.name, Provider.credential)
        .join(Provider, Provider.id == License.provider_id)
        .where(*where)
        .order_by(License.expires, Provider.name, License.state, License.id)
        .limit(limit)
    )
    items = []
    for lic, name, credential in session.execute(stmt):
        expiry = classify_expiry(lic.expires, today, steps)
        if expiry is None or expiry.bucket is None:  # the query keeps only dated licences in range
            continue
        items.append(
            ExpiringLicence(
                license_id=lic.id,
                provider_id=lic.provider_id,
                provider_name=name,
                credential=credential,
                state=lic.state,
                license_type=lic.license_type,
                number=lic.number,
                expires=lic.expires,
                days_left=expiry.days_left,
                bucket=expiry.bucket,
            )
        )
    return ExpiryWarnings(today, steps, counts, tuple(items))


# ---------------------------------------------------------------- the job


def expire_licences(session: Session, *, clock: Clock) -> int:
    """Mark every active licence whose expiry date has passed as expired; returns how many.

    Idempotent, and safe with several workers on PostgreSQL (rows are claimed with SKIP LOCKED).
    """
    today = licence_today(clock)
    system = Actor.system()
    stmt = (
        select(License)
        .where(License.status == "active", License.expires.is_not(None), License.expires < today)
        .order_by(License.expires, License.id)
        .with_for_update(skip_locked=True)
    )
    count = 0
    claimed = list(session.scalars(stmt))
    touched = {lic.provider_id for lic in claimed}
    # The providers' rows before the audit chain's head (audit.record below): the order booking and directory
    # edits take them in (documents.lock), else a booking holding a provider and waiting for the audit head
    # deadlocks with this job holding the head and waiting for the provider (documents.refresh at the end).
    documents.lock(session, touched)
    for lic in claimed:
        lic.status = EXPIRED
        session.flush()
        audit.record(
            session,
            system,
            "license.expired",
            clock=clock,
            entity_type="provider",
            entity_id=lic.provider_id,
            details={"license_id": str(lic.id), "state": lic.state, "expires": str(lic.expires)},
        )
        count += 1
    documents.refresh(session, touched)  # matching's copy no longer lists the expired licences
    return count
