"""Pure scoring of the screening instruments in ``clinical-spec.md`` §1. No I/O, no database, no clock.

Answers arrive exactly as the API posts them (one value per scored item, ``None`` for a missing answer):

- PHQ-2, PHQ-9, GAD-2, GAD-7: 0-3 per item. Only PHQ-9 (≤ 2 missing) and GAD-7 (≤ 1 missing) may be
  prorated (§1.1 platform rule, §1.3); PHQ-9 item 9 is never imputed.
- MDQ: 15 values — 13 part-1 yes/no as 1/0, part 2 (same period) as 1/0, part 3 problem level 0-3
  (0 no problem, 1 minor, 2 moderate, 3 serious) (§1.5).
- AUDIT-C: 3 values 0-4, plus ``sex`` for the sex-specific cut point (§1.6).
- C-SSRS screener: Q1-Q6 as 1/0; Q3-Q5 are ``None`` when Q2 = 0 and required when Q2 = 1; and
  ``behavior_within_3_months`` (question 6b) when Q6 = 1 (§1.7).
- PCL-5: 20 values 0-4 (§1.8).

Thresholds are in :class:`ScoringConfig`; its defaults are the spec's, and a clinic may override them.
Results are decision support: they flag and route, and a licensed clinician makes the clinical decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from careweave.core.errors import FieldError, NotFound
from careweave.screening.errors import InvalidAnswers

Band = tuple[int, str]  # (lowest total in the band, severity)

PHQ9_BANDS: Final[tuple[Band, ...]] = (
    (0, "minimal"),
    (5, "mild"),
    (10, "moderate"),
    (15, "moderately_severe"),
    (20, "severe"),
)
GAD7_BANDS: Final[tuple[Band, ...]] = ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe"))

# PCL-5 DSM-5 clusters (§1.8): (cluster, 1-based item numbers, items that must be endorsed).
PCL5_CLUSTERS: Final[tuple[tuple[str, tuple[int, ...], int], ...]] = (
    ("B", (1, 2, 3, 4, 5), 1),
    ("C", (6, 7), 1),
    ("D", (8, 9, 10, 11, 12, 13, 14), 2),
    ("E", (15, 16, 17, 18, 19, 20), 2),
)

# Accepted ``sex`` values (FHIR AdministrativeGender). Only "male" and "female" select a sex-specific cut point.
SEX_VALUES: Final[tuple[str, ...]] = ("female", "male", "other", "unknown")
RISK_LEVELS: Final[tuple[str, ...]] = ("none", "low", "moderate", "high")  # C-SSRS, lowest first

_0_TO_3: Final = range(4)
_0_TO_4: Final = range(5)
_NO_YES: Final = range(2)


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """Every threshold, defaulting to the spec. Override per clinic, e.g. ``ScoringConfig(phq2_cut=2)``."""

    phq2_cut: int = 3  # §1.2: ≥ 3 → full PHQ-9 (configurable to ≥ 2)
    gad2_cut: int = 3  # §1.4: ≥ 3 → full GAD-7
    phq9_cut: int = 10  # §1.1: PHQ-9 ≥ 10 (sens. 88 %, spec. 88 % for major depression)
    gad7_cut: int = 10  # §1.3: GAD-7 ≥ 10 → further evaluation
    phq9_bands: tuple[Band, ...] = PHQ9_BANDS  # §1.1 (Kroenke 2001)
    gad7_bands: tuple[Band, ...] = GAD7_BANDS  # §1.3 (Spitzer 2006)
    phq9_max_missing: int = 2  # §1.1 platform rule (Arrieta 2017)
    gad7_max_missing: int = 1  # §1.3 recommendation
    phq9_suicide_item_min: int = 1  # §1.1: item 9 ≥ 1 → same-encounter suicide risk assessment
    mdq_yes_min: int = 7  # §1.5 part 1
    mdq_problem_min: int = 2  # §1.5 part 3: "moderate" (2) or "serious" (3)
    auditc_cut_male: int = 4  # §1.6
    auditc_cut_female: int = 3  # §1.6
    pcl5_cut: int = 33  # §1.8 platform default (recommended range 31-33)
    pcl5_item_endorsed_min: int = 2  # §1.8 DSM-5 rule: an item rated ≥ 2 counts as endorsed

    def __post_init__(self) -> None:
        for name, bands in (("phq9_bands", self.phq9_bands), ("gad7_bands", self.gad7_bands)):
            lowers = [lower for lower, _ in bands]
            if not lowers or lowers[0] != 0 or lowers != sorted(set(lowers)):
                raise ValueError(f"{name} must start at 0 and rise strictly")
        if not 0 <= self.phq9_max_missing <= 8 or not 0 <= self.gad7_max_missing <= 6:
            raise ValueError("max_missing must leave at least one answered item")


DEFAULT_CONFIG: Final = ScoringConfig()


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The outcome of scoring one instrument. ``details`` holds only JSON-ready values.

    ``complete`` is False when the score must not be treated as final (PHQ-9 item 9 unanswered); a prorated
    total within the spec's limits is complete and carries ``prorated=True``.
    """

    code: str
    total: int | None
    severity: str | None
    positive: bool | None
    prorated: bool
    complete: bool
    answered_count: int
    risk_level: str | None = None
    flags: tuple[str, ...] = ()
    next_instruments: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Submission:
    answers: object
    sex: object
    behavior_within_3_months: object


def score(
    code: str,
    answers: Sequence[int | None],
    *,
    sex: str | None = None,
    behavior_within_3_months: bool | None = None,
    config: ScoringConfig = DEFAULT_CONFIG,
) -> ScoreResult:
    """Score one instrument. Raises :class:`InvalidAnswers` naming each bad item, :class:`NotFound` for an
    unknown instrument code. ``sex`` is used by AUDIT-C only; ``behavior_within_3_months`` by C-SSRS only."""
    scorer = _SCORERS.get(code)
    if scorer is None:
        raise NotFound(
            "Unknown screening instrument.",
            fields=[FieldError("instrument", f"must be one of {', '.join(_SCORERS)}")],
        )
    if code != "c-ssrs-screener" and behavior_within_3_months is not None:
        raise InvalidAnswers(
            fields=[FieldError("behavior_within_3_months", "applies only to the c-ssrs-screener")]
        )
    return scorer(_Submission(answers, sex, behavior_within_3_months), config)


# --------------------------------------------------------------------------- PHQ / GAD


def _score_phq2(sub: _Submission, config: ScoringConfig) -> ScoreResult:
    return _prescreen("phq-2", sub, config.phq2_cut, next_instrument="phq-9")


def _score_gad2(sub: _Submission, config: ScoringConfig) -> ScoreResult:
    return _prescreen("gad-2", sub, config.gad2_cut, next_instrument="gad-7")


def _prescreen(code: str, sub: _Submission, cut: int, *, next_instrument: str) -> ScoreResult:
    """PHQ-2 / GAD-2 (§1.2, §1.4): both items required; positive → administer the full instrument."""
    answers = _validated(sub.answers, [_0_TO_3] * 2)
    total = sum(answers)
    positive = total >= cut
    return ScoreResult(
        code=code,
        total=total,
        severity=None,
        positive=positive,
        prorated=False,
        complete=True,
        answered_count=2,
        next_instruments=(next_instrument,) if positive else (),
        details={"cut_point": cut},
    )


def _score_phq9(sub: _Submission, config: ScoringConfig) -> ScoreResult:
    """PHQ-9 (§1.1). Up to ``phq9_max_missing`` items prorated; item 9 is never imputed: when it is missing
    the total covers items 1-8 only, the score is incomplete and flagged ``suicide_item_unanswered``."""
    answers = _with_missing(sub.answers, 9, config.phq9_max_missing)
    item9 = answers[8]
    first_eight = [value for value in answers[:8] if value is not None]
    if item9 is None:
        total = _prorate(sum(first_eight), items=8, answered=len(first_eight))
    else:
        total = _prorate(sum(first_eight) + item9, items=9, answered=len(first_eight) + 1)
    prorated = len(first_eight) < 8
    flags = ["prorated"] if prorated else []
    next_instruments: tuple[str, ...] = ()
    if item9 is None:
        flags.append("suicide_item_unanswered")
    elif item9 >= config.phq9_suicide_item_min:
        flags.append("suicide_item_positive")
        next_instruments = ("c-ssrs-screener",)
    return ScoreResult(
        code="phq-9",
        total=total,
        severity=_band(total, config.phq9_bands),
        positive=total >= config.phq9_cut,
        prorated=prorated,
        complete=item9 is not None,
        answered_count=_answered(answers),
        flags=tuple(flags),
        next_instruments=next_instruments,
        details={
            "item_9": item9,
            "missing_items": _missing_numbers(answers),
            "total_excludes_item_9": item9 is None,
            "cut_point": config.phq9_cut,
        },
    )


def _score_gad7(sub: _Submission, config: ScoringConfig) -> ScoreResult:
    """GAD-7 (§1.3): at most ``gad7_max_missing`` items missing, prorated x7/n and flagged."""
    answers = _with_missing(sub.answers, 7, config.gad7_max_missing)
    answered = [value for value in answers if value is not None]
    total = _prorate(sum(answered), items=7, answered=len(answered))
    prorated = len(answered) < 7
    return ScoreResult(
        code="gad-7",
        total=total,
        severity=_band(total, config.gad7_bands),
        positive=total >= config.gad7_cut,
        prorated=prorated,
        complete=True,
        answered_count=len(answered),
        flags=("prorated",) if prorated else (),
        details={"missing_items": _missing_numbers(answers), "cut_point": config.gad7_cut},
    )


def _with_missing(raw: object, count: int, max_missing: int) -> list[int | None]:
    """0-3 answers where up to ``max_missing`` may be ``None``; beyond that every missing item is named."""
    values = _as_list(raw, count)
    errors = _value_errors(values, [_0_TO_3] * count)
    missing = [index for index, value in enumerate(values) if value is None]
    if len(missing) > max_missing:
        message = f"is required: at most {max_missing} of {count} items may be missing"
        errors += [FieldError(f"answers[{index}]", message) for index in missing]
    _raise_if(errors)
    return cast(list[int | None], values)


def _prorate(total: int, *, items: int, answered: int) -> int:
    """``total x items / answered`` rounded half up, in exact integer arithmetic (a score is a whole number)."""
    return (2 * total * items + answered) // (2 * answered)


def _band(total: int, bands: tuple[Band, ...]) -> str:
    return [name for lower, name in bands if total >= lower][-1]


# --------------------------------------------------------------------------- MDQ


def _score_mdq(sub: _Submission, config: ScoringConfig) -> ScoreResult:
    """MDQ (§1.5): positive only when all three parts are met."""
    answers = _validated(sub.answers, [_NO_YES] * 14 + [_0_TO_3])
    yes_count = sum(answers[:13])
    part1 = yes_count >= config.mdq_yes_min
    part2 = answers[13] == 1
    part3 = answers[14] >= config.mdq_problem_min
    flags = [
        name
        for name, met in (
            ("mdq_part1_threshold_met", part1),
            ("mdq_part2_same_period", part2),
            ("mdq_part3_problem_met", part3),
        )
        if met
    ]
    return ScoreResult(
        code="mdq",
        total=yes_count,
        severity=None,
        positive=part1 and part2 and part3,
        prorated=False,
        complete=True,
        answered_count=15,
        flags=tuple(flags),
        details={
            "part1_yes_count": yes_count,
            "part1_yes_min": config.mdq_yes_min,
            "part1_met": part1,
            "part2_same_period": part2,
            "part3_problem_level": answers[14],
            "part3_problem_min": config.mdq_problem_min,
            "part3_met": part3,
        },
    )


# --------------------------------------------------------------------------- AUDIT-C


def _score_auditc(sub: _Submission, config: ScoringConfig) -> ScoreResult:
    """AUDIT-C (§1.6): men ≥ 4, women ≥ 3. Without a usable sex, the more sensitive female cut point is used
    and flagged; the cut point and the sex input used are recorded."""
    values = _as_list(sub.answers, 3)
    errors = _value_errors(values, [_0_TO_4] * 3) + _required_errors(values, range(3))
    sex = sub.sex
    if sex is not None and sex not in SEX_VALUES:
        errors.append(FieldError("sex", f"must be one of {', '.join(SEX_VALUES)}"))
    _raise_if(errors)
    total = sum(cast(list[int], values))
    if sex == "male":
        cut, basis, flags = config.auditc_cut_male, "male", ()
    elif sex == "female":
        cut, basis, flags = config.auditc_cut_female, "female", ()
    else:
        cut, basis = config.auditc_cut_female, "female_default"
        flags = ("sex_unspecified_female_cut_point_used",)
    return ScoreResult(
        code="audit-c",
        total=total,
        severity=None,
        positive=total >= cut,
        prorated=False,
        complete=True,
        answered_count=3,
        flags=flags,
        details={"cut_point": cut, "cut_point_basis": basis, "sex_input": sex},
    )


# --------------------------------------------------------------------------- C-SSRS screener


def _score_cssrs(sub: _Submission, config: ScoringConfig) -> ScoreResult:
    """C-SSRS screener (§1.7): the level of the highest-severity item endorsed, never a sum."""
    answers = _cssrs_validated(sub.answers, sub.behavior_within_3_months)
    q1, q2, q3, q4, q5, q6 = answers
    recent = sub.behavior_within_3_months is True
    triggers = {
        "high": _named(("q4", q4 == 1), ("q5", q5 == 1), ("q6_within_3_months", q6 == 1 and recent)),
        "moderate": _named(("q3", q3 == 1), ("q6_over_3_months_ago", q6 == 1 and not recent)),
        "low": _named(("q1", q1 == 1), ("q2", q2 == 1)),
    }
    level = next((name for name in ("high", "moderate", "low") if triggers[name]), "none")
    return ScoreResult(
        code="c-ssrs-screener",
        total=None,
        severity=None,
        positive=None,
        prorated=False,
        complete=True,
        answered_count=_answered(answers),
        risk_level=level,
        details={
            "endorsed": [f"q{number}" for number, value in enumerate(answers, 1) if value == 1],
            "level_triggers": triggers.get(level, []),
            "behavior_within_3_months": sub.behavior_within_3_months,
        },
    )


def _cssrs_validated(raw: object, behavior: object) -> list[int | None]:
    """Q1, Q2 and Q6 always; Q3-Q5 exactly when Q2 = 1; 6b (``behavior_within_3_months``) exactly when Q6 = 1."""
    values = _as_list(raw, 6)
    errors = _value_errors(values, [_NO_YES] * 6) + _required_errors(values, (0, 1, 5))
    q2, q6 = values[1], values[5]
    for index in (2, 3, 4):
        if q2 == 1 and values[index] is None:
            errors.append(FieldError(f"answers[{index}]", "is required when answers[1] (Q2) is 1"))
        elif q2 == 0 and values[index] is not None:
            errors.append(FieldError(f"answers[{index}]", "must be null when answers[1] (Q2) is 0"))
    field_name = "behavior_within_3_months"
    if behavior is not None and not isinstance(behavior, bool):
        errors.append(FieldError(field_name, "must be true or false"))
    elif q6 == 1 and behavior is None:
        errors.append(FieldError(field_name, "is required when answers[5] (Q6) is 1"))
    elif q6 == 0 and behavior is not None:
        errors.append(FieldError(field_name, "must be null when answers[5] (Q6) is 0"))
    _raise_if(errors)
    return cast(list[int | None], values)


def _named(*pairs: tuple[str, bool]) -> list[str]:
    return [name for name, hit in pairs if hit]


# --------------------------------------------------------------------------- PCL-5


def _score_pcl5(sub: _Submission, config: ScoringConfig) -> ScoreResult:
    """PCL-5 (§1.8): provisional PTSD if total ≥ cut point OR the DSM-5 cluster rule; both are recorded."""
    answers = _validated(sub.answers, [_0_TO_4] * 20)
    total = sum(answers)
    clusters = {
        name: _cluster(answers, items, required, config.pcl5_item_endorsed_min)
        for name, items, required in PCL5_CLUSTERS
    }
    cut_met = total >= config.pcl5_cut
    cluster_met = all(cluster["met"] for cluster in clusters.values())
    flags = _named(("pcl5_cut_point_met", cut_met), ("pcl5_dsm5_cluster_rule_met", cluster_met))
    return ScoreResult(
        code="pcl-5",
        total=total,
        severity=None,
        positive=cut_met or cluster_met,
        prorated=False,
        complete=True,
        answered_count=20,
        flags=tuple(flags),
        details={
            "cut_point": config.pcl5_cut,
            "cut_point_met": cut_met,
            "item_endorsed_min": config.pcl5_item_endorsed_min,
            "clusters": clusters,
            "cluster_rule_met": cluster_met,
        },
    )


def _cluster(answers: list[int], items: tuple[int, ...], required: int, endorsed_min: int) -> dict[str, Any]:
    endorsed = sum(1 for number in items if answers[number - 1] >= endorsed_min)
    return {"items": list(items), "endorsed": endorsed, "required": required, "met": endorsed >= required}


# --------------------------------------------------------------------------- shared validation


def _as_list(answers: object, count: int) -> list[object]:
    if isinstance(answers, str | bytes | bytearray) or not isinstance(answers, Sequence):
        raise InvalidAnswers(fields=[FieldError("answers", f"must be a list of {count} answers")])
    if len(answers) != count:
        raise InvalidAnswers(
            fields=[FieldError("answers", f"must have exactly {count} values, got {len(answers)}")]
        )
    return list(answers)


def _validated(raw: object, allowed: list[range]) -> list[int]:
    """Every answer required and within its allowed values."""
    values = _as_list(raw, len(allowed))
    _raise_if(_value_errors(values, allowed) + _required_errors(values, range(len(values))))
    return cast(list[int], values)


def _value_errors(values: list[object], allowed: list[range]) -> list[FieldError]:
    """An error for every present answer that is not an allowed integer (bools and strings are not)."""
    return [
        FieldError(f"answers[{index}]", f"must be one of {', '.join(map(str, ok))}")
        for index, (value, ok) in enumerate(zip(values, allowed, strict=True))
        if value is not None and not (_is_int(value) and value in ok)
    ]


def _required_errors(values: list[object], indexes: Sequence[int]) -> list[FieldError]:
    return [FieldError(f"answers[{index}]", "is required") for index in indexes if values[index] is None]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _raise_if(errors: list[FieldError]) -> None:
    """Raise with the first error per field, answers in item order, then keyword fields."""
    if errors:
        first: dict[str, FieldError] = {}
        for error in errors:
            first.setdefault(error.field, error)
        raise InvalidAnswers(fields=sorted(first.values(), key=_field_order))


def _field_order(error: FieldError) -> tuple[int, int]:
    if error.field.startswith("answers["):
        return (0, int(error.field[len("answers[") : -1]))
    return (1, 0)


def _answered(answers: Sequence[int | None]) -> int:
    return sum(1 for value in answers if value is not None)


def _missing_numbers(answers: Sequence[int | None]) -> list[int]:
    return [number for number, value in enumerate(answers, 1) if value is None]


_SCORERS: Final[dict[str, Callable[[_Submission, ScoringConfig], ScoreResult]]] = {
    "phq-2": _score_phq2,
    "phq-9": _score_phq9,
    "gad-2": _score_gad2,
    "gad-7": _score_gad7,
    "mdq": _score_mdq,
    "audit-c": _score_auditc,
    "c-ssrs-screener": _score_cssrs,
    "pcl-5": _score_pcl5,
}
