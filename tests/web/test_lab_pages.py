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
