import uuid
from datetime import date

import pytest

from careweave import policy
from careweave.consent import rules as consent_rules
from careweave.core.actor import Actor, Role
from careweave.core.errors import NotFound, PolicyDenied

CLINIC = uuid.uuid4()
OTHER_CLINIC = uuid.uuid4()
PATIENT = uuid.uuid4()
REF = policy.PatientRef(PATIENT, CLINIC)


def actor(role: Role | None, *, patient_id=None, clinic_id=CLINIC, user_id=None) -> Actor:
    return Actor(
        user_id=user_id or (uuid.uuid4() if role else None),
        role=role,
        patient_id=patient_id,
        clinic_id=clinic_id,
    )


def on_team(
    role: Role, basis: str = "patient_choice", *, clinic_id=CLINIC
) -> tuple[Actor, policy.PatientRef]:
    """A clinician on the patient's care team, and the patient as policy then sees it."""
    me = actor(role, clinic_id=clinic_id)
    member = consent_rules.Member(str(me.user_id), "therapist", basis, date(2026, 1, 1))
    return me, policy.PatientRef(PATIENT, CLINIC, team=(member,), on=date(2026, 3, 1))


def test_patient_sees_only_their_own_record():
    assert policy.may(actor(Role.PATIENT, patient_id=PATIENT), policy.Action.PATIENT_READ, REF)
    assert not policy.may(actor(Role.PATIENT, patient_id=uuid.uuid4()), policy.Action.PATIENT_READ, REF)


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.PSYCHIATRIST, Role.CARE_MANAGER])
def test_clinicians_read_only_their_care_teams_patients(role):
    me, ref = on_team(role)
    assert policy.may(me, policy.Action.PATIENT_READ, ref)
    assert not policy.may(actor(role), policy.Action.PATIENT_READ, ref)  # same clinic, not on the team
    other, other_ref = on_team(role, clinic_id=OTHER_CLINIC)
    assert not policy.may(other, policy.Action.PATIENT_READ, other_ref)  # a team entry from another clinic
    left = policy.PatientRef(
        PATIENT,
        CLINIC,
        team=(
            consent_rules.Member(
                str(me.user_id), "therapist", "patient_choice", date(2026, 1, 1), date(2026, 2, 1)
            ),
        ),
        on=date(2026, 3, 1),
    )
    assert not policy.may(me, policy.Action.PATIENT_READ, left)  # the membership ended


def test_admins_run_operations_clinic_wide_without_clinical_data():
    assert policy.may(actor(Role.ADMIN), policy.Action.PATIENT_READ, REF)
    assert policy.may(actor(Role.ADMIN), policy.Action.APPOINTMENT_BOOK, REF)
    assert not policy.may(actor(Role.ADMIN, clinic_id=OTHER_CLINIC), policy.Action.PATIENT_READ, REF)
    assert not policy.may(actor(Role.ADMIN, clinic_id=None), policy.Action.PATIENT_READ, REF)


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.PSYCHIATRIST, Role.CARE_MANAGER])
def test_on_call_clinicians_see_safety_alerts_of_any_patient_of_their_clinic(role):
    assert policy.may(actor(role), policy.Action.SAFETY_ALERT_READ, REF)
    assert policy.may(actor(role), policy.Action.SAFETY_ALERT_ACKNOWLEDGE, REF)
    assert not policy.may(actor(role, clinic_id=OTHER_CLINIC), policy.Action.SAFETY_ALERT_READ, REF)


def test_a_team_member_refused_by_consent_gets_the_reason_others_get_not_found():
    referred, _ = on_team(Role.PSYCHIATRIST)
    ref = policy.PatientRef(
        PATIENT,
        CLINIC,
        team=(consent_rules.Member(str(referred.user_id), "prescriber", "referral", date(2026, 1, 1)),),
        on=date(2026, 3, 1),
    )
    with pytest.raises(policy.ConsentRequired, match="not consented"):
        policy.require(referred, policy.Action.SCREENING_READ, ref)
    with pytest.raises(NotFound):
        policy.require(actor(Role.PSYCHIATRIST), policy.Action.SCREENING_READ, ref)
    granted = policy.PatientRef(
        PATIENT,
        CLINIC,
        team=ref.team,
        grants=(consent_rules.Grant("g1", str(referred.user_id), False, frozenset({"screening"})),),
        on=date(2026, 3, 1),
    )
    policy.require(referred, policy.Action.SCREENING_READ, granted)


def test_patients_cannot_list_patients_or_search_audit():
    patient = actor(Role.PATIENT, patient_id=PATIENT)
    assert not policy.may(patient, policy.Action.PATIENT_LIST)
    assert not policy.may(patient, policy.Action.AUDIT_SEARCH)
    assert not policy.may(patient, policy.Action.USER_MANAGE)


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.PSYCHIATRIST, Role.CARE_MANAGER])
def test_only_admins_manage_users_and_search_audit(role):
    assert not policy.may(actor(role), policy.Action.USER_MANAGE)
    assert not policy.may(actor(role), policy.Action.AUDIT_SEARCH)
    assert policy.may(actor(Role.ADMIN), policy.Action.USER_MANAGE)
    assert policy.may(actor(Role.ADMIN), policy.Action.AUDIT_SEARCH)


def test_demographics_updates_by_patient_or_admin_only():
    assert policy.may(actor(Role.PATIENT, patient_id=PATIENT), policy.Action.PATIENT_UPDATE, REF)
    assert policy.may(actor(Role.ADMIN), policy.Action.PATIENT_UPDATE, REF)
    me, ref = on_team(Role.THERAPIST)
    assert not policy.may(me, policy.Action.PATIENT_UPDATE, ref)


def test_access_log_for_the_patient_and_admins():
    assert policy.may(actor(Role.PATIENT, patient_id=PATIENT), policy.Action.PATIENT_ACCESS_LOG_READ, REF)
    assert policy.may(actor(Role.ADMIN), policy.Action.PATIENT_ACCESS_LOG_READ, REF)
    assert not policy.may(actor(Role.PSYCHIATRIST), policy.Action.PATIENT_ACCESS_LOG_READ, REF)


def test_denial_on_patient_data_is_not_found_elsewhere_forbidden():
    with pytest.raises(NotFound):
        policy.require(actor(Role.PATIENT, patient_id=uuid.uuid4()), policy.Action.PATIENT_READ, REF)
    with pytest.raises(PolicyDenied):
        policy.require(actor(Role.THERAPIST), policy.Action.AUDIT_SEARCH)


def test_anonymous_is_refused_system_is_allowed():
    anonymous = Actor(user_id=None, role=None, purpose="authentication")
    assert not anonymous.is_system
    for action in policy.Action:
        assert not policy.may(anonymous, action, REF)
    assert policy.may(Actor.system(), policy.Action.USER_MANAGE)


def test_every_action_has_exactly_one_rule():
    assert set(policy.PATIENT_RULES).isdisjoint(policy.GLOBAL_RULES)
    assert set(policy.Action) == set(policy.PATIENT_RULES) | set(policy.GLOBAL_RULES)


def test_administrators_do_not_see_clinical_intake_or_screenings():
    admin = actor(Role.ADMIN)
    for action in (policy.Action.INTAKE_READ, policy.Action.SCREENING_READ, policy.Action.PATHWAY_READ):
        assert not policy.may(admin, action, REF)


def test_only_treating_clinicians_override_a_pathway():
    for role in (Role.PSYCHIATRIST, Role.THERAPIST):
        me, ref = on_team(role)
        assert policy.may(me, policy.Action.PATHWAY_OVERRIDE, ref)
    me, ref = on_team(Role.CARE_MANAGER, "assigned")
    assert not policy.may(me, policy.Action.PATHWAY_OVERRIDE, ref)
    assert not policy.may(actor(Role.PATIENT, patient_id=PATIENT), policy.Action.PATHWAY_OVERRIDE, REF)
