"""Lab pages (issue #7): the patient's monitoring page (schedule, results with flags, alerts, enter-a-result
form) and the prescriber's home panels (overdue monitoring, open lab alerts)."""

from __future__ import annotations

from datetime import date, timedelta

from careweave.core.actor import Role
from careweave.identity import service as identity
from careweave.labs import service as labs
from tests.builders import join_team, make_prescription, make_user
from tests.helpers import CSRF_RE, web_login


def test_labs_page_result_alert_and_home_panels(client, session, settings):
    ana = make_user(session, settings, Role.PATIENT, state="NY")
    ben = make_user(session, settings, Role.PSYCHIATRIST, name="Ben Psychiatrist")
    cara = make_user(session, settings, Role.THERAPIST)
    pid = identity.actor_for(session, ana).patient_id
    join_team(session, pid, ben)
    started = date.today() - timedelta(days=10)
    rx = make_prescription(session, patient_id=pid, prescriber=ben, started_on=started)
    labs.start_monitoring(
        session,
        prescription_id=rx.id,
        patient_id=pid,
        protocol="lithium",
        started_on=started,
        actor=identity.actor_for(session, ben),
    )
    session.commit()
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    web_login(client, ben.email)

    home = client.get("/clinician")
    assert "Overdue monitoring" in home.text and "lithium.level" in home.text

    page = client.get(f"/patients/{pid}/labs")
    assert page.status_code == 200, page.text
    assert "Monitoring plans" in page.text and "Lithium level" in page.text and "overdue" in page.text
    token = CSRF_RE.search(page.text).group(1)
    form = {
        "csrf_token": token,
        "loinc": "14334-7",
        "value": "1.7",
        "unit": "mmol/L",
        "observed_at": f"{date.today() - timedelta(days=1)}T08:00",
    }
    saved = client.post(f"/patients/{pid}/labs/results", data=form, follow_redirects=True)
    assert saved.status_code == 200, saved.text[saved.text.find("alert-error") :][:400]
    assert "toxicity threshold" in saved.text and "Acknowledge" in saved.text

    bad = client.post(f"/patients/{pid}/labs/results", data={**form, "value": "lots"})
    assert bad.status_code == 422 and "value" in bad.text

    home = client.get("/clinician")
    assert "Open lab alerts" in home.text
    alert = labs.alerts_for_me(session, identity.actor_for(session, ben))[0].alert
    token = CSRF_RE.search(home.text).group(1)
    ack = client.post(
        f"/lab-alerts/{alert.id}/acknowledge", data={"csrf_token": token}, follow_redirects=False
    )
    assert ack.status_code == 303
    assert "Open lab alerts" not in client.get("/clinician").text

    # a therapist on no team sees no such patient
    client.cookies.clear()
    web_login(client, cara.email)
    assert client.get(f"/patients/{pid}/labs").status_code == 404


def _setup(client, session, settings, protocol="lithium"):  # type: ignore[no-untyped-def]
    ana = make_user(session, settings, Role.PATIENT, state="NY", timezone="America/New_York")
    ben = make_user(session, settings, Role.PSYCHIATRIST)
    pid = identity.actor_for(session, ana).patient_id
    join_team(session, pid, ben)
    started = date.today() - timedelta(days=10)
    rx = make_prescription(session, patient_id=pid, prescriber=ben, code=protocol, started_on=started)
    plan = labs.start_monitoring(
        session,
        prescription_id=rx.id,
        patient_id=pid,
        protocol=protocol,
        started_on=started,
        actor=identity.actor_for(session, ben),
    )
    session.commit()
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    web_login(client, ben.email)
    page = client.get(f"/patients/{pid}/labs")
    return pid, plan, ben, CSRF_RE.search(page.text).group(1), page


def _results(session, pid):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from careweave.labs.models import LabResult

    session.expire_all()
    return session.scalars(select(LabResult).where(LabResult.patient_id == pid)).all()


def test_result_form_refuses_non_finite_values(client, session, settings):
    """Issue #7 review: "nan" was accepted (and a NaN lithium classified "in target")."""
    pid, _plan, _ben, token, _page = _setup(client, session, settings)
    form = {
        "csrf_token": token,
        "loinc": "14334-7",
        "unit": "mmol/L",
        "observed_at": f"{date.today() - timedelta(days=1)}T08:00",
    }
    for bad in ("nan", "NaN", "inf", "-inf", "1e999"):
        r = client.post(f"/patients/{pid}/labs/results", data={**form, "value": bad})
        assert r.status_code == 422, bad
        assert "a finite number" in r.text
    assert _results(session, pid) == []


def test_result_form_reads_the_time_zone(client, session, settings):
    """A typed offset is kept (it was overwritten with UTC); a time without one is the patient's local time."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    pid, _plan, _ben, token, page = _setup(client, session, settings)
    assert "America/New_York" in page.text
    day = date.today() - timedelta(days=2)
    form = {"csrf_token": token, "loinc": "14334-7", "unit": "mmol/L", "value": "0.7"}
    r = client.post(
        f"/patients/{pid}/labs/results",
        data={**form, "observed_at": f"{day}T08:00+02:00"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:500]
    r = client.post(
        f"/patients/{pid}/labs/results", data={**form, "observed_at": f"{day}T09:00"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text[:500]
    got = sorted(
        (x.observed_at if x.observed_at.tzinfo else x.observed_at.replace(tzinfo=UTC)).astimezone(UTC)
        for x in _results(session, pid)
    )
    ny = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    assert got == sorted([datetime(day.year, day.month, day.day, 6, tzinfo=UTC), ny])


def test_ben_checkbox(client, session, settings):
    """The plan's prescriber records benign (ethnic) neutropenia on a clozapine plan from the labs page."""
    from careweave.labs.models import MonitoringPlan

    pid, plan, _ben, token, page = _setup(client, session, settings, "clozapine")
    assert f"/labs/plans/{plan.id}/ben" in page.text and "Benign (ethnic) neutropenia" in page.text
    r = client.post(
        f"/patients/{pid}/labs/plans/{plan.id}/ben",
        data={"csrf_token": token, "ben": "1"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "Benign neutropenia setting saved" in r.text
    session.expire_all()
    assert session.get(MonitoringPlan, plan.id).ben is True
    assert "checked" in r.text.split(f"/labs/plans/{plan.id}/ben")[1][:400]
    r = client.post(
        f"/patients/{pid}/labs/plans/{plan.id}/ben", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    session.expire_all()
    assert session.get(MonitoringPlan, plan.id).ben is False
    # another clinician, or a plan of another patient: refused
    cara = make_user(session, settings, Role.THERAPIST)
    session.commit()
    client.cookies.clear()
    web_login(client, cara.email)
    page = client.get("/clinician")
    token = CSRF_RE.search(page.text).group(1)
    r = client.post(f"/patients/{pid}/labs/plans/{plan.id}/ben", data={"csrf_token": token, "ben": "1"})
    assert r.status_code == 404
    session.expire_all()
    assert session.get(MonitoringPlan, plan.id).ben is False
