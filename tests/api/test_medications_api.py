"""Medications over the API (issue #7). Spec rows: clinical-spec.md §3 (prescriber capability), §4.3
(DEA, telemedicine rules), §6.2 (interactions), §6.3 (boxed warnings)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from careweave.audit.models import AuditEvent
from careweave.consent import service as consent
from careweave.core.actor import Role
from careweave.core.clock import FixedClock
from careweave.identity import service as identity
from careweave.medications import rules
from careweave.medications.models import PharmacyOutbox, PrescriptionFinding
from tests.builders import join_team, make_prescriber, make_user
from tests.helpers import bearer

NOW = FixedClock(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))


@pytest.fixture
def w(client, session, settings):
    client.app.state.settings = settings.model_copy(update={"mfa_required": False})
    client.app.state.clock = NOW
    admin_user = make_user(session, settings, Role.ADMIN)
    admin = identity.actor_for(session, admin_user)
    ana_user = make_user(session, settings, Role.PATIENT, state="NY", birth_date=date(1996, 1, 1))
    ana = identity.actor_for(session, ana_user)
    ben, _, _ = make_prescriber(
        session, settings, admin, dea={"NY": ["2", "2N", "3", "3N", "4", "5"]}, clock=NOW
    )
    ohio, _, _ = make_prescriber(session, settings, admin, states=("OH",), clock=NOW)
    nina, _, _ = make_prescriber(
        session,
        settings,
        admin,
        credential="PMHNP",
        license_type="NP",
        dea={"NY": ["2", "2N", "3", "3N", "4", "5"]},
        clock=NOW,
    )
    nodea, _, _ = make_prescriber(session, settings, admin, clock=NOW)
    cara, _, _ = make_prescriber(session, settings, admin, credential="LCSW", role=Role.THERAPIST, clock=NOW)
    for u in (ben, ohio, nina, nodea, cara):
        join_team(session, ana.patient_id, u)
    session.commit()
    users = {
        "ana": ana_user,
        "ben": ben,
        "ohio": ohio,
        "nina": nina,
        "nodea": nodea,
        "cara": cara,
        "dee": admin_user,
    }
    return {
        "pid": str(ana.patient_id),
        "h": {k: bearer(client, u.email) for k, u in users.items()},
        "users": users,
    }


def rx(pid, medication="sertraline", **kw):  # type: ignore[no-untyped-def]
    body = {
        "patient_id": pid,
        "medication": medication,
        "strength": "50 mg",
        "sig": {"dose": 50, "unit": "mg", "route": "oral", "frequency": "once_daily"},
        "quantity": 30,
        "refills": 1,
        "days_supply": 30,
    }
    body.update(kw)
    return body


def test_formulary_lists_code_rxnorm_class_schedule_and_admin_adds(client, w):
    r = client.get("/api/v1/formulary", headers=w["h"]["ben"])
    assert r.status_code == 200
    sert = next(e for e in r.json() if e["code"] == "sertraline")
    assert (sert["rxnorm"], sert["drug_class"], sert["schedule"]) == ("36437", "ssri", None)
    new = {
        "code": "esketamine_test",
        "ingredient": "esketamine",
        "class": "antidepressant_other",
        "schedule": "C-III",
        "tags": ["antidepressant"],
        "sources": ["clinical-spec.md §4.3 [UNVERIFIED]"],
    }
    assert client.post("/api/v1/formulary", json=new, headers=w["h"]["ben"]).status_code == 403
    r = client.post("/api/v1/formulary", json=new, headers=w["h"]["dee"])
    assert r.status_code == 201, r.text
    assert r.json()["origin"] == "admin"
    assert (
        client.post("/api/v1/formulary", json=new, headers=w["h"]["dee"]).status_code == 422
    )  # duplicate code


def test_psychiatrist_prescribes_signs_and_it_becomes_active_with_a_printable_pdf(client, w, session):
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"]), headers=w["h"]["ben"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "draft" and body["findings"] == []  # aged 30: no boxed-warning notice (§6.3)
    signed = client.post(f"/api/v1/prescriptions/{body['id']}/sign", headers=w["h"]["ben"])
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "active" and signed.json()["authority_rule"] == "non_controlled"
    out = session.scalars(select(PharmacyOutbox)).one()
    assert out.adapter == "print" and out.pdf.startswith(b"%PDF") and "sertraline" in out.html
    listed = client.get(f"/api/v1/patients/{w['pid']}/prescriptions", headers=w["h"]["ben"]).json()
    assert [p["status"] for p in listed] == ["active"]
    stopped = client.post(
        f"/api/v1/prescriptions/{body['id']}/stop", json={"reason": "side effects"}, headers=w["h"]["ben"]
    )
    assert stopped.json()["status"] == "stopped"


def test_therapist_gets_403_with_the_reason(client, w):
    # §3: LCSW/LPC/LMFT do not prescribe
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"]), headers=w["h"]["cara"])
    assert r.status_code == 403
    assert "Therapists cannot prescribe" in r.json()["error"]["message"]


def test_psychiatrist_not_licensed_in_the_patients_state_gets_403(client, w, session):
    # §3 / §4.1: active licence in the patient's state
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"]), headers=w["h"]["ohio"])
    assert r.status_code == 403
    assert "New York" in r.json()["error"]["message"]
    denied = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "prescription.denied").order_by(AuditEvent.seq)
    ).all()
    assert denied and denied[-1].details["reason_code"] == "not_prescriber"


def test_pmhnp_prescribes_non_controlled_but_not_schedule_ii_when_state_data_is_unknown(client, w):
    # §3 PMHNP row: prescribes in all states; "some states restrict Schedule II" (no per-state data -> refused)
    assert client.post("/api/v1/prescriptions", json=rx(w["pid"]), headers=w["h"]["nina"]).status_code == 201
    r = client.post(
        "/api/v1/prescriptions",
        json=rx(
            w["pid"],
            "methylphenidate",
            refills=0,
            sig={"dose": 10, "unit": "mg", "route": "oral", "frequency": "twice_daily"},
        ),
        headers=w["h"]["nina"],
    )
    assert r.status_code == 403


def test_c_ii_without_dea_in_that_state_is_refused_and_with_dea_records_the_rule(client, w, session):
    # §3/§4.3: DEA registration valid in the patient's state; Fourth Temporary Extension in force (2026)
    body = rx(
        w["pid"],
        "methylphenidate",
        refills=0,
        sig={"dose": 10, "unit": "mg", "route": "oral", "frequency": "twice_daily"},
    )
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["nodea"])
    assert r.status_code == 403 and "DEA" in r.json()["error"]["message"]
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/prescriptions/{r.json()['id']}", headers=w["h"]["ben"]).json()
    assert got["authority_rule"] == "fourth_temporary_extension" and got["schedule"] == "C-II"


def test_buprenorphine_without_a_pdmp_attestation_is_refused(client, w):
    # §4.3 buprenorphine final rule: PDMP review recorded with date/time
    body = rx(
        w["pid"],
        "buprenorphine",
        strength="8 mg",
        sig={"dose": 8, "unit": "mg", "route": "sublingual", "frequency": "once_daily"},
    )
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 403 and "PDMP" in r.json()["error"]["message"]
    body["pdmp_reviewed_at"] = "2026-11-27T14:30:00Z"
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 201, r.text
    got = client.get(f"/api/v1/prescriptions/{r.json()['id']}", headers=w["h"]["ben"]).json()
    assert got["authority_rule"] == "buprenorphine_telemedicine_2025" and got["pdmp_reviewed_at"]


def test_maoi_with_an_outside_ssri_is_409_with_findings(client, w, session):
    # §6.2 MAOI + serotonergic: contraindicated (the outside medication counts)
    r = client.post(
        f"/api/v1/patients/{w['pid']}/medications",
        json={"outside_medications": [{"name": "Prozac", "formulary_code": "fluoxetine"}]},
        headers=w["h"]["ana"],
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/prescriptions",
        json=rx(
            w["pid"],
            "phenelzine",
            strength="15 mg",
            sig={"dose": 15, "unit": "mg", "route": "oral", "frequency": "three_times_daily"},
        ),
        headers=w["h"]["ben"],
    )
    assert r.status_code == 409
    assert {"code": "maoi_serotonergic", "severity": "contraindicated"}.items() <= r.json()["findings"][
        0
    ].items()
    assert "§6.2" in r.json()["findings"][0]["source"]
    blocked = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "prescription.blocked").order_by(AuditEvent.seq)
    ).all()
    assert blocked and "maoi_serotonergic" in blocked[-1].details["findings"]


def test_major_finding_needs_an_override_reason_which_is_stored(client, w, session):
    # §6.2 lithium + NSAIDs: avoid -> major
    client.post(
        f"/api/v1/patients/{w['pid']}/medications",
        json={"outside_medications": [{"name": "Advil", "formulary_code": "ibuprofen"}]},
        headers=w["h"]["ana"],
    )
    body = rx(
        w["pid"],
        "lithium_carbonate",
        strength="300 mg",
        sig={"dose": 300, "unit": "mg", "route": "oral", "frequency": "three_times_daily"},
    )
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "override_reasons.lithium_nsaid"
    body["override_reasons"] = {"lithium_nsaid": "Ibuprofen stopped today; level in 5 days"}
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 201, r.text
    f = session.scalars(select(PrescriptionFinding).where(PrescriptionFinding.code == "lithium_nsaid")).one()
    assert f.override_reason.startswith("Ibuprofen") and f.overridden_by == w["users"]["ben"].id


def test_boxed_warning_notice_for_a_patient_aged_24(client, w, session, settings):
    young = make_user(
        session, settings, Role.PATIENT, state="NY", birth_date=date(2002, 6, 1)
    )  # 24 on 27 Nov 2026
    join_team(session, identity.actor_for(session, young).patient_id, w["users"]["ben"])
    session.commit()
    pid = str(identity.actor_for(session, young).patient_id)
    r = client.post("/api/v1/prescriptions", json=rx(pid), headers=w["h"]["ben"])
    assert r.status_code == 201
    assert [f["code"] for f in r.json()["findings"]] == ["boxed_antidepressant_suicidality"]


def test_bad_input_names_the_field(client, w):
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"], "not-a-drug"), headers=w["h"]["ben"])
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "medication"
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"], days_supply=0), headers=w["h"]["ben"])
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "days_supply"
    r = client.post(
        "/api/v1/prescriptions",
        json=rx(w["pid"], sig={"dose": 50, "unit": "mg", "route": "oral", "frequency": "sometimes"}),
        headers=w["h"]["ben"],
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "sig.frequency"


def test_unloadable_interaction_data_refuses_prescribing(client, w, monkeypatch):
    def broken():
        raise rules.CheckDataUnavailable("interactions.json: cannot be read (OSError)")

    monkeypatch.setattr(rules, "load_check_rules", broken)
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"]), headers=w["h"]["ben"])
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "medications.checks_unavailable"


def test_taper_refill_flow_and_therapist_consent(client, w, session):
    rid = client.post("/api/v1/prescriptions", json=rx(w["pid"]), headers=w["h"]["ben"]).json()["id"]
    client.post(f"/api/v1/prescriptions/{rid}/sign", headers=w["h"]["ben"])
    r = client.post(
        f"/api/v1/prescriptions/{rid}/taper",
        json={"steps": [{"dose": 25, "unit": "mg", "days": 14}, {"dose": 12.5, "unit": "mg", "days": 7}]},
        headers=w["h"]["ben"],
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert [(s["start"], s["end"]) for s in t["steps"]] == [
        ("2026-11-27", "2026-12-10"),
        ("2026-12-11", "2026-12-17"),
    ]
    assert t["today"]["dose"] == 25 and [s["number"] for s in t["upcoming"]] == [2]
    mine = client.get(f"/api/v1/patients/{w['pid']}/tapers", headers=w["h"]["ana"]).json()
    assert mine[0]["today"]["dose"] == 25
    # the therapist sees the plan only with the patient's consent for medications
    assert client.get(f"/api/v1/patients/{w['pid']}/tapers", headers=w["h"]["cara"]).status_code == 403
    ana = identity.actor_for(session, w["users"]["ana"])
    grant = consent.GrantIn(
        grantee_user_id=w["users"]["cara"].id, care_team=False, categories=("medications",)
    )
    consent.grant(session, ana, ana.patient_id, grant, clock=NOW)
    session.commit()
    assert client.get(f"/api/v1/patients/{w['pid']}/tapers", headers=w["h"]["cara"]).status_code == 200
    # refill: patient -> prescriber's queue -> approve
    req = client.post(
        f"/api/v1/prescriptions/{rid}/refill-requests", json={"note": "running low"}, headers=w["h"]["ana"]
    )
    assert req.status_code == 201, req.text
    queue = client.get("/api/v1/refill-requests", headers=w["h"]["ben"]).json()
    assert [q["id"] for q in queue] == [req.json()["id"]]
    d = client.post(
        f"/api/v1/refill-requests/{req.json()['id']}/decision", json={"approve": True}, headers=w["h"]["ben"]
    )
    assert d.json()["status"] == "approved"
    assert client.get("/api/v1/refill-requests", headers=w["h"]["ben"]).json() == []
    assert client.get(f"/api/v1/prescriptions/{rid}", headers=w["h"]["ben"]).json()["refills"] == 2


def test_lithium_starts_real_monitoring_a_dose_change_adds_a_level_and_stopping_cancels(client, w):
    """Spec §6.4 (lithium, NICE CG185 via NHS SPS): starting lithium creates the dated monitoring orders; a dose
    change adds a level one week later; stopping the prescription cancels what is still open."""
    body = rx(
        w["pid"],
        "lithium_carbonate",
        strength="300 mg",
        sig={"dose": 300, "unit": "mg", "route": "oral", "frequency": "three_times_daily"},
    )
    rid = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"]).json()["id"]
    assert client.post(f"/api/v1/prescriptions/{rid}/sign", headers=w["h"]["ben"]).status_code == 200
    orders = client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ben"]).json()
    assert orders, "activating lithium instantiates its monitoring protocol"
    open_before = [o for o in orders if o["status"] == "ordered"]
    r = client.post(
        f"/api/v1/prescriptions/{rid}/dose",
        json={"dose": 300, "unit": "mg", "frequency": "four_times_daily"},
        headers=w["h"]["ben"],
    )
    assert r.status_code == 200, r.text
    after = client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ben"]).json()
    assert any(o.get("reason") == "dose_change" for o in after), after[:3]
    stop = client.post(
        f"/api/v1/prescriptions/{rid}/stop", json={"reason": "Side effects"}, headers=w["h"]["ben"]
    )
    assert stop.status_code == 200, stop.text
    final = client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ben"]).json()
    assert open_before and not [o for o in final if o["status"] == "ordered"]


# ------------------------------------------------------------------ review fixes (issue #7 follow-up)


def _signed(client, w, medication="sertraline", who="ben", **kw):  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"], medication, **kw), headers=w["h"][who])
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert client.post(f"/api/v1/prescriptions/{rid}/sign", headers=w["h"][who]).status_code == 200
    return rid


BUP = {
    "strength": "8 mg",
    "sig": {"dose": 8, "unit": "mg", "route": "sublingual", "frequency": "once_daily"},
}


def test_buprenorphine_supply_limits_count_refills(client, w):
    # §4.3: initial supply at most 6 calendar months in total; PDMP unavailable -> a 7-day supply at a time
    long = rx(
        w["pid"], "buprenorphine", days_supply=180, refills=5, pdmp_reviewed_at="2026-11-27T14:30:00Z", **BUP
    )
    r = client.post("/api/v1/prescriptions", json=long, headers=w["h"]["ben"])
    assert r.status_code == 403 and "refills included" in r.json()["error"]["message"]
    week = rx(w["pid"], "buprenorphine", days_supply=7, refills=5, pdmp_unavailable=True, **BUP)
    r = client.post("/api/v1/prescriptions", json=week, headers=w["h"]["ben"])
    assert r.status_code == 403 and "without refills" in r.json()["error"]["message"]
    stale = rx(w["pid"], "buprenorphine", refills=0, pdmp_reviewed_at="2026-10-01T09:00:00Z", **BUP)
    assert client.post("/api/v1/prescriptions", json=stale, headers=w["h"]["ben"]).status_code == 403
    future = rx(w["pid"], "buprenorphine", refills=0, pdmp_reviewed_at="2026-11-29T09:00:00Z", **BUP)
    assert client.post("/api/v1/prescriptions", json=future, headers=w["h"]["ben"]).status_code == 403


def test_c_iii_iv_refills_above_five_are_refused(client, w):
    # product rule from 21 CFR 1306.22(a): Schedule III/IV at most five refills
    body = rx(
        w["pid"],
        "lorazepam",
        strength="1 mg",
        sig={"dose": 1, "unit": "mg", "route": "oral", "frequency": "once_daily"},
        refills=6,
    )
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "refills"


def test_dose_change_and_taper_need_authority_and_a_checked_dose(client, w, session):
    rid = _signed(client, w)
    # Ohio-only psychiatrist on the team: no authority in NY (§3, §4.1)
    dose = {"dose": 100, "unit": "mg", "frequency": "once_daily"}
    r = client.post(f"/api/v1/prescriptions/{rid}/dose", json=dose, headers=w["h"]["ohio"])
    assert r.status_code == 403, r.text
    steps = {"steps": [{"dose": 25, "unit": "mg", "days": 7}]}
    assert (
        client.post(f"/api/v1/prescriptions/{rid}/taper", json=steps, headers=w["h"]["ohio"]).status_code
        == 403
    )
    huge = {"steps": [{"dose": 4000, "unit": "mg", "days": 7}, {"dose": 25, "unit": "mg", "days": 7}]}
    r = client.post(f"/api/v1/prescriptions/{rid}/taper", json=huge, headers=w["h"]["ben"])
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "steps.0.dose"
    other_unit = {"steps": [{"dose": 25, "unit": "tablet", "days": 7}]}
    r = client.post(f"/api/v1/prescriptions/{rid}/taper", json=other_unit, headers=w["h"]["ben"])
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "steps.0.unit"
    assert (
        client.post(f"/api/v1/prescriptions/{rid}/taper", json=steps, headers=w["h"]["ben"]).status_code
        == 201
    )


def test_dose_check_cannot_be_skipped_by_changing_the_unit(client, w):
    body = rx(w["pid"], sig={"dose": 5000, "unit": "milligrams", "route": "oral", "frequency": "once_daily"})
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 422 and [f["field"] for f in r.json()["error"]["fields"]] == ["sig.unit"]
    body["sig"]["unit"] = "g"  # 5,000 g: converted and checked
    r = client.post("/api/v1/prescriptions", json=body, headers=w["h"]["ben"])
    assert r.status_code == 422 and r.json()["findings"][0]["code"] == "dose_above_range"
    rid = _signed(client, w)
    r = client.post(
        f"/api/v1/prescriptions/{rid}/dose",
        json={"dose": 5000, "unit": "milligrams", "frequency": "once_daily"},
        headers=w["h"]["ben"],
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "unit"


def test_free_text_outside_medication_is_mapped_or_flagged(client, w):
    # §6.2 MAOI + serotonergic (tramadol): the reported name maps to the formulary entry
    r = client.post(
        f"/api/v1/patients/{w['pid']}/medications",
        json={"outside_medications": [{"name": "Tramadol"}, {"name": "Ultram"}, {"name": "Grandma's tonic"}]},
        headers=w["h"]["ana"],
    )
    assert r.status_code == 201, r.text
    codes = {o["name"]: o["formulary_code"] for o in r.json()["outside_medications"]}
    assert codes == {"Tramadol": "tramadol", "Ultram": "tramadol", "Grandma's tonic": None}
    r = client.post(
        "/api/v1/prescriptions",
        json=rx(
            w["pid"],
            "phenelzine",
            strength="15 mg",
            sig={"dose": 15, "unit": "mg", "frequency": "three_times_daily"},
        ),
        headers=w["h"]["ben"],
    )
    assert r.status_code == 409 and r.json()["findings"][0]["code"] == "maoi_serotonergic"
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"]), headers=w["h"]["ben"])
    assert r.status_code == 201, r.text
    unchecked = [f for f in r.json()["findings"] if f["code"] == "unchecked_outside_medication"]
    assert (
        unchecked and unchecked[0]["severity"] == "moderate" and "Grandma's tonic" in unchecked[0]["message"]
    )


def test_reconciliation_stop_and_change_go_through_the_prescription_transitions(client, w, session):
    body = rx(
        w["pid"],
        "lithium_carbonate",
        strength="300 mg",
        sig={"dose": 300, "unit": "mg", "route": "oral", "frequency": "three_times_daily"},
    )
    rid = _signed(
        client,
        w,
        **{k: v for k, v in body.items() if k not in ("patient_id", "medication")},
        medication="lithium_carbonate",
    )
    url = f"/api/v1/patients/{w['pid']}/medication-reconciliations"
    change = {
        "items": [
            {"kind": "prescription", "id": rid, "action": "change", "dose": 300, "frequency": "twice_daily"}
        ]
    }
    r = client.post(url, json=change, headers=w["h"]["ben"])
    assert r.status_code == 201, r.text
    orders = client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ben"]).json()
    assert any(o.get("reason") == "dose_change" for o in orders)
    assert (
        client.get(f"/api/v1/prescriptions/{rid}", headers=w["h"]["ben"]).json()["sig"]["frequency"]
        == "twice_daily"
    )
    stop = {"items": [{"kind": "prescription", "id": rid, "action": "stop", "note": "remission"}]}
    assert client.post(url, json=stop, headers=w["h"]["ben"]).status_code == 201
    final = client.get(f"/api/v1/patients/{w['pid']}/lab-orders", headers=w["h"]["ben"]).json()
    assert not [o for o in final if o["status"] == "ordered"]
    stopped = session.scalars(select(AuditEvent).where(AuditEvent.action == "prescription.stopped")).all()
    assert [str(e.entity_id) for e in stopped] == [rid]
    bad = {"items": [], "appointment_id": "00000000-0000-0000-0000-000000000001"}
    r = client.post(url, json=bad, headers=w["h"]["ben"])
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "appointment_id"


def test_therapist_without_medications_consent_cannot_write_facts(client, w, session):
    from careweave.medications.models import MedicationProfile, OutsideMedication

    body = {"outside_medications": [{"name": "sertraline"}], "profile": {"pregnancy_status": "pregnant"}}
    r = client.post(f"/api/v1/patients/{w['pid']}/medications", json=body, headers=w["h"]["cara"])
    assert r.status_code == 403
    session.expire_all()
    assert session.scalars(select(OutsideMedication)).all() == []
    assert session.scalars(select(MedicationProfile)).all() == []
    ana = identity.actor_for(session, w["users"]["ana"])
    grant = consent.GrantIn(
        grantee_user_id=w["users"]["cara"].id, care_team=False, categories=("medications",)
    )
    consent.grant(session, ana, ana.patient_id, grant, clock=NOW)
    session.commit()
    r = client.post(f"/api/v1/patients/{w['pid']}/medications", json=body, headers=w["h"]["cara"])
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("stopped", ["venlafaxine", "clomipramine"])
def test_maoi_after_a_stopped_snri_or_tca_needs_the_washout(client, w, stopped):
    # §6.2 row 'MAOI + serotonergic drugs' (SSRIs, SNRIs, TCAs esp. clomipramine): 2-week washout before an MAOI
    sig = {"dose": 75, "unit": "mg", "route": "oral", "frequency": "once_daily"}
    rid = _signed(client, w, stopped, strength="75 mg", sig=sig)
    client.post(f"/api/v1/prescriptions/{rid}/stop", json={"reason": "switching"}, headers=w["h"]["ben"])
    r = client.post(
        "/api/v1/prescriptions",
        json=rx(
            w["pid"],
            "phenelzine",
            strength="15 mg",
            sig={"dose": 15, "unit": "mg", "frequency": "three_times_daily"},
        ),
        headers=w["h"]["ben"],
    )
    assert r.status_code == 409, r.text
    assert "washout_serotonergic_before_maoi" in [f["code"] for f in r.json()["findings"]]


@pytest.mark.parametrize("medication", ["ibuprofen", "linezolid", "meperidine", "tramadol"])
def test_interaction_only_entries_are_not_prescribable(client, w, medication):
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"], medication), headers=w["h"]["ben"])
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "medication"


def test_admin_entry_class_implies_tags_and_must_be_known(client, w):
    entry = {
        "code": "ssri_test",
        "ingredient": "testraline",
        "class": "ssri",
        "sources": ["test entry"],
    }
    assert client.post("/api/v1/formulary", json=entry, headers=w["h"]["dee"]).status_code == 201
    assert (
        client.post(
            "/api/v1/formulary", json={**entry, "code": "x_test", "class": "made_up"}, headers=w["h"]["dee"]
        ).status_code
        == 422
    )
    client.post(
        f"/api/v1/patients/{w['pid']}/medications",
        json={"outside_medications": [{"name": "testraline"}]},
        headers=w["h"]["ana"],
    )
    r = client.post(
        "/api/v1/prescriptions",
        json=rx(
            w["pid"],
            "phenelzine",
            strength="15 mg",
            sig={"dose": 15, "unit": "mg", "frequency": "three_times_daily"},
        ),
        headers=w["h"]["ben"],
    )
    assert r.status_code == 409 and r.json()["findings"][0]["code"] == "maoi_serotonergic"


def test_non_finite_numbers_are_422_not_500(client, w):
    import json as _json

    body = rx(w["pid"])
    body["sig"]["dose"] = float("nan")
    r = client.post(
        "/api/v1/prescriptions",
        content=_json.dumps(body),
        headers={**w["h"]["ben"], "content-type": "application/json"},
    )
    assert r.status_code == 422
    rid = _signed(client, w)
    r = client.post(
        f"/api/v1/prescriptions/{rid}/taper",
        content='{"steps": [{"dose": NaN, "unit": "mg", "days": 7}]}',
        headers={**w["h"]["ben"], "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_sign_blocked_and_reads_are_audited(client, w, session):
    r = client.post("/api/v1/prescriptions", json=rx(w["pid"]), headers=w["h"]["ben"])
    rid = r.json()["id"]
    client.post(
        f"/api/v1/patients/{w['pid']}/medications",
        json={"outside_medications": [{"name": "Nardil"}]},
        headers=w["h"]["ana"],
    )
    assert client.post(f"/api/v1/prescriptions/{rid}/sign", headers=w["h"]["ben"]).status_code == 409
    client.get(f"/api/v1/prescriptions/{rid}", headers=w["h"]["ben"])
    client.get(f"/api/v1/patients/{w['pid']}/prescriptions", headers=w["h"]["ben"])
    client.get(f"/api/v1/patients/{w['pid']}/tapers", headers=w["h"]["ben"])
    session.expire_all()
    actions = [e.action for e in session.scalars(select(AuditEvent))]
    blocked = session.scalars(select(AuditEvent).where(AuditEvent.action == "prescription.blocked")).all()
    assert [str(e.entity_id) for e in blocked] == [rid] and blocked[0].details["at"] == "sign"
    for action in ("prescription.viewed", "prescription.list_viewed", "medication.tapers_viewed"):
        assert action in actions, action
