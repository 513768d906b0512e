"""The treatment plan and clinical notes as pure rules: no I/O, no database, no clock.

- Plan content: problems coded in ICD-10-CM, measurable goals (instrument, comparator, target, due date),
  interventions owned by a discipline and a care-team member, a review date. ``validate_plan`` turns the
  submitted shape into the stored canonical one (dates as ISO strings, codes upper-case) or field errors.
- Which consent category each item belongs to: medication interventions (discipline psychiatry) are
  "medications"; problems coded F10-F19 (substance-related disorders) and alcohol goals (AUDIT-C) are
  "substance_use" (42 CFR Part 2); everything else is "plan". ``redact`` and ``merge_hidden`` keep what a reader
  may not see out of their view and intact in their writes.
- ``diff`` between two versions, ``plain_language`` for the patient, ``validate_sections`` for SOAP/DAP notes.

ICD-10-CM codes used in the plain-language map were checked against public code references (FY2026 tabular):
F32.0/F32.1/F32.2/F32.A (major depressive disorder, single episode, mild/moderate/severe without psychotic
features; depression, unspecified), F33.0/F33.1 (major depressive disorder, recurrent, mild/moderate), F41.0
(panic disorder), F41.1 (generalized anxiety disorder), F43.10/F43.12 (post-traumatic stress disorder,
unspecified/chronic), F10.10 (alcohol abuse, uncomplicated; "alcohol use disorder, mild"); e.g.
https://www.icd10data.com/ICD10CM/Codes/F01-F99/F40-F48/F43-/F43.10 and https://hccbuddy.com/icd10/F10.10.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from careweave.core.errors import FieldError

Part = Literal["problems", "goals", "interventions"]
PARTS: tuple[Part, ...] = ("problems", "goals", "interventions")
ItemCategory = Literal["plan", "medications", "substance_use"]

# The shape of an ICD-10-CM code: a letter, two characters (digit, then digit or letter), and optionally a dot
# and one to four more characters (F32.1, F43.10, F32.A, T40.1X1A). The shape, not membership in the code set.
ICD10CM_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
SUBSTANCE_CODES = re.compile(r"^F1[0-9]")  # F10-F19: mental and behavioural disorders due to substance use

DISCIPLINES: dict[str, str] = {
    "therapy": "Therapy",
    "psychiatry": "Medication",
    "care_management": "Care coordination",
}
# Measures a goal can name, their score ranges and how a patient reads them.
INSTRUMENTS: dict[str, tuple[int, int, str]] = {
    "PHQ-9": (0, 27, "depression questionnaire (PHQ-9)"),
    "GAD-7": (0, 21, "anxiety questionnaire (GAD-7)"),
    "PCL-5": (0, 80, "stress questionnaire (PCL-5)"),
    "AUDIT-C": (0, 12, "alcohol questionnaire (AUDIT-C)"),
}
COMPARATORS: dict[str, str] = {
    "below": "below {t}",
    "at_most": "to {t} or lower",
    "above": "above {t}",
    "at_least": "to {t} or higher",
}
MAX_ITEMS = 30
MAX_TEXT = 500
MIN_REASON = 5

PLAIN_PROBLEMS: dict[str, str] = {
    "F32.0": "Depression (mild)",
    "F32.1": "Depression (moderate)",
    "F32.2": "Depression (severe)",
    "F32.A": "Depression",
    "F33.0": "Depression that has come back (mild)",
    "F33.1": "Depression that has come back (moderate)",
    "F41.0": "Panic attacks",
    "F41.1": "Ongoing worry and anxiety",
    "F43.10": "Stress after a traumatic event (PTSD)",
    "F43.12": "Long-lasting stress after a traumatic event (PTSD)",
    "F10.10": "Alcohol use (mild)",
}
PLAIN_CATEGORIES: dict[str, str] = {
    "F32": "Depression",
    "F33": "Depression",
    "F41": "Anxiety",
    "F43": "Stress-related difficulties",
    "F10": "Alcohol use",
}

NOTE_FORMATS: dict[str, tuple[str, ...]] = {"SOAP": ("S", "O", "A", "P"), "DAP": ("D", "A", "P")}
SECTION_LABELS: dict[str, str] = {
    "S": "Subjective",
    "O": "Objective",
    "A": "Assessment",
    "P": "Plan",
    "D": "Data",
}
MAX_SECTION = 20_000


# ------------------------------------------------------------------ plan content


def normalize_code(code: str) -> str:
    return code.strip().upper()


def valid_code(code: str) -> bool:
    return bool(ICD10CM_CODE.match(normalize_code(code)))


def _text(value: Any, field: str, errors: list[FieldError], *, required: bool, limit: int = MAX_TEXT) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        errors.append(FieldError(field, "must be text"))
    elif "\x00" in text:
        errors.append(FieldError(field, "must not contain NUL characters"))
    elif required and not text:
        errors.append(FieldError(field, "required"))
    elif len(text) > limit:
        errors.append(FieldError(field, f"at most {limit} characters"))
    return text


def _date(value: Any, field: str, errors: list[FieldError]) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors.append(FieldError(field, "a date, YYYY-MM-DD"))
    return None


def validate_plan(
    raw: Mapping[str, Any], *, today: date, team_user_ids: Iterable[str]
) -> tuple[dict[str, Any], list[FieldError]]:
    """The canonical content of a plan version, or what is wrong with it (field paths like goals[1].target).
    ``team_user_ids``: current care-team members, who may own an intervention."""
    errors: list[FieldError] = []
    team = set(team_user_ids)
    out: dict[str, Any] = {"problems": [], "goals": [], "interventions": []}
    for part in PARTS:
        items = raw.get(part) or []
        if not isinstance(items, list):
            errors.append(FieldError(part, "must be a list"))
            items = []
        if len(items) > MAX_ITEMS:
            errors.append(FieldError(part, f"at most {MAX_ITEMS}"))
            items = items[:MAX_ITEMS]
        for i, item in enumerate(items):
            at = f"{part}[{i}]"
            if not isinstance(item, Mapping):
                errors.append(FieldError(at, "must be an object"))
                continue
            clean = _ITEM_VALIDATORS[part](item, at, errors, team)
            if clean is not None:
                out[part].append(clean)
    codes = [p["code"] for p in out["problems"]]
    for code in {c for c in codes if codes.count(c) > 1}:
        errors.append(FieldError(f"problems[{codes.index(code)}].code", f"{code} is listed twice"))
    if not out["problems"] and not out["goals"] and not out["interventions"]:
        errors.append(FieldError("problems", "a plan needs at least one problem, goal or intervention"))
    review = _date(raw.get("review_date"), "review_date", errors)
    if review is not None:
        if review < today:
            errors.append(FieldError("review_date", "must be today or later"))
        elif review.year > today.year + 5:
            errors.append(FieldError("review_date", "within five years"))
        out["review_date"] = review.isoformat()
    return out, errors


def _problem(
    item: Mapping[str, Any], at: str, errors: list[FieldError], team: set[str]
) -> dict[str, Any] | None:
    code = _text(item.get("code"), f"{at}.code", errors, required=True, limit=10)
    description = _text(item.get("description"), f"{at}.description", errors, required=True, limit=200)
    if code and not valid_code(code):
        errors.append(FieldError(f"{at}.code", "an ICD-10-CM code such as F32.1"))
        return None
    return {"code": normalize_code(code), "description": description}


def _goal(
    item: Mapping[str, Any], at: str, errors: list[FieldError], team: set[str]
) -> dict[str, Any] | None:
    n = len(errors)
    instrument = item.get("instrument")
    if instrument not in INSTRUMENTS:
        errors.append(FieldError(f"{at}.instrument", f"one of {', '.join(INSTRUMENTS)}"))
    comparator = item.get("comparator")
    if comparator not in COMPARATORS:
        errors.append(FieldError(f"{at}.comparator", f"one of {', '.join(COMPARATORS)}"))
    target = item.get("target")
    if isinstance(target, bool) or not isinstance(target, int):
        errors.append(FieldError(f"{at}.target", "a whole-number score"))
    elif instrument in INSTRUMENTS:
        low, high, _ = INSTRUMENTS[instrument]
        if not low <= target <= high:
            errors.append(FieldError(f"{at}.target", f"{instrument} scores run from {low} to {high}"))
    due = _date(item.get("due"), f"{at}.due", errors)
    description = _text(item.get("description"), f"{at}.description", errors, required=False)
    if len(errors) > n or due is None:
        return None
    goal = {"instrument": instrument, "comparator": comparator, "target": target, "due": due.isoformat()}
    if description:
        goal["description"] = description
    return goal


def _intervention(
    item: Mapping[str, Any], at: str, errors: list[FieldError], team: set[str]
) -> dict[str, Any] | None:
    n = len(errors)
    discipline = item.get("discipline")
    if discipline not in DISCIPLINES:
        errors.append(FieldError(f"{at}.discipline", f"one of {', '.join(DISCIPLINES)}"))
    owner = str(item.get("owner_user_id") or "")
    if not owner:
        errors.append(FieldError(f"{at}.owner_user_id", "required: who on the care team owns this"))
    elif owner not in team:
        errors.append(FieldError(f"{at}.owner_user_id", "must be a current member of the care team"))
    description = _text(item.get("description"), f"{at}.description", errors, required=True)
    frequency = _text(item.get("frequency"), f"{at}.frequency", errors, required=False, limit=100)
    if len(errors) > n:
        return None
    out = {"discipline": discipline, "owner_user_id": owner, "description": description}
    if frequency:
        out["frequency"] = frequency
    return out


_ITEM_VALIDATORS: dict[Part, Callable[..., dict[str, Any] | None]] = {
    "problems": _problem,
    "goals": _goal,
    "interventions": _intervention,
}


def validate_reason(reason: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    text = _text(reason, "reason", errors, required=True, limit=1000)
    if text and len(text) < MIN_REASON:
        errors.append(FieldError("reason", f"say why in at least {MIN_REASON} characters"))
    return errors


# ------------------------------------------------------------------ who sees which item


def item_category(part: Part, item: Mapping[str, Any]) -> ItemCategory:
    if part == "interventions" and item.get("discipline") == "psychiatry":
        return "medications"
    if part == "problems" and SUBSTANCE_CODES.match(str(item.get("code", ""))):
        return "substance_use"
    if part == "goals" and item.get("instrument") == "AUDIT-C":
        return "substance_use"
    return "plan"


def item_authors(part: Part, item: Mapping[str, Any]) -> frozenset[str]:
    """Who counts as the author of an item: whoever added it, and the owner of an intervention."""
    ids = {str(item["added_by"])} if item.get("added_by") else set()
    if part == "interventions" and item.get("owner_user_id"):
        ids.add(str(item["owner_user_id"]))
    return frozenset(ids)


# sees(category, authors of the item) -> may the reader see it?
Sees = Callable[[ItemCategory, frozenset[str]], bool]

HIDDEN_REASONS: dict[ItemCategory, str] = {
    "plan": "hidden: the patient has not shared their treatment plan with you",
    "medications": "hidden: the patient has not shared medications with you",
    "substance_use": "hidden: the patient has not shared substance-use information with you (42 CFR Part 2)",
}


@dataclass(frozen=True, slots=True)
class Hidden:
    part: Part
    category: ItemCategory
    count: int

    @property
    def reason(self) -> str:
        return HIDDEN_REASONS[self.category]


def redact(content: Mapping[str, Any], sees: Sees) -> tuple[dict[str, Any], list[Hidden]]:
    """The content as this reader may see it, and what was left out (counted per part and category)."""
    out: dict[str, Any] = {k: v for k, v in content.items() if k not in PARTS}
    hidden: dict[tuple[Part, ItemCategory], int] = {}
    for part in PARTS:
        out[part] = []
        for item in content.get(part, []):
            category = item_category(part, item)
            if sees(category, item_authors(part, item)):
                out[part].append(item)
            else:
                hidden[(part, category)] = hidden.get((part, category), 0) + 1
    return out, [Hidden(p, c, n) for (p, c), n in hidden.items()]


def stamp_authors(
    submitted: Mapping[str, Any], current: Mapping[str, Any] | None, writer: str
) -> dict[str, Any]:
    """Items already in the current version keep who added them; new or changed ones are the writer's."""
    out = dict(submitted)
    for part in PARTS:
        before = {_identity(i): i.get("added_by") for i in (current or {}).get(part, [])}
        out[part] = [
            {**item, "added_by": before.get(_identity(item)) or writer} for item in submitted.get(part, [])
        ]
    return out


def _identity(item: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in item.items() if k != "added_by"))


def merge_hidden(
    submitted: Mapping[str, Any], current: Mapping[str, Any] | None, sees: Sees
) -> dict[str, Any]:
    """The new full content: what the writer submitted plus the current items they could not see, unchanged
    (a writer cannot remove or edit what they were never shown)."""
    out = dict(submitted)
    for part in PARTS:
        mine = submitted.get(part, [])
        seen = {_identity(i) for i in mine}
        kept = [
            i
            for i in (current or {}).get(part, [])
            if not sees(item_category(part, i), item_authors(part, i)) and _identity(i) not in seen
        ]
        out[part] = [*mine, *kept]
    return out


# ------------------------------------------------------------------ diff


@dataclass(frozen=True, slots=True)
class Change:
    part: str  # problems | goals | interventions | review_date
    kind: Literal["added", "removed", "changed"]
    label: str  # codes and short labels only
    fields: tuple[str, ...] = ()


def _key(part: Part, item: Mapping[str, Any]) -> str:
    if part == "problems":
        return str(item.get("code"))
    if part == "goals":
        return f"{item.get('instrument')}"
    return f"{item.get('discipline')}:{item.get('owner_user_id')}"


def _label(part: Part, item: Mapping[str, Any]) -> str:
    if part == "problems":
        return f"{item.get('code')} {item.get('description', '')}".strip()
    if part == "goals":
        template = COMPARATORS.get(str(item.get("comparator")), "{t}")
        return f"{item.get('instrument')} {template.format(t=item.get('target'))} by {item.get('due')}"
    return (
        f"{DISCIPLINES.get(str(item.get('discipline')), item.get('discipline'))}: {item.get('description')}"
    )


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    """What changed from ``old`` (None: the first version) to ``new``, item by item."""
    changes: list[Change] = []
    old = old or {}
    for part in PARTS:
        before = [_strip(i) for i in old.get(part, [])]
        after = [_strip(i) for i in new.get(part, [])]
        removed = [i for i in before if i not in after]
        added = [i for i in after if i not in before]
        for item in list(added):
            match = next((r for r in removed if _key(part, r) == _key(part, item)), None)
            if match is not None:
                removed.remove(match)
                added.remove(item)
                fields = tuple(sorted(k for k in set(match) | set(item) if match.get(k) != item.get(k)))
                changes.append(Change(part, "changed", _label(part, item), fields))
        changes += [Change(part, "removed", _label(part, i)) for i in removed]
        changes += [Change(part, "added", _label(part, i)) for i in added]
    if old.get("review_date") != new.get("review_date"):
        kind: Literal["added", "changed"] = "changed" if old.get("review_date") else "added"
        changes.append(Change("review_date", kind, str(new.get("review_date"))))
    return changes


def _strip(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "added_by"}


# ------------------------------------------------------------------ plain language


@dataclass(frozen=True, slots=True)
class PlainPlan:
    problems: list[str]
    goals: list[str]
    interventions: list[str]
    review: str | None


def plain_problem(code: str, description: str) -> str:
    code = normalize_code(code)
    return PLAIN_PROBLEMS.get(code) or PLAIN_CATEGORIES.get(code[:3]) or description


def _long_date(value: str) -> str:
    d = date.fromisoformat(value)
    return f"{d.strftime('%B')} {d.day}, {d.year}"


def plain_goal(goal: Mapping[str, Any]) -> str:
    _, _, measure = INSTRUMENTS.get(str(goal.get("instrument")), (0, 0, str(goal.get("instrument"))))
    how = COMPARATORS.get(str(goal.get("comparator")), "{t}").format(t=goal.get("target"))
    sentence = f"Bring your score on the {measure} {how} by {_long_date(str(goal['due']))}."
    if goal.get("description"):
        return f"{goal['description'].rstrip('.')}. {sentence}"
    return sentence


def plain_intervention(item: Mapping[str, Any], names: Mapping[str, str]) -> str:
    who = names.get(str(item.get("owner_user_id")), "your care team")
    what = str(item.get("description", "")).rstrip(".")
    often = f" ({item['frequency']})" if item.get("frequency") else ""
    return f"{DISCIPLINES.get(str(item.get('discipline')), 'Care')} with {who}: {what}{often}."


def plain_language(content: Mapping[str, Any], names: Mapping[str, str]) -> PlainPlan:
    """The plan as the patient reads it: conditions in words, goals as sentences, who does what."""
    review = content.get("review_date")
    return PlainPlan(
        problems=[plain_problem(p["code"], p.get("description", "")) for p in content.get("problems", [])],
        goals=[plain_goal(g) for g in content.get("goals", [])],
        interventions=[plain_intervention(i, names) for i in content.get("interventions", [])],
        review=f"Your care team will review this plan with you by {_long_date(review)}." if review else None,
    )


# ------------------------------------------------------------------ notes


def validate_sections(fmt: str | None, sections: Any) -> tuple[dict[str, str], list[FieldError]]:
    """SOAP needs S, O, A and P; DAP needs D, A and P; nothing else, none empty."""
    if fmt not in NOTE_FORMATS:
        return {}, [FieldError("format", "SOAP or DAP")]
    if not isinstance(sections, Mapping):
        return {}, [FieldError("sections", f"an object with {', '.join(NOTE_FORMATS[fmt])}")]
    errors: list[FieldError] = []
    required = NOTE_FORMATS[fmt]
    errors += [FieldError(f"sections.{k}", f"not a {fmt} section") for k in sections if k not in required]
    clean: dict[str, str] = {}
    for key in required:
        clean[key] = _text(sections.get(key), f"sections.{key}", errors, required=True, limit=MAX_SECTION)
    return clean, errors


def validate_body(body: Any, field: str = "body") -> tuple[str, list[FieldError]]:
    errors: list[FieldError] = []
    text = _text(body, field, errors, required=True, limit=MAX_SECTION)
    return text, errors
