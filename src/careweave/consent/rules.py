"""Who on a patient's care team may see which category of the record: pure rules, no I/O.

Sources (spec §5): HIPAA 45 CFR 164.501/164.508(a)(2) (psychotherapy notes: authorization for almost any use or
disclosure except by their originator; excluded from the patient's right of access, 164.524(a)(1)(i)); 42 CFR
Part 2 as amended 2024 (SUD records: their own consent); 164.508(b)(5) (revocation at any time); 164.508(c)(1)
(an authorization names what, who, and an expiry). Product policy (docs/adr/0009-care-team-consent.md): a
clinician sees a patient at all only while on the care team (or during a recorded break-the-glass access); data
moves between clinicians only under an active, unexpired consent directive the patient granted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

Category = Literal[
    "screening", "plan", "medications", "progress_notes", "substance_use", "psychotherapy_notes"
]
CATEGORIES: tuple[Category, ...] = get_args(Category)
# What a consent directive may share. Psychotherapy notes never: a general consent cannot cover them.
SHAREABLE: tuple[Category, ...] = ("screening", "plan", "medications", "progress_notes", "substance_use")
# Given by the patient to the platform to be matched and treated (intake, questionnaires, the care pathway):
# a clinician the patient chose, or the clinic assigned, sees them without a further directive.
PATIENT_ORIGINATED: frozenset[Category] = frozenset({"screening"})
DIRECT_BASES = frozenset({"patient_choice", "assigned"})
LABELS: dict[Category, str] = {
    "screening": "Questionnaire scores, intake answers and the care recommendation",
    "plan": "Diagnoses and the treatment plan",
    "medications": "Medications",
    "progress_notes": "Visit (progress) notes",
    "substance_use": "Alcohol and substance-use information (42 CFR Part 2)",
    "psychotherapy_notes": "Psychotherapy notes (never shared)",
}


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    role: str
    basis: str  # patient_choice | referral | assigned
    start: date
    end: date | None = None

    def active(self, on: date) -> bool:
        return self.start <= on and (self.end is None or on <= self.end)


@dataclass(frozen=True, slots=True)
class Grant:
    """An active-or-revoked consent directive, as the rules need it."""

    id: str
    grantee_user_id: str | None  # None with care_team: every current member
    care_team: bool
    categories: frozenset[str]
    expires: date | None = None
    revoked: bool = False

    def in_force(self, on: date) -> bool:
        return not self.revoked and (self.expires is None or on <= self.expires)

    def covers(self, user_id: str, *, member: bool, category: Category, on: date) -> bool:
        if not self.in_force(on) or category not in self.categories or category == "psychotherapy_notes":
            return False
        return self.grantee_user_id == user_id or (self.care_team and member)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    on_team: bool  # denials to a team member are 403 ("ask the patient"); to anyone else 404
    reason: str
    basis: str  # author | patient_choice | consent:<id> | break_glass | patient | denied


def current_member(team: Iterable[Member], user_id: str, on: date) -> Member | None:
    return next((m for m in team if m.user_id == user_id and m.active(on)), None)


def decide(
    user_id: str,
    team: Iterable[Member],
    grants: Iterable[Grant],
    category: Category,
    *,
    on: date,
    author_user_id: str | None = None,
    break_glass: bool = False,
) -> Decision:
    """May clinician ``user_id`` see ``category`` of this patient's record (an item by ``author_user_id``)?"""
    team = tuple(team)
    member = current_member(team, user_id, on)
    label = LABELS[category].lower()
    if category == "psychotherapy_notes":
        if author_user_id is not None and author_user_id == user_id:
            return Decision(True, member is not None, "You wrote this psychotherapy note.", "author")
        return Decision(
            False,
            member is not None,
            "Psychotherapy notes are seen only by the clinician who wrote them.",
            "denied",
        )
    if member is None and not break_glass:
        return Decision(False, False, "You are not on this patient's care team.", "denied")
    if author_user_id is not None and author_user_id == user_id:
        return Decision(True, True, "You wrote this.", "author")
    if break_glass:
        return Decision(
            True, member is not None, "Emergency access (break the glass), recorded.", "break_glass"
        )
    assert member is not None
    if category in PATIENT_ORIGINATED and member.basis in DIRECT_BASES:
        return Decision(
            True, True, "The patient shared this with the clinicians they chose.", "patient_choice"
        )
    for grant in grants:
        if grant.covers(user_id, member=True, category=category, on=on):
            return Decision(
                True, True, "The patient consented to share this with you.", f"consent:{grant.id}"
            )
    if category == "substance_use":
        reason = "Substance-use information needs the patient's own consent (42 CFR Part 2), which they have not given you."
    else:
        reason = f"The patient has not consented to share {label} with you. You can ask them."
    return Decision(False, True, reason, "denied")


def shareable(categories: Iterable[str]) -> tuple[list[str], list[str]]:
    """(known shareable categories, refused ones) of a requested directive."""
    ok, bad = [], []
    for c in categories:
        (ok if c in SHAREABLE else bad).append(c)
    return ok, bad
