"""Booking by a patient reads only the patient's row for the policy check (scheduling.service._patient_for),
not their care team, consents, emergency accesses and on-call clinicians. That is sound only while policy
decides a patient's own actions on the patient's id alone: this pins it, for every action."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from careweave import policy
from careweave.consent import rules as consent_rules
from careweave.core.actor import Actor, Role

ME, OTHER, CLINIC, USER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _full(patient_id: uuid.UUID) -> policy.PatientRef:
    return policy.PatientRef(
        patient_id,
        CLINIC,
        team=(consent_rules.Member(str(USER), "therapist", "patient_choice", date(2026, 1, 1)),),
        grants=(consent_rules.Grant("g1", str(USER), False, frozenset({"notes"})),),
        break_glass=frozenset({str(USER)}),
        on_call=frozenset({str(USER)}),
        on=date(2026, 11, 27),
    )


@pytest.mark.parametrize("action", list(policy.Action))
@pytest.mark.parametrize("patient_id", [ME, OTHER])
def test_a_patients_own_access_does_not_depend_on_team_consent_or_emergency_facts(action, patient_id):
    actor = Actor(user_id=USER, role=Role.PATIENT, patient_id=ME, clinic_id=CLINIC, purpose="self")
    assert policy.decide(actor, action, policy.PatientRef(patient_id, CLINIC)) == policy.decide(
        actor, action, _full(patient_id)
    )
