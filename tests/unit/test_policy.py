import uuid

import pytest

from careweave import policy
from careweave.core.actor import Actor, Role
from careweave.core.errors import NotFound, PolicyDenied

CLINIC = uuid.uuid4()
OTHER_CLINIC = uuid.uuid4()
PATIENT = uuid.uuid4()
REF = policy.PatientRef(PATIENT, CLINIC)


def actor(role: Role | None, *, patient_id=None, clinic_id=CLINIC) -> Actor:
    return Actor(
        user_id=uuid.uuid4() if role else None, role=role, patient_id=patient_id, clinic_id=clinic_id
    )


def test_patient_sees_only_their_own_record():
    assert policy.may(actor(Role.PATIENT, patient_id=PATIENT), policy.Action.PATIENT_READ, REF)
    assert not policy.may(actor(Role.PATIENT, patient_id=uuid.uuid4()), policy.Action.PATIENT_READ, REF)


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.PSYCHIATRIST, Role.CARE_MANAGER, Role.ADMIN])
def test_staff_read_within_their_clinic_only(role):
    assert policy.may(actor(role), policy.Action.PATIENT_READ, REF)
    assert not policy.may(actor(role, clinic_id=OTHER_CLINIC), policy.Action.PATIENT_READ, REF)
    assert not policy.may(actor(role, clinic_id=None), policy.Action.PATIENT_READ, REF)


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
    assert not policy.may(actor(Role.THERAPIST), policy.Action.PATIENT_UPDATE, REF)


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
    assert policy.may(actor(Role.PSYCHIATRIST), policy.Action.PATHWAY_OVERRIDE, REF)
    assert policy.may(actor(Role.THERAPIST), policy.Action.PATHWAY_OVERRIDE, REF)
    assert not policy.may(actor(Role.CARE_MANAGER), policy.Action.PATHWAY_OVERRIDE, REF)
    assert not policy.may(actor(Role.PATIENT, patient_id=PATIENT), policy.Action.PATHWAY_OVERRIDE, REF)
