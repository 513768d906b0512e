"""Medication pages (issue #7): the prescriber's page with findings inline (spec §6.2 MAOI hard stop, §6.3 boxed
warning), the therapist's read-only view (spec §3), the patient's "My medications" with a taper and a refill
request, the refill queue, the admin formulary page."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.identity import service as identity
from careweave.medications import common, prescribing, rules, tapering
from tests.builders import join_team, make_prescriber, make_user
from tests.helpers import csrf, web_login

NOW = FixedClock(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))


@pytest.fixture
def w(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    client.app.state.clock = NOW
    admin_user = make_user(session, settings, Role.ADMIN)
    admin = identity.actor_for(session, admin_user)
    ana_user = make_user(session, settings, Role.PATIENT, state="NY", birth_date=date(2003, 1, 1))  # 23
    ana = identity.actor_for(session, ana_user)
    ben, ben_actor, _ = make_prescriber(session, settings, admin, clock=NOW)
    cara, _, _ = make_prescriber(session, settings, admin, credential="LCSW", role=Role.THERAPIST, clock=NOW)
    join_team(session, ana.patient_id, ben)
    join_team(session, ana.patient_id, cara)
    session.commit()
    return {
        "pid": ana.patient_id,
        "ana": ana_user,
        "ana_actor": ana,
        "ben": ben,
        "ben_actor": ben_actor,
        "cara": cara,
        "admin": admin_user,
    }


def form(pid, medication="sertraline", **kw):  # type: ignore[no-untyped-def]
    data = {
        "medication": medication,
        "strength": "50 mg",
        "dose": "50",
        "unit": "mg",
        "route": "oral",
        "frequency": "once_daily",
        "quantity": "30",
        "refills": "0",
        "days_supply": "30",
    }
    data.update(kw)
    return data


def test_prescriber_page_shows_boxed_warning_and_blocks_phenelzine(client, w, session):
    web_login(client, w["ben"].email)
    page = client.get(f"/patients/{w['pid']}/medications")
    assert page.status_code == 200 and "New prescription" in page.text
    token = csrf(client, f"/patients/{w['pid']}/medications")
    r = client.post(
        f"/patients/{w['pid']}/medications/prescriptions",
        data={"csrf_token": token, **form(w["pid"])},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "sertraline" in r.text and "draft" in r.text
    rx = prescribing.list_prescriptions(session, w["ben_actor"], w["pid"], clock=NOW)[0]
    findings = [f.code for f in prescribing.findings_of(session, rx.id)]
    assert findings == ["boxed_antidepressant_suicidality"]  # §6.3: aged 23
    r = client.post(f"/prescriptions/{rx.id}/sign", data={"csrf_token": token}, follow_redirects=True)
    assert "active" in r.text
    r = client.post(
        f"/patients/{w['pid']}/medications/prescriptions",
        data={"csrf_token": token, **form(w["pid"], "phenelzine", dose="15", frequency="three_times_daily")},
    )
    assert r.status_code == 409 and "maoi_serotonergic" in r.text and "contraindicated" in r.text


def test_therapist_page_is_read_only_and_refuses_prescribing(client, w):
    web_login(client, w["cara"].email)
    page = client.get(f"/patients/{w['pid']}/medications")
    assert page.status_code == 200 and "Read only" in page.text and "New prescription" not in page.text
    token = csrf(client, f"/patients/{w['pid']}/medications")
    r = client.post(
        f"/patients/{w['pid']}/medications/prescriptions", data={"csrf_token": token, **form(w["pid"])}
    )
    assert r.status_code == 403 and "Therapists cannot prescribe" in r.text


def test_patient_sees_taper_and_requests_a_refill_which_reaches_the_queue(client, w, session):
    data = common.PrescriptionIn(
        patient_id=w["pid"],
        medication="sertraline",
        strength="50 mg",
        sig=common.SigIn(50, "mg", "oral", "once_daily"),
        quantity=30,
        refills=0,
        days_supply=30,
    )
    rx, _ = prescribing.create_prescription(session, w["ben_actor"], data, clock=NOW)
    prescribing.sign_prescription(session, w["ben_actor"], rx.id, clock=NOW)
    tapering.create_taper(
        session,
        w["ben_actor"],
        rx.id,
        [rules.TaperStep(25, "mg", 7), rules.TaperStep(12.5, "mg", 7)],
        clock=NOW,
    )
    session.commit()
    web_login(client, w["ana"].email)
    page = client.get("/my/medications")
    assert "Today&#39;s dose: 25 mg" in page.text or "Today's dose: 25 mg" in page.text
    assert "December 4, 2026: 12.5 mg" in page.text
    token = csrf(client, "/my/medications")
    r = client.post(
        f"/my/medications/{rx.id}/refill",
        data={"csrf_token": token, "note": "almost out"},
        follow_redirects=True,
    )
    assert "sent to your prescriber" in r.text
    client.post("/logout", data={"csrf_token": token})
    client.cookies.clear()
    web_login(client, w["ben"].email)
    queue = client.get("/refills")
    assert "almost out" in queue.text


def test_admin_formulary_page(client, w):
    web_login(client, w["admin"].email)
    page = client.get("/admin/formulary")
    assert page.status_code == 200 and "sertraline" in page.text and "36437" in page.text
    token = csrf(client, "/admin/formulary")
    r = client.post(
        "/admin/formulary",
        data={
            "csrf_token": token,
            "code": "test_drug",
            "ingredient": "testamine",
            "class": "ssri",
            "tags": "antidepressant, serotonergic",
            "source": "test source",
        },
        follow_redirects=True,
    )
    assert r.status_code == 200 and "testamine" in r.text


@pytest.mark.parametrize(
    ("field", "value"), [("days_supply", "nan"), ("refills", "1e400"), ("dose", "nan"), ("quantity", "inf")]
)
def test_non_finite_numbers_on_the_prescription_form_are_field_errors(client, w, field, value):
    web_login(client, w["ben"].email)
    token = csrf(client, f"/patients/{w['pid']}/medications")
    r = client.post(
        f"/patients/{w['pid']}/medications/prescriptions",
        data={"csrf_token": token, **form(w["pid"], **{field: value})},
    )
    assert r.status_code == 422 and "finite number" in r.text


def test_non_finite_taper_dose_is_a_field_error(client, w, session):
    data = common.PrescriptionIn(
        patient_id=w["pid"],
        medication="sertraline",
        strength="50 mg",
        sig=common.SigIn(50, "mg", "oral", "once_daily"),
        quantity=30,
        refills=0,
        days_supply=30,
    )
    rx, _ = prescribing.create_prescription(session, w["ben_actor"], data, clock=NOW)
    prescribing.sign_prescription(session, w["ben_actor"], rx.id, clock=NOW)
    session.commit()
    web_login(client, w["ben"].email)
    token = csrf(client, f"/patients/{w['pid']}/medications")
    for dose, days in (("nan", "7"), ("25", "1e400")):
        r = client.post(
            f"/prescriptions/{rx.id}/taper",
            data={"csrf_token": token, "dose_0": dose, "unit_0": "mg", "days_0": days},
        )
        assert r.status_code == 422 and "finite number" in r.text
