"""Medication rules as pure functions over plain data (issue #7): the formulary, the checks before signing, the
controlled-substance telemedicine rule in force, and taper schedules. No I/O except reading the packaged data
files, and nothing clinical is written here: every fact (interaction pairs, washouts, boxed warnings, dose ranges,
telemedicine rules) comes from data/*.json, each with its source (clinical-spec.md §4.3, §6.1-§6.3).

Fail closed: if the interaction data cannot be loaded or is malformed, :func:`load_check_rules` raises
:class:`CheckDataUnavailable` and the service refuses to prescribe (docs/adr/0010-medication-safety-checks.md).
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Literal

Severity = Literal["contraindicated", "major", "moderate", "info"]
SEVERITIES: tuple[Severity, ...] = ("contraindicated", "major", "moderate", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
SCHEDULES = ("C-II", "C-III", "C-IV", "C-V")
MODALITIES = ("audio_video", "audio_only", "in_person")
CLASS_LABELS = {
    "ssri": "SSRIs",
    "snri": "SNRIs",
    "antidepressant_other": "other antidepressants",
    "tca": "TCAs",
    "maoi": "MAOIs",
    "mood_stabilizer": "mood stabilizers",
    "sga": "second-generation antipsychotics",
    "fga": "first-generation antipsychotics",
    "benzodiazepine": "benzodiazepines",
    "stimulant": "stimulants",
    "adhd_nonstimulant": "ADHD non-stimulants",
    "wakefulness": "wakefulness-promoting agents",
    "oud_aud": "OUD/AUD medications",
    "thiazide": "thiazide diuretics",
    "nsaid": "NSAIDs",
    "ace_inhibitor": "ACE inhibitors",
    "arb": "angiotensin II receptor blockers",
    "opioid_analgesic": "opioid analgesics",
    "other_serotonergic": "other serotonergic drugs",
}
MONITORING_PROTOCOLS = ("lithium", "clozapine", "valproate", "sga_metabolic")
# A class implies the tags the interaction selectors use, so an entry (an administrator's too) cannot escape
# e.g. the MAOI rules by leaving a tag out.
CLASS_TAGS: dict[str, frozenset[str]] = {
    "ssri": frozenset({"serotonergic", "antidepressant"}),
    "snri": frozenset({"serotonergic", "antidepressant"}),
    "tca": frozenset({"serotonergic", "antidepressant"}),
    "maoi": frozenset({"maoi", "antidepressant"}),
    "antidepressant_other": frozenset({"antidepressant"}),
}
RXCUI_STATUSES = ("verified_cpic", "secondary", "not_verified", "not_found", "not_in_spec", "unverified")


class CheckDataUnavailable(RuntimeError):
    """The interaction/formulary data could not be loaded: prescribing must be refused, never left unchecked."""


# ------------------------------------------------------------------ formulary


@dataclass(frozen=True, slots=True)
class DoseRange:
    min: float
    max: float
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class FormularyItem:
    code: str
    ingredient: str
    rxcui: str | None
    rxcui_status: str
    drug_class: str
    tags: frozenset[str] = frozenset()
    schedule: str | None = None
    boxed_warnings: tuple[str, ...] = ()
    monitoring: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    strengths: tuple[str, ...] = ()
    dose: DoseRange | None = None
    sources: tuple[str, ...] = ()
    notes: str | None = None
    origin: str = "package"  # package | admin
    prescribable: bool = True  # False: listed only so interactions with it are checked (spec §6.2)

    @property
    def controlled(self) -> bool:
        return self.schedule is not None

    @property
    def class_label(self) -> str:
        return CLASS_LABELS.get(self.drug_class, self.drug_class.replace("_", " "))


@dataclass(frozen=True, slots=True)
class Formulary:
    version: str
    items: Mapping[str, FormularyItem]
    boxed_warnings: Mapping[str, Mapping[str, Any]]
    synonyms: Mapping[str, str] = field(default_factory=dict)  # lower-case name -> code

    def get(self, code_or_rxcui: str | None) -> FormularyItem | None:
        if not code_or_rxcui:
            return None
        key = code_or_rxcui.strip()
        found = self.items.get(key.lower())
        if found is not None:
            return found
        return next((i for i in self.items.values() if i.rxcui and i.rxcui == key), None)

    def match_name(self, name: str | None) -> FormularyItem | None:
        """A free-text name (code, ingredient, RXCUI, or a brand/synonym from the data) -> its entry, or None."""
        if not name:
            return None
        key = " ".join(name.strip().lower().replace("_", " ").split())
        if not key:
            return None
        found = self.get(key.replace(" ", "_")) or self.get(key)
        if found is not None:
            return found
        found = next((i for i in self.items.values() if i.ingredient.lower() == key), None)
        if found is not None:
            return found
        code = self.synonyms.get(key)
        return self.items.get(code) if code else None

    def with_items(self, extra: Iterable[FormularyItem]) -> Formulary:
        merged = dict(self.items)
        for item in extra:
            merged.setdefault(item.code, item)  # packaged entries win: an admin adds, never overrides
        return Formulary(self.version, merged, self.boxed_warnings, self.synonyms)


def _fail(where: str, message: str) -> CheckDataUnavailable:
    return CheckDataUnavailable(f"{where}: {message}")


def parse_item(
    raw: Mapping[str, Any], *, where: str = "formulary entry", origin: str = "package"
) -> FormularyItem:
    """One formulary entry from its JSON form (the packaged file or an administrator's entry)."""
    try:
        code = str(raw["code"]).strip().lower()
        dose_raw = raw.get("adult_daily_dose")
        dose = None
        if dose_raw:
            dose = DoseRange(
                float(dose_raw["min"]), float(dose_raw["max"]), str(dose_raw["unit"]), str(dose_raw["source"])
            )
            if dose.min <= 0 or dose.max < dose.min:
                raise ValueError("adult_daily_dose: min must be > 0 and <= max")
        schedule = raw.get("schedule")
        if schedule is not None and schedule not in SCHEDULES:
            raise ValueError(f"schedule {schedule!r} is not one of {SCHEDULES}")
        drug_class = str(raw["class"])
        if drug_class not in CLASS_LABELS:
            raise ValueError(f"class {drug_class!r} is not one of {sorted(CLASS_LABELS)}")
        prescribable = raw.get("prescribable", True)
        if not isinstance(prescribable, bool):
            raise ValueError("prescribable must be true or false")
        monitoring = tuple(raw.get("monitoring") or ())
        if bad := [m for m in monitoring if m not in MONITORING_PROTOCOLS]:
            raise ValueError(f"unknown monitoring protocols {bad}")
        return FormularyItem(
            code=code,
            ingredient=str(raw["ingredient"]),
            rxcui=str(raw["rxcui"]) if raw.get("rxcui") else None,
            rxcui_status=str(raw.get("rxcui_status") or "unverified"),
            drug_class=drug_class,
            tags=frozenset(str(t) for t in raw.get("tags") or ()) | CLASS_TAGS.get(drug_class, frozenset()),
            schedule=schedule,
            boxed_warnings=tuple(raw.get("boxed_warnings") or ()),
            monitoring=monitoring,
            forms=tuple(raw.get("forms") or ()),
            strengths=tuple(raw.get("strengths") or ()),
            dose=dose,
            sources=tuple(raw.get("sources") or ()),
            notes=raw.get("notes"),
            origin=origin,
            prescribable=prescribable,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(where, f"invalid: {exc}") from exc


def _read(name: str) -> Any:
    try:
        text = resources.files("careweave.medications").joinpath("data", name).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise _fail(name, f"cannot be read ({type(exc).__name__})") from exc


def parse_formulary(raw: Mapping[str, Any]) -> Formulary:
    try:
        entries = raw["entries"]
        boxed = dict(raw["boxed_warnings"])
        version = str(raw["version"])
    except (KeyError, TypeError) as exc:
        raise _fail("formulary.json", f"missing {exc}") from exc
    items: dict[str, FormularyItem] = {}
    for i, entry in enumerate(entries):
        item = parse_item(entry, where=f"formulary.json entries[{i}]")
        if item.code in items:
            raise _fail("formulary.json", f"duplicate code {item.code!r}")
        if unknown := [w for w in item.boxed_warnings if w not in boxed]:
            raise _fail("formulary.json", f"{item.code}: unknown boxed warnings {unknown}")
        items[item.code] = item
    synonyms: dict[str, str] = {}
    for name, code in (raw.get("synonyms") or {}).items():
        if name in ("description", "source"):
            continue
        if str(code) not in items:
            raise _fail("formulary.json", f"synonym {name!r} names unknown code {code!r}")
        synonyms[" ".join(str(name).lower().split())] = str(code)
    return Formulary(version, items, boxed, synonyms)


@cache
def packaged_formulary() -> Formulary:
    return parse_formulary(_read("formulary.json"))


# ------------------------------------------------------------------ check rules


@dataclass(frozen=True, slots=True)
class Selector:
    tags: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()
    any: bool = False

    def matches(self, item: FormularyItem) -> bool:
        return self.any or bool(self.tags & item.tags) or item.drug_class in self.classes


def _selector(raw: Mapping[str, Any] | None) -> Selector:
    if not raw:
        return Selector()
    return Selector(
        frozenset(raw.get("tags") or ()), frozenset(raw.get("classes") or ()), bool(raw.get("any"))
    )


@dataclass(frozen=True, slots=True)
class PairRule:
    code: str
    severity: Severity
    a: Selector
    b: Selector
    message: str
    source: str


@dataclass(frozen=True, slots=True)
class WashoutRule:
    code: str
    severity: Severity
    days: int
    stopped: Selector
    new: Selector
    message: str
    source: str
    exclude: Selector = field(default_factory=Selector)


@dataclass(frozen=True, slots=True)
class CheckRules:
    version: str
    pairs: tuple[PairRule, ...]
    washouts: tuple[WashoutRule, ...]
    duplicate: Mapping[str, Any]
    allergy: Mapping[str, Any]
    dose_range: Mapping[str, Any]
    boxed: Mapping[str, Any]
    hla: Mapping[str, Any]
    frequencies: Mapping[str, float]
    units: Mapping[str, tuple[str, float]] = field(default_factory=dict)  # unit -> (base unit, factor)
    unchecked: Mapping[str, Any] = field(default_factory=dict)
    age_unknown: Mapping[str, Any] = field(default_factory=dict)


def _severity(value: Any, where: str) -> Severity:
    if value not in SEVERITIES:
        raise _fail(where, f"unknown severity {value!r}")
    return value  # type: ignore[no-any-return]


def parse_check_rules(raw: Mapping[str, Any]) -> CheckRules:
    where = "interactions.json"
    try:
        pairs = tuple(
            PairRule(
                p["code"],
                _severity(p["severity"], where),
                _selector(p["a"]),
                _selector(p["b"]),
                p["message"],
                p["source"],
            )
            for p in raw["pairs"]
        )
        washouts = tuple(
            WashoutRule(
                w["code"],
                _severity(w["severity"], where),
                int(w["days"]),
                _selector(w["stopped"]),
                _selector(w["new"]),
                w["message"],
                w["source"],
                _selector(w.get("except")),
            )
            for w in raw["washouts"]
        )
        frequencies = {k: float(v) for k, v in raw["frequencies"].items() if k != "description"}
        rules = CheckRules(
            version=str(raw["version"]),
            pairs=pairs,
            washouts=washouts,
            duplicate=raw["duplicate_therapy"],
            allergy=raw["allergy"],
            dose_range=raw["dose_range"],
            boxed=raw["boxed_warning_notices"],
            hla=raw["hla_b1502"],
            frequencies=frequencies,
            units={
                str(k): (str(v["base"]), float(v["factor"]))
                for k, v in raw["dose_range"]["units"].items()
                if k != "description"
            },
            unchecked=raw["unchecked_outside_medication"],
            age_unknown=raw["boxed_warning_notices"]["age_unknown"],
        )
        for section, keys in (
            (rules.duplicate, ("severity",)),
            (rules.allergy, ("allergy_severity", "intolerance_severity")),
            (rules.dose_range, ("above_severity", "below_severity")),
            (rules.boxed, ("age_severity", "pregnancy_severity", "other_severity")),
            (rules.hla, ("positive_severity", "unknown_severity")),
            (rules.unchecked, ("severity",)),
            (rules.age_unknown, ("severity",)),
        ):
            for key in keys:
                _severity(section[key], where)
        if not rules.units or any(f <= 0 for _, f in rules.units.values()):
            raise _fail(where, "dose_range.units missing or invalid")
        if not pairs or not washouts:
            raise _fail(where, "no interaction pairs or washouts")
        return rules
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(where, f"invalid: {exc}") from exc


@cache
def _packaged_check_rules() -> CheckRules:
    return parse_check_rules(_read("interactions.json"))


def load_check_rules() -> CheckRules:
    """The packaged check rules; raises :class:`CheckDataUnavailable` (never returns a partial set)."""
    return _packaged_check_rules()


# ------------------------------------------------------------------ the checks


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    source: str

    @property
    def blocks(self) -> bool:
        return self.severity == "contraindicated"

    @property
    def needs_override(self) -> bool:
        return self.severity == "major"


@dataclass(frozen=True, slots=True)
class MedItem:
    """One medication on the patient's list: a Careweave prescription or an outside medication."""

    name: str
    item: FormularyItem | None  # None: free text that maps to no formulary entry (not checkable)
    active: bool = True
    stopped_on: date | None = None
    source: str = "prescription"  # prescription | outside
    ref: str | None = None  # the row id, for the caller


@dataclass(frozen=True, slots=True)
class AllergyFact:
    substance: str
    code: str | None = None
    drug_class: str | None = None
    kind: str = "allergy"  # allergy | intolerance
    reaction: str | None = None


@dataclass(frozen=True, slots=True)
class PatientFacts:
    age: int | None = None
    pregnancy_status: str = "unknown"
    breastfeeding: bool | None = None
    hla_b_1502: str | None = None  # positive | negative | None
    allergies: tuple[AllergyFact, ...] = ()


@dataclass(frozen=True, slots=True)
class Proposed:
    item: FormularyItem
    dose: float
    unit: str
    frequency: str
    start: date


def age_on(birth: date | None, on: date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def doses_per_day(frequency: str, rules: CheckRules) -> float | None:
    return rules.frequencies.get(frequency)


def _fmt(template: str, **values: Any) -> str:
    try:
        return template.format(**values)
    except (KeyError, ValueError, IndexError):
        return template


def check_pairs(proposed: Proposed, meds: Sequence[MedItem], rules: CheckRules) -> list[Finding]:
    """Spec §6.2 pairs between the proposed drug and every active medication (prescribed or outside)."""
    out: list[Finding] = []
    new = proposed.item
    for rule in rules.pairs:
        for med in meds:
            if not med.active or med.item is None or med.item.code == new.code:
                continue
            other = med.item
            if (rule.a.matches(new) and rule.b.matches(other)) or (
                rule.a.matches(other) and rule.b.matches(new)
            ):
                named = med.name if med.source == "outside" else other.ingredient
                out.append(Finding(rule.code, rule.severity, _fmt(rule.message, other=named), rule.source))
    return out


def check_washouts(proposed: Proposed, meds: Sequence[MedItem], rules: CheckRules) -> list[Finding]:
    """Spec §6.2 washout windows: a stopped drug still counts until ``stopped_on + days`` (exclusive)."""
    out: list[Finding] = []
    for rule in rules.washouts:
        if not rule.new.matches(proposed.item):
            continue
        for med in meds:
            if med.active or med.item is None or med.stopped_on is None:
                continue
            if not rule.stopped.matches(med.item) or rule.exclude.matches(med.item):
                continue
            if med.item.code == proposed.item.code:
                continue
            earliest = med.stopped_on + timedelta(days=rule.days)
            if proposed.start < earliest:
                message = _fmt(
                    rule.message,
                    other=med.item.ingredient,
                    stopped_on=med.stopped_on.isoformat(),
                    earliest=earliest.isoformat(),
                )
                out.append(Finding(rule.code, rule.severity, message, rule.source))
    return out


def check_duplicates(proposed: Proposed, meds: Sequence[MedItem], rules: CheckRules) -> list[Finding]:
    d = rules.duplicate
    if proposed.item.drug_class not in d["classes"]:
        return []
    out = []
    for med in meds:
        if med.active and med.item is not None and med.item.drug_class == proposed.item.drug_class:
            same = med.item.code == proposed.item.code
            message = _fmt(d["message"], other=med.item.ingredient, class_label=proposed.item.class_label)
            if same:
                message = f"{med.item.ingredient} is already on the medication list ({med.source})."
            out.append(Finding(d["code"], d["severity"], message, d["source"]))
    return out


def check_allergies(proposed: Proposed, facts: PatientFacts, rules: CheckRules) -> list[Finding]:
    a = rules.allergy
    out = []
    item = proposed.item
    for allergy in facts.allergies:
        hit = (allergy.code and allergy.code.lower() == item.code) or (
            allergy.drug_class and allergy.drug_class == item.drug_class
        )
        if not hit:
            continue
        severity = a["allergy_severity"] if allergy.kind == "allergy" else a["intolerance_severity"]
        reaction = f" ({allergy.reaction})" if allergy.reaction else ""
        message = _fmt(
            a["message"],
            kind=allergy.kind,
            substance=allergy.substance,
            reaction=reaction,
            drug=item.ingredient,
        )
        out.append(Finding(f"{allergy.kind}_match", severity, message, a["source"]))
    return out


def canonical_unit(unit: str, rules: CheckRules) -> str | None:
    """The unit as the data spells it (case-insensitive match), or None when the data does not know it."""
    wanted = unit.strip().lower()
    return next((u for u in rules.units if u.lower() == wanted), None)


def convert(dose: float, unit: str, to_unit: str, rules: CheckRules) -> float | None:
    """``dose`` in ``unit`` expressed in ``to_unit`` (mg/mcg/g convert), or None when they do not convert."""
    a, b = canonical_unit(unit, rules), canonical_unit(to_unit, rules)
    if a is None or b is None:
        return None
    (base_a, fa), (base_b, fb) = rules.units[a], rules.units[b]
    if base_a != base_b:
        return None
    return dose * fa / fb


def unit_problem(item: FormularyItem, unit: str, rules: CheckRules) -> str | None:
    """Why ``unit`` cannot be used for this drug's dose (None: it can). A drug with a sourced range accepts only
    units that convert to the range's unit, so the dose check can never be skipped by changing the unit."""
    if canonical_unit(unit, rules) is None:
        return f"one of {', '.join(rules.units)}"
    if item.dose is not None and convert(1.0, unit, item.dose.unit, rules) is None:
        convertible = [u for u in rules.units if convert(1.0, u, item.dose.unit, rules) is not None]
        return (
            f"the {item.ingredient} dose is checked in {item.dose.unit}: use one of {', '.join(convertible)}"
        )
    return None


def check_dose(proposed: Proposed, rules: CheckRules) -> list[Finding]:
    """The daily dose (dose x doses per day, converted to the range's unit) against the entry's sourced adult
    range; no range, no check. A unit that does not convert is refused before this (:func:`unit_problem`)."""
    rng = proposed.item.dose
    per_day = doses_per_day(proposed.frequency, rules)
    if rng is None or per_day is None:
        return []
    dose = convert(proposed.dose, proposed.unit, rng.unit, rules) if rules.units else None
    if dose is None:
        if proposed.unit.strip().lower() != rng.unit.lower():
            raise ValueError(f"unit {proposed.unit!r} does not convert to {rng.unit}")
        dose = proposed.dose
    daily = dose * per_day
    r = rules.dose_range
    values = {"dose_per_day": daily, "unit": rng.unit, "min": rng.min, "max": rng.max}
    source = r["source_prefix"] + rng.source
    if daily > rng.max + 1e-9:
        return [Finding("dose_above_range", r["above_severity"], _fmt(r["message_above"], **values), source)]
    if daily < rng.min - 1e-9:
        return [Finding("dose_below_range", r["below_severity"], _fmt(r["message_below"], **values), source)]
    return []


def check_boxed_warnings(
    proposed: Proposed, facts: PatientFacts, formulary: Formulary, rules: CheckRules
) -> list[Finding]:
    """Spec §6.3 boxed warnings as notices: the antidepressant warning when the patient is at or under its
    age limit (24), the fetal-risk warning when the patient is pregnant, the others as information."""
    out = []
    b = rules.boxed
    for code in proposed.item.boxed_warnings:
        w = formulary.boxed_warnings.get(code)
        if w is None:
            continue
        source = b["source_prefix"] + str(w.get("source", ""))
        max_age = w.get("max_age")
        if max_age is not None:
            if facts.age is None and b.get("age_unknown"):
                u = b["age_unknown"]
                message = _fmt(u["message"], max_age=max_age, text=w["text"])
                out.append(Finding(f"boxed_{code}_age_unknown", u["severity"], message, source))
            elif facts.age is not None and facts.age <= int(max_age):
                message = f"Boxed warning (patient aged {facts.age}, {max_age} or under): {w['text']}"
                out.append(Finding(f"boxed_{code}", b["age_severity"], message, source))
            continue
        if w.get("pregnancy") and facts.pregnancy_status == "pregnant":
            out.append(
                Finding(
                    f"boxed_{code}_pregnancy",
                    b["pregnancy_severity"],
                    f"Patient is pregnant. Boxed warning: {w['text']}",
                    source,
                )
            )
            continue
        if code == "carbamazepine_hla_b1502":
            continue  # the HLA-B*15:02 prompt below says it with the patient's status
        out.append(Finding(f"boxed_{code}", b["other_severity"], f"Boxed warning: {w['text']}", source))
    return out


def check_unchecked(meds: Sequence[MedItem], rules: CheckRules) -> list[Finding]:
    """An active outside medication that maps to no formulary entry cannot be checked: say so, visibly."""
    u = rules.unchecked
    if not u:
        return []
    return [
        Finding(u["code"], u["severity"], _fmt(u["message"], name=med.name), u["source"])
        for med in meds
        if med.active and med.item is None and med.source == "outside"
    ]


def check_hla(proposed: Proposed, facts: PatientFacts, rules: CheckRules) -> list[Finding]:
    h = rules.hla
    if not set(h["tags"]) & proposed.item.tags:
        return []
    if facts.hla_b_1502 == "positive":
        return [Finding("hla_b1502_positive", h["positive_severity"], h["message_positive"], h["source"])]
    if facts.hla_b_1502 != "negative":
        return [Finding("hla_b1502_unknown", h["unknown_severity"], h["message_unknown"], h["source"])]
    return []


def run_checks(
    proposed: Proposed,
    meds: Sequence[MedItem],
    facts: PatientFacts,
    formulary: Formulary,
    rules: CheckRules,
) -> list[Finding]:
    """Every check, most severe first (stable within a severity). Duplicates of the same code are merged."""
    found = [
        *check_pairs(proposed, meds, rules),
        *check_washouts(proposed, meds, rules),
        *check_duplicates(proposed, meds, rules),
        *check_allergies(proposed, facts, rules),
        *check_dose(proposed, rules),
        *check_boxed_warnings(proposed, facts, formulary, rules),
        *check_hla(proposed, facts, rules),
        *check_unchecked(meds, rules),
    ]
    seen: set[tuple[str, str]] = set()
    unique = []
    for f in found:
        if (f.code, f.message) not in seen:
            seen.add((f.code, f.message))
            unique.append(f)
    return sorted(unique, key=lambda f: SEVERITY_RANK[f.severity])


@dataclass(frozen=True, slots=True)
class Gate:
    blocked: tuple[Finding, ...]
    missing_overrides: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.blocked and not self.missing_overrides


def gate(findings: Sequence[Finding], override_reasons: Mapping[str, str]) -> Gate:
    """Contraindicated findings block; each major one needs a non-empty override reason under its code."""
    blocked = tuple(f for f in findings if f.blocks)
    missing = tuple(
        f for f in findings if f.needs_override and not (override_reasons.get(f.code) or "").strip()
    )
    return Gate(blocked, missing)


# ------------------------------------------------------------------ controlled substances via telemedicine


@dataclass(frozen=True, slots=True)
class TelemedicineRule:
    code: str
    kind: str  # in_person | buprenorphine | flexibility
    title: str
    source: str
    effective_from: date | None
    effective_to: date | None
    schedules: frozenset[str]
    modalities: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    exclusive: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)

    def in_force(self, on: date) -> bool:
        return (self.effective_from is None or self.effective_from <= on) and (
            self.effective_to is None or on <= self.effective_to
        )

    def covers(self, item: FormularyItem) -> bool:
        if item.schedule not in self.schedules:
            return False
        return not self.tags or bool(self.tags & item.tags)


def parse_telemedicine_rules(raw: Mapping[str, Any]) -> tuple[TelemedicineRule, ...]:
    out = []
    try:
        for r in raw["rules"]:
            out.append(
                TelemedicineRule(
                    code=r["code"],
                    kind=r["kind"],
                    title=r["title"],
                    source=r["source"],
                    effective_from=date.fromisoformat(r["effective_from"])
                    if r.get("effective_from")
                    else None,
                    effective_to=date.fromisoformat(r["effective_to"]) if r.get("effective_to") else None,
                    schedules=frozenset(r["schedules"]),
                    modalities=frozenset(r.get("modalities") or ()),
                    tags=frozenset(r.get("tags") or ()),
                    exclusive=bool(r.get("exclusive")),
                    params={k: v for k, v in r.items() if k.endswith(("_months", "_days"))},
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail("telemedicine_rules.json", f"invalid: {exc}") from exc
    return tuple(out)


@cache
def packaged_telemedicine_rules() -> tuple[TelemedicineRule, ...]:
    return parse_telemedicine_rules(_read("telemedicine_rules.json"))


@dataclass(frozen=True, slots=True)
class ControlledRequest:
    """What the prescriber attests for a controlled substance (spec §4.3, §8.8)."""

    item: FormularyItem
    on: date
    modality: str = "audio_video"
    in_person_evaluated_on: date | None = None
    pdmp_reviewed_at: datetime | None = None
    pdmp_unavailable: bool = False
    days_supply: int = 30
    refills: int = 0  # each refill is another days_supply (spec §4.3 limits count the whole supply)
    first_start: date | None = None  # the first prescription under the same rule for this patient, if any
    prior_days: int = 0  # days' supply already prescribed under that rule


@dataclass(frozen=True, slots=True)
class Authorization:
    allowed: bool
    rule: str | None
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _buprenorphine(rule: TelemedicineRule, req: ControlledRequest) -> Authorization:
    if rule.modalities and req.modality not in rule.modalities:
        return Authorization(
            False, rule.code, f"{rule.title}: {req.modality.replace('_', '-')} is not allowed."
        )
    supply = req.days_supply * (1 + max(req.refills, 0))
    if req.pdmp_unavailable:
        limit = int(rule.params.get("pdmp_unavailable_max_days", 7))
        if req.days_supply > limit or req.refills > 0:
            return Authorization(
                False,
                rule.code,
                f"{rule.title}: the PDMP was unavailable, so at most a {limit}-day supply may be prescribed at a "
                "time, without refills.",
            )
        return Authorization(True, rule.code, rule.title, {"pdmp_unavailable": True, "max_days": limit})
    if req.pdmp_reviewed_at is None:
        months = rule.params.get("pdmp_lookback_months", 12)
        return Authorization(
            False,
            rule.code,
            f"{rule.title}: record the review of the patient's state PDMP (prior {months} months) with its date "
            "and time before prescribing, or record that the PDMP was unavailable.",
        )
    reviewed = req.pdmp_reviewed_at.date()
    if reviewed > req.on:
        return Authorization(False, rule.code, f"{rule.title}: the PDMP review time is in the future.")
    max_age = int(rule.params.get("pdmp_review_max_age_days", 7))
    if reviewed < req.on - timedelta(days=max_age):
        return Authorization(
            False,
            rule.code,
            f"{rule.title}: the PDMP review of {reviewed.isoformat()} is more than {max_age} days before this "
            "prescription; review the PDMP again before prescribing.",
        )
    months = int(rule.params.get("initial_supply_months", 6))
    first = req.first_start or req.on
    limit_day = add_months(first, months)
    allowed_days = (limit_day - first).days
    total = req.prior_days + supply
    if total > allowed_days:
        return Authorization(
            False,
            rule.code,
            f"{rule.title}: the initial supply may total at most {months} calendar months ({allowed_days} days "
            f"from {first.isoformat()}); this would make {total} days (refills included). A further prescription "
            "needs another form of telemedicine or an in-person evaluation.",
        )
    return Authorization(
        True,
        rule.code,
        rule.title,
        {
            "pdmp_reviewed_at": req.pdmp_reviewed_at.isoformat(),
            "supply_days_total": total,
            "supply_limit_days": allowed_days,
        },
    )


def telemedicine_authorization(
    req: ControlledRequest, rules: Sequence[TelemedicineRule] | None = None
) -> Authorization:
    """Which rule in force allows prescribing this controlled substance via telemedicine on ``req.on``.

    In order: a recorded in-person evaluation (Ryan Haight) or an in-person encounter; a rule that governs this
    drug exclusively (buprenorphine's PDMP and supply rule); a general flexibility in force for the schedule and
    modality (the Fourth Temporary Extension, 2026). Otherwise refused, with the reason."""
    all_rules = tuple(rules if rules is not None else packaged_telemedicine_rules())
    item = req.item
    if item.schedule is None:
        return Authorization(True, "non_controlled", "Not a controlled substance.")
    if req.modality not in MODALITIES:
        return Authorization(False, None, f"Unknown visit modality {req.modality!r}.")
    for rule in all_rules:
        if rule.kind == "in_person" and rule.in_force(req.on) and rule.covers(item):
            if req.modality == "in_person":
                return Authorization(
                    True, rule.code, "In-person evaluation at this encounter.", {"in_person": True}
                )
            if req.in_person_evaluated_on is not None:
                if req.in_person_evaluated_on > req.on:
                    return Authorization(False, rule.code, "The in-person evaluation date is in the future.")
                return Authorization(
                    True,
                    rule.code,
                    rule.title,
                    {"in_person_evaluated_on": req.in_person_evaluated_on.isoformat()},
                )
    for rule in all_rules:
        if rule.kind == "buprenorphine" and rule.exclusive and rule.in_force(req.on) and rule.covers(item):
            return _buprenorphine(rule, req)
    for rule in all_rules:
        if (
            rule.kind == "flexibility"
            and rule.in_force(req.on)
            and rule.covers(item)
            and (not rule.modalities or req.modality in rule.modalities)
        ):
            return Authorization(True, rule.code, rule.title, {"modality": req.modality})
    return Authorization(
        False,
        None,
        f"No telemedicine rule in force on {req.on.isoformat()} allows prescribing a {item.schedule} substance "
        f"by {req.modality.replace('_', '-')}: the Ryan Haight Act requires at least one in-person medical "
        "evaluation first (record its date).",
    )


# ------------------------------------------------------------------ tapers


@dataclass(frozen=True, slots=True)
class TaperStep:
    dose: float
    unit: str
    days: int


@dataclass(frozen=True, slots=True)
class ScheduledStep:
    number: int
    dose: float
    unit: str
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


MAX_TAPER_STEPS = 52
MAX_STEP_DAYS = 365


def taper_schedule(start: date, steps: Sequence[TaperStep]) -> list[ScheduledStep]:
    """Consecutive steps from ``start``: step n runs ``days`` days, the next starts the day after it ends."""
    if not steps:
        raise ValueError("a taper needs at least one step")
    if len(steps) > MAX_TAPER_STEPS:
        raise ValueError(f"a taper has at most {MAX_TAPER_STEPS} steps")
    out = []
    day = start
    for i, step in enumerate(steps, start=1):
        if step.days < 1 or step.days > MAX_STEP_DAYS:
            raise ValueError(f"step {i}: days must be between 1 and {MAX_STEP_DAYS}")
        if step.dose < 0:
            raise ValueError(f"step {i}: dose must not be negative")
        end = day + timedelta(days=step.days - 1)
        out.append(ScheduledStep(i, step.dose, step.unit, day, end))
        day = end + timedelta(days=1)
    return out


def step_on(schedule: Sequence[ScheduledStep], day: date) -> ScheduledStep | None:
    """The step in force on ``day`` (None before the start or after the last step)."""
    return next((s for s in schedule if s.start <= day <= s.end), None)


def upcoming(schedule: Sequence[ScheduledStep], day: date) -> list[ScheduledStep]:
    return [s for s in schedule if s.start > day]
