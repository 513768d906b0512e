"""The consent matrix, generated: every actor × every category × every consent state, through the one policy
(policy.category_verdict and, for actions, policy.decide), against an oracle written from the rules as stated
in docs/adr/0009-care-team-consent.md. A new category (consent.rules.CATEGORIES), actor kind or consent state
is covered automatically: the product below includes it, and the oracle must say what it expects.

The same decisions through every HTTP interface: tests/integration/test_consent_interfaces.py."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from careweave import policy
from careweave.consent import rules
from careweave.core.actor import Actor, Role

TODAY = date(2026, 6, 1)
CLINIC = uuid.uuid4()
PATIENT = uuid.uuid4()


@dataclass(frozen=True)
class Who:
    name: str
    role: Role
    basis: str | None  # care-team basis, None when not on the team
    clinic: uuid.UUID | None = CLINIC
    glass: bool = False
    author: bool = False  # wrote the item in question


ACTORS = (
    Who("patient", Role.PATIENT, None),
    Who("other_patient", Role.PATIENT, None),
    Who("chosen_clinician", Role.THERAPIST, "patient_choice"),
    Who("referred_psychiatrist", Role.PSYCHIATRIST, "referral"),
    Who("assigned_care_manager", Role.CARE_MANAGER, "assigned"),
    Who("author_on_team", Role.THERAPIST, "referral", author=True),
    Who("former_member", Role.THERAPIST, "ended"),
    Who("clinician_off_team", Role.PSYCHIATRIST, None),
    Who("clinician_other_clinic", Role.THERAPIST, "patient_choice", clinic=uuid.uuid4()),
    Who("breaking_the_glass", Role.PSYCHIATRIST, None, glass=True),
    Who("admin", Role.ADMIN, None),
)
STATES = ("none", "granted_team", "granted_named", "expired", "revoked", "all_but_part2")


def _actor(who: Who) -> Actor:
    if who.role is Role.PATIENT:
        return Actor(
            uuid.uuid4(),
            who.role,
            patient_id=PATIENT if who.name == "patient" else uuid.uuid4(),
            clinic_id=CLINIC,
        )
    return Actor(uuid.uuid4(), who.role, clinic_id=who.clinic)


def _ref(who: Who, actor: Actor, state: str) -> policy.PatientRef:
    team: list[rules.Member] = []
    me = str(actor.user_id)
    if who.basis == "ended":
        team.append(
            rules.Member(
                me, "therapist", "patient_choice", TODAY - timedelta(days=90), TODAY - timedelta(days=1)
            )
        )
    elif who.basis is not None:
        team.append(rules.Member(me, "therapist", who.basis, TODAY - timedelta(days=30)))
    everything = frozenset(rules.SHAREABLE)
    grants = {
        "none": (),
        "granted_team": (rules.Grant("g", None, True, everything),),
        "granted_named": (rules.Grant("g", me, False, everything),),
        "expired": (rules.Grant("g", None, True, everything, expires=TODAY - timedelta(days=1)),),
        "revoked": (rules.Grant("g", None, True, everything, revoked=True),),
        "all_but_part2": (rules.Grant("g", None, True, everything - {"substance_use"}),),
    }[state]
    return policy.PatientRef(
        PATIENT,
        CLINIC,
        team=tuple(team),
        grants=grants,
        break_glass=frozenset({me}) if who.glass else frozenset(),
        on=TODAY,
    )


def oracle(who: Who, category: str, state: str) -> bool:
    """The rules, stated once more, independently of the implementation."""
    if who.role is Role.PATIENT:
        return who.name == "patient" and category != "psychotherapy_notes"  # 164.524(a)(1)(i)
    if who.role is Role.ADMIN:
        return False  # operations only, never clinical categories
    if who.clinic != CLINIC:
        return False
    if category == "psychotherapy_notes":
        return who.author  # only the originator (164.508(a)(2)); never by consent or emergency access
    current = who.basis not in (None, "ended")
    if not current and not who.glass:
        return False
    if who.author or who.glass:
        return True
    consented = state in ("granted_team", "granted_named") or (
        state == "all_but_part2" and category != "substance_use"
    )
    if category == "screening" and who.basis in ("patient_choice", "assigned"):
        return True
    return consented


CASES = list(itertools.product(ACTORS, rules.CATEGORIES, STATES))


@pytest.mark.parametrize(("who", "category", "state"), CASES, ids=[f"{w.name}-{c}-{s}" for w, c, s in CASES])
def test_matrix(who, category, state):
    actor = _actor(who)
    ref = _ref(who, actor, state)
    author = actor.user_id if who.author else None
    verdict = policy.category_verdict(actor, ref, category, author_user_id=author)
    if who.role is Role.ADMIN:
        assert not policy.may_see(actor, ref, category)
    else:
        assert verdict.allowed is oracle(who, category, state), verdict.reason
    if not verdict.allowed and who.role is not Role.PATIENT and who.role is not Role.ADMIN:
        # a refused current team member learns why (403); anyone else learns nothing (404)
        on_team = who.basis not in (None, "ended") and who.clinic == CLINIC
        assert verdict.on_team is on_team or category == "psychotherapy_notes"


def test_every_category_action_goes_through_the_same_decision():
    """Actions that read a category decide exactly as the category does (no second, drifting rule)."""
    for action, category in policy.ACTION_CATEGORY.items():
        for who, state in itertools.product(ACTORS, STATES):
            if who.role in (Role.PATIENT, Role.ADMIN) or who.author:
                continue
            actor = _actor(who)
            ref = _ref(who, actor, state)
            rule = policy.PATIENT_RULES[action]
            expected = who.role in rule.staff and oracle(who, category, state)
            assert policy.may(actor, action, ref) is expected, (action, who.name, state)


def test_psychotherapy_notes_cannot_be_granted():
    ok, bad = rules.shareable(["screening", "psychotherapy_notes"])
    assert ok == ["screening"] and bad == ["psychotherapy_notes"]
    grant = rules.Grant("g", None, True, frozenset(rules.CATEGORIES))
    assert not grant.covers("u", member=True, category="psychotherapy_notes", on=TODAY)


def test_the_matrix_covers_every_category_and_state():
    assert {c for _, c, _ in CASES} == set(rules.CATEGORIES)
    assert len(CASES) == len(ACTORS) * len(rules.CATEGORIES) * len(STATES)
