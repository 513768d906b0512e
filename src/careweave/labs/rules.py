"""Monitoring protocols as pure rules (issue #7, spec §6.4 and §8.8): no I/O beyond reading the packaged data.

- :func:`schedule` turns a protocol and a start date into dated due items;
- :func:`after_dose_change` adds the lithium level one week after a dose change (and says which open level
  orders before it are superseded);
- :func:`classify` reads a result (lithium toxicity and target range, clozapine ANC bands incl. benign ethnic
  neutropenia, the laboratory's own abnormal flag) and returns the alert severity and the protocol's next step
  with the orders it asks for.

Every number comes from ``data/protocols.json``, where each item cites its spec row (see docs/labs.md).
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
PROTOCOLS = ("lithium", "clozapine", "valproate", "sga_metabolic")


class ProtocolDataError(RuntimeError):
    """The packaged protocol data is missing or inconsistent: monitoring refuses loudly."""


@cache
def data() -> dict[str, Any]:
    try:
        raw = resources.files("careweave.labs").joinpath("data/protocols.json").read_text(encoding="utf-8")
        loaded: dict[str, Any] = json.loads(raw)
    except (OSError, ValueError) as exc:  # pragma: no cover - packaging error
        raise ProtocolDataError(f"labs/data/protocols.json cannot be loaded: {exc}") from exc
    for name, protocol in loaded["protocols"].items():
        for item in protocol["items"]:
            if item["test"] not in loaded["tests"]:
                raise ProtocolDataError(f"{name}: item {item['code']} names unknown test {item['test']}")
    return loaded


def protocol(name: str) -> dict[str, Any]:
    try:
        return dict(data()["protocols"][name])
    except KeyError:
        raise KeyError(f"unknown monitoring protocol {name!r}") from None


def test(key: str) -> dict[str, Any]:
    return dict(data()["tests"][key])


def test_for_loinc(code: str) -> str | None:
    """The test key a result's LOINC code belongs to (first match in the catalogue), or None."""
    for key, t in data()["tests"].items():
        if code in t["result_loinc"]:
            return key
    return None


# ------------------------------------------------------------------ dates


def add_offset(start: date, offset: dict[str, int]) -> date:
    """start + {days|weeks|months|years: n}; months clamp to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    d = start + timedelta(days=offset.get("days", 0) + 7 * offset.get("weeks", 0))
    months = offset.get("months", 0) + 12 * offset.get("years", 0)
    if months:
        y, m = divmod(d.month - 1 + months, 12)
        year, month = d.year + y, m + 1
        d = date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
    return d


def _scale(step: dict[str, int], k: int) -> dict[str, int]:
    return {unit: n * k for unit, n in step.items()}


@dataclass(frozen=True, slots=True)
class DueItem:
    item: str  # protocol item code, e.g. "lithium.level"
    test: str  # test key in the catalogue
    loinc: str | None
    due_on: date
    reason: str = "schedule"  # schedule | dose_change | next_step | confirm
    spec: str = ""


def _dates(start: date, rule: dict[str, Any], horizon: date) -> list[date]:
    if "at" in rule:
        return [d for d in (add_offset(start, o) for o in rule["at"]) if d <= horizon]
    last = add_offset(start, rule["through"]) if "through" in rule else horizon
    before = add_offset(start, rule["before"]) if "before" in rule else None
    out = []
    k = 1 if rule.get("skip_first") else 0
    while True:
        step = _scale(rule["every"], k)
        if "months" in step or "years" in step:  # from the start, so month ends do not drift
            d = add_offset(
                start, {u: rule["from"].get(u, 0) + step.get(u, 0) for u in {*rule["from"], *step}}
            )
        else:
            d = add_offset(add_offset(start, rule["from"]), step)
        if d > last or d > horizon or (before is not None and d >= before):
            return out
        out.append(d)
        k += 1


def horizon_months(name: str) -> int:
    return int(protocol(name)["horizon_months"])


def repeats(name: str) -> bool:
    """Does protocol ``name`` have an open-ended repeating item (an ``every`` rule with no end)? Only such
    protocols are extended past their horizon (see :func:`schedule` with ``after``)."""
    return any(
        "every" in rule and "through" not in rule and "before" not in rule
        for item in protocol(name)["items"]
        for rule in item["schedule"]
    )


def schedule(
    name: str, started_on: date, *, through: date | None = None, after: date | None = None
) -> list[DueItem]:
    """Every due item of protocol ``name`` from ``started_on`` to the protocol's horizon (or to ``through``),
    sorted by date; with ``after``, only the items due after that date (the rolling extension of a plan whose
    orders were generated up to ``after``). Dates are always counted from ``started_on``, so an extension
    continues the same series."""
    p = protocol(name)
    horizon = through or add_offset(started_on, {"months": p["horizon_months"]})
    items: list[DueItem] = []
    for item in p["items"]:
        t = test(item["test"])
        seen: set[date] = set()
        for rule in item["schedule"]:
            for d in _dates(started_on, rule, horizon):
                if d not in seen:
                    seen.add(d)
                    items.append(
                        DueItem(item["code"], item["test"], t["order_loinc"], d, "schedule", item["spec"])
                    )
    if after is not None:
        items = [i for i in items if i.due_on > after]
    return sorted(items, key=lambda i: (i.due_on, i.item))


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An open order as the rules need it."""

    id: Any
    item: str
    test: str
    due_on: date


@dataclass(frozen=True, slots=True)
class DoseChange:
    new: list[DueItem]
    superseded: list[Any]  # ids of open orders the new level replaces


def after_dose_change(name: str, changed_on: date, open_orders: list[OpenOrder]) -> DoseChange:
    """Spec §6.4 Lithium, Level checks: a level 1 week after every dose change. Open level orders due from the
    change up to that date would be drawn before the new steady state, so they are superseded; later routine
    levels stay."""
    p = protocol(name)
    new: list[DueItem] = []
    superseded: list[Any] = []
    for item in p["items"]:
        offset = item.get("after_dose_change")
        if not offset:
            continue
        due = add_offset(changed_on, offset)
        t = test(item["test"])
        new.append(DueItem(item["code"], item["test"], t["order_loinc"], due, "dose_change", item["spec"]))
        superseded += [o.id for o in open_orders if o.item == item["code"] and changed_on <= o.due_on <= due]
    return DoseChange(new, superseded)


# ------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class Classification:
    severity: Severity | None  # None: no alert
    code: str  # e.g. lithium.toxicity, anc.mild
    message: str
    next_step: str | None = None
    orders: list[DueItem] = field(default_factory=list)
    cancel_next_step_orders: bool = False  # the episode is over: cancel remaining extra orders
    episode: str | None = None  # clozapine neutropenia episode after this result ("" = none)
    interrupt: bool = False  # recommendation to interrupt the medication
    unverified: bool = False
    spec: str = ""


class UnitNotUnderstood(ValueError):
    pass


def normalise(test_key: str, value: float, unit: str | None) -> float:
    """The value in the unit the protocol's thresholds use (ANC /µL, lithium mmol/L)."""
    units: dict[str, float] | None = test(test_key).get("units")
    if not units:
        return value
    clean = (unit or "").strip()
    factor = units.get(clean)
    if factor is None:
        raise UnitNotUnderstood(
            f"unit {clean or '(none)'!r} is not understood for {test(test_key)['label']}; "
            f"expected one of {', '.join(sorted(units))}"
        )
    return value * factor


def _next_step_orders(
    step: dict[str, Any], observed_on: date, *, item: str, test_key: str, reason: str
) -> list[DueItem]:
    orders = step.get("orders") or {}
    loinc = test(test_key)["order_loinc"]
    return [
        DueItem(item, test_key, loinc, observed_on + timedelta(days=n), reason, step["spec"])
        for n in orders.get("days_after", [])
    ]


def classify_lithium(value: float) -> Classification:
    p = protocol("lithium")
    tox, target = p["toxicity"], p["target_range"]
    if value >= tox["at_least"]:
        return Classification(
            "critical",
            "lithium.toxicity",
            f"Lithium {value:g} mmol/L is at or above the toxicity threshold of {tox['at_least']:g} mmol/L.",
            next_step="Assess for lithium toxicity now; toxicity can also occur at 'normal' levels.",
            spec=tox["spec"],
        )
    if value < target["low"] or value > target["high"]:
        return Classification(
            "info",
            "lithium.outside_target",
            f"Lithium {value:g} mmol/L is outside the {target['low']:g}–{target['high']:g} mmol/L target for a "
            "first prescription.",
            next_step="Review the dose against the target range.",
            spec=target["spec"],
        )
    return Classification(None, "lithium.in_target", f"Lithium {value:g} mmol/L is within the target range.")


AncBand = Literal["normal", "mild", "moderate", "severe"]


def anc_band(value: float) -> AncBand:
    """General-population bands, spec §6.4 Clozapine (lower bounds inclusive: 1,500 is normal, 1,000 mild,
    500 moderate)."""
    anc = protocol("clozapine")["anc"]
    if value >= anc["mild"]["below"]:
        return "normal"
    if value >= anc["moderate"]["below"]:
        return "mild"
    if value >= anc["severe"]["below"]:
        return "moderate"
    return "severe"


def classify_anc(
    value: float, observed_on: date, *, ben: bool = False, episode: str | None = None, baseline: bool = False
) -> Classification:
    """An ANC result of a clozapine patient: alert severity, next step and the orders it asks for.

    ``episode``: the neutropenia episode the plan is in ("mild", "moderate" or None); ``baseline``: this result
    answers the plan's baseline ANC (an initial ANC below the start threshold must be confirmed within 24 h).
    """
    p = protocol("clozapine")
    steps, anc = p["next_steps"], p["anc"]
    item, key = "clozapine.anc", "anc"
    threshold = anc["baseline_at_least_ben"] if ben else anc["baseline_at_least"]

    def orders(step: str) -> list[DueItem]:
        return _next_step_orders(steps[step], observed_on, item=item, test_key=key, reason="next_step")

    if baseline and value < threshold:
        step = steps["confirm_baseline"]
        return Classification(
            "warning",
            "anc.baseline_below_threshold",
            f"Baseline ANC {value:g}/µL is below the {threshold:g}/µL needed to start"
            f"{' (benign ethnic neutropenia)' if ben else ''}.",
            next_step=step["text"],
            orders=_next_step_orders(
                step, observed_on, item="clozapine.baseline.anc", test_key=key, reason="confirm"
            ),
            episode=episode,
            spec=step["spec"],
        )
    band = anc_band(value)
    if ben and value >= anc["baseline_at_least_ben"]:
        band = "normal"  # at or above the BEN threshold (spec: ≥ 1,000/µL for BEN)
    if band == "normal":
        if episode == "moderate":
            step = steps["recovered_after_moderate"]
            return Classification(
                "info",
                "anc.recovered",
                f"ANC {value:g}/µL: back in the normal range.",
                step["text"],
                orders("recovered_after_moderate"),
                cancel_next_step_orders=True,
                episode="",
                spec=step["spec"],
            )
        if episode == "mild":
            step = steps["recovered"]
            return Classification(
                "info",
                "anc.recovered",
                f"ANC {value:g}/µL: back in the normal range.",
                step["text"],
                [],
                cancel_next_step_orders=True,
                episode="",
                spec=step["spec"],
            )
        return Classification(None, "anc.normal", f"ANC {value:g}/µL: normal range.", episode=episode)
    unverified = ben  # below the BEN threshold: the spec has no BEN-specific band
    ben_note = f" {steps['ben_below_threshold']['text']}" if ben else ""
    if band == "mild":
        name = "moderate_recovering" if episode == "moderate" else "mild"
        step = steps[name]
        return Classification(
            "warning",
            "anc.mild",
            f"ANC {value:g}/µL: mild neutropenia (1,000–1,499/µL).{ben_note}",
            step["text"],
            orders(name),
            episode=episode if episode == "moderate" else "mild",
            unverified=unverified,
            spec=step["spec"],
        )
    if band == "moderate":
        step = steps["moderate"]
        return Classification(
            "critical",
            "anc.moderate",
            f"ANC {value:g}/µL: moderate neutropenia (500–999/µL).{ben_note}",
            step["text"],
            orders("moderate"),
            episode="moderate",
            interrupt=True,
            unverified=unverified,
            spec=step["spec"],
        )
    step = steps["severe"]
    return Classification(
        "critical",
        "anc.severe",
        f"ANC {value:g}/µL: severe neutropenia (< 500/µL).{ben_note}",
        step["text"],
        [],
        cancel_next_step_orders=False,
        episode="severe",
        interrupt=True,
        unverified=unverified,
        spec=step["spec"],
    )


ABNORMAL_CRITICAL = frozenset({"HH", "LL", "AA", ">", "<"})
ABNORMAL = frozenset({"H", "L", "A", "HH", "LL", "AA", ">", "<", "N>", "<N"})


def classify_flag(flag: str | None, label: str) -> Classification:
    """The laboratory's own abnormal flag (HL7 table 0078, OBX-8): its reference range, not a Careweave rule."""
    f = (flag or "").strip().upper()
    if f not in ABNORMAL:
        return Classification(None, "lab.normal", f"{label}: no abnormal flag.")
    severity: Severity = "critical" if f in ABNORMAL_CRITICAL else "warning"
    return Classification(
        severity,
        "lab.out_of_range",
        f"{label}: flagged {f} by the laboratory (outside its reference range).",
        next_step="Review the result.",
        spec="Laboratory reference range (OBX-7/OBX-8)",
    )


def classify(
    test_key: str | None,
    value: float | None,
    observed_on: date,
    *,
    unit: str | None = None,
    abnormal_flag: str | None = None,
    protocol_name: str | None = None,
    ben: bool = False,
    episode: str | None = None,
    baseline: bool = False,
) -> Classification:
    """The one entry point: a protocol rule where the protocol has one for this test, else the lab's flag."""
    label = test(test_key)["label"] if test_key else "Result"
    if value is not None and test_key == "lithium_level":
        return classify_lithium(normalise(test_key, value, unit))
    if value is not None and test_key == "anc" and protocol_name == "clozapine":
        return classify_anc(
            normalise(test_key, value, unit), observed_on, ben=ben, episode=episode, baseline=baseline
        )
    return classify_flag(abnormal_flag, label)
