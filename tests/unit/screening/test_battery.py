"""Which instrument comes next (issue #3; spec §1.1–1.8)."""

from datetime import UTC, datetime, timedelta

from careweave.screening.battery import Taken, next_instrument

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def taken(code, minutes, positive=None, flags=()):
    return Taken(code, T0 + timedelta(minutes=minutes), positive, tuple(flags))


def test_starts_with_phq2():
    assert next_instrument([], {}) == "phq-2"


def test_positive_phq2_leads_to_phq9_negative_skips_it():
    """spec §1.2: PHQ-2 ≥ 3 → full PHQ-9."""
    assert next_instrument([taken("phq-2", 0, True)], {}) == "phq-9"
    assert next_instrument([taken("phq-2", 0, False)], {}) == "gad-2"


def test_item9_positive_goes_straight_to_cssrs():
    """spec §1.1 item-9 rule: same-encounter C-SSRS."""
    done = [taken("phq-2", 0, True), taken("phq-9", 1, True, ["suicide_item_positive"])]
    assert next_instrument(done, {}) == "c-ssrs-screener"
    assert next_instrument([*done, taken("c-ssrs-screener", 2)], {}) == "gad-2"


def test_gad_audit_then_history_driven_instruments():
    """spec §1.4, §1.6, §1.5 (MDQ when mood elevation reported), §1.8 (PCL-5 when trauma reported)."""
    base = [taken("phq-2", 0, False), taken("gad-2", 1, True)]
    assert next_instrument(base, {}) == "gad-7"
    base += [taken("gad-7", 2, True)]
    assert next_instrument(base, {}) == "audit-c"
    base += [taken("audit-c", 3, False)]
    assert next_instrument(base, {}) is None
    assert next_instrument(base, {"mood_elevation": True}) == "mdq"
    assert next_instrument(base, {"bipolar": True}) == "mdq"
    assert next_instrument(base, {"trauma": True}) == "pcl-5"
    assert next_instrument([*base, taken("pcl-5", 4, False)], {"trauma": True}) is None
