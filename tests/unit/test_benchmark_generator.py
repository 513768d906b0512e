"""The benchmark's synthetic directory (benchmarks/generate.py) is valid and deterministic (no database)."""

from __future__ import annotations

from collections import Counter

from benchmarks.generate import PRESCRIBERS, STATES, DirectoryGenerator

from careweave.directory import rules


def _rows(providers: int = 200, seed: int = 7) -> dict[str, list[dict]]:
    gen = DirectoryGenerator(providers, seed)
    out: dict[str, list[dict]] = {}
    for chunk in gen.chunks(size=64):
        for table, rows in chunk.items():
            out.setdefault(table, []).extend(rows)
    return out


def test_same_seed_same_rows() -> None:
    assert _rows() == _rows()
    assert _rows(seed=8)["providers"] != _rows()["providers"]


def test_rows_are_valid_directory_facts() -> None:
    gen = DirectoryGenerator(200, 7)
    assert len(gen.plans) == 200
    assert len({(p.payer, p.name) for p in gen.plans}) == 200
    rows = _rows()
    providers = {p["id"]: p for p in rows["providers"]}
    assert len(providers) == 200
    assert len({p["npi"] for p in providers.values()}) == 200
    by_provider: dict[object, Counter[str]] = {}
    for p in providers.values():
        spec = rules.credential_spec(p["credential"])
        assert spec is not None and spec.code == p["credential"]
        assert rules.npi_is_valid(p["npi"])
        assert p["offers_therapy"] or p["offers_medication_management"]
        if p["credential"] in PRESCRIBERS:
            assert p["offers_medication_management"]
        assert 0 <= p["active_patients"] <= p["capacity"]
    mismatched = 0
    for lic in rows["licenses"]:
        assert lic["state"] in STATES
        spec = rules.credential_spec(providers[lic["provider_id"]]["credential"])
        mismatched += lic["license_type"] not in spec.license_types  # type: ignore[union-attr]
        by_provider.setdefault(lic["provider_id"], Counter())[lic["state"]] += 1
    assert mismatched <= 3  # a rare type that no longer fits the credential (0.3 %)
    assert all(1 <= sum(c.values()) <= 3 and max(c.values()) == 1 for c in by_provider.values())
    assert set(by_provider) == set(providers)
    for priv in rows["compact_privileges"]:
        spec = rules.credential_spec(providers[priv["provider_id"]]["credential"])
        assert priv["compact"] in spec.compacts  # type: ignore[union-attr]
    for dea in rows["dea_registrations"]:
        assert providers[dea["provider_id"]]["credential"] in PRESCRIBERS
    plan_ids = {p.id for p in gen.plans}
    assert {n["plan_id"] for n in rows["provider_networks"]} <= plan_ids
    # Every row converts into the rules' facts (their constructors validate states, statuses and dates).
    for lic in rows["licenses"]:
        rules.LicenseFact(
            lic["state"], lic["license_type"], lic["number"], lic["status"], lic["issued"], lic["expires"]
        )
    for priv in rows["compact_privileges"]:
        rules.CompactPrivilege(
            priv["compact"], priv["state"], priv["status"], priv["issued"], priv["expires"]
        )
    for dea in rows["dea_registrations"]:
        rules.DeaRegistration(dea["state"], frozenset(dea["schedules"]), dea["expires"])
    languages = Counter(row["language"] for row in rows["provider_languages"])
    assert languages["en"] >= 190
