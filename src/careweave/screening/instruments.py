"""Instrument definitions, read once from the versioned JSON files in ``careweave/screening/instruments/``.

Each file holds one instrument exactly as ``clinical-spec.md`` §1 describes it (texts, answer options, LOINC
codes with their verification status, scoring notes and source citations). Scoring itself lives in
:mod:`careweave.screening.scoring`; the ``scoring`` block of a file documents the same rules for readers and
renderers.

The answers array that the API posts, and that :func:`careweave.screening.scoring.score` takes, holds one value
per item of :attr:`Instrument.scored_items`, in order. Unscored items (PHQ-9 item 10, the GAD-7 difficulty
question, C-SSRS question 6b) are listed for rendering but are not part of that array.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from careweave.core.errors import FieldError, NotFound

INSTRUMENT_CODES: tuple[str, ...] = (
    "phq-2",
    "phq-9",
    "gad-2",
    "gad-7",
    "mdq",
    "audit-c",
    "c-ssrs-screener",
    "pcl-5",
)
_PACKAGE = "careweave.screening"
_DATA_DIR = "instruments"


@dataclass(frozen=True, slots=True)
class Code:
    """A coding. ``verified`` is False where the spec marks the code [UNVERIFIED]/[verify] (see ``note``)."""

    system: str
    code: str
    display: str | None = None
    verified: bool = True
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AnswerOption:
    value: int
    label: str
    code: str | None = None  # LOINC answer code (LA…), where known


@dataclass(frozen=True, slots=True)
class EnableWhen:
    """The item is asked only when the item ``question`` (a linkId) was answered with value ``answer``."""

    question: str
    answer: int


@dataclass(frozen=True, slots=True)
class Item:
    link_id: str
    number: str
    text: str
    answer_options: tuple[AnswerOption, ...]
    scored: bool = True
    required: bool = True
    code: Code | None = None
    paraphrased: bool = False
    enable_when: EnableWhen | None = None

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(option.value for option in self.answer_options)

    def option(self, value: int) -> AnswerOption:
        for option in self.answer_options:
            if option.value == value:
                return option
        raise KeyError(value)


@dataclass(frozen=True, slots=True)
class TotalScore:
    label: str
    min: int
    max: int
    code: Code | None = None


@dataclass(frozen=True, slots=True)
class Source:
    citation: str
    used_for: str


@dataclass(frozen=True, slots=True)
class Instrument:
    code: str
    version: str
    title: str
    description: str
    spec: str
    copyright: str
    panel: Code | None
    total: TotalScore | None
    stem: str | None
    instructions: str | None
    items: tuple[Item, ...]
    scoring: MappingProxyType[str, Any]
    sources: tuple[Source, ...]

    @property
    def scored_items(self) -> tuple[Item, ...]:
        """The items whose answers make up the posted answers array, in order."""
        return tuple(item for item in self.items if item.scored)

    @property
    def max_missing(self) -> int:
        return int(self.scoring.get("max_missing", 0))

    def item(self, link_id: str) -> Item:
        for item in self.items:
            if item.link_id == link_id:
                return item
        raise KeyError(link_id)


def get_instrument(code: str) -> Instrument:
    """The instrument with this code; :class:`NotFound` for an unknown code."""
    instrument = _catalogue().get(code)
    if instrument is None:
        raise NotFound(
            "Unknown screening instrument.",
            fields=[FieldError("instrument", f"must be one of {', '.join(INSTRUMENT_CODES)}")],
        )
    return instrument


def all_instruments() -> list[Instrument]:
    """Every instrument, in :data:`INSTRUMENT_CODES` order."""
    catalogue = _catalogue()
    return [catalogue[code] for code in INSTRUMENT_CODES]


@functools.cache
def _catalogue() -> dict[str, Instrument]:
    catalogue = {code: _parse(json.loads(_read(code))) for code in INSTRUMENT_CODES}
    for code, instrument in catalogue.items():
        if instrument.code != code:
            raise ValueError(f"{code}.json: declares code {instrument.code!r}")
    return catalogue


def _read(code: str) -> str:
    return resources.files(_PACKAGE).joinpath(_DATA_DIR, f"{code}.json").read_text(encoding="utf-8")


def _parse(raw: dict[str, Any]) -> Instrument:
    total = raw["total"]
    instrument = Instrument(
        code=raw["code"],
        version=raw["version"],
        title=raw["title"],
        description=raw["description"],
        spec=raw["spec"],
        copyright=raw["copyright"],
        panel=_code(raw["panel"]),
        total=None
        if total is None
        else TotalScore(label=total["label"], min=total["min"], max=total["max"], code=_code(total["code"])),
        stem=raw["stem"],
        instructions=raw["instructions"],
        items=tuple(_item(item) for item in raw["items"]),
        scoring=_freeze(raw["scoring"]),
        sources=tuple(Source(citation=s["citation"], used_for=s["used_for"]) for s in raw["sources"]),
    )
    _check(instrument)
    return instrument


def _code(raw: dict[str, Any] | None) -> Code | None:
    if raw is None:
        return None
    return Code(
        system=raw["system"],
        code=raw["code"],
        display=raw.get("display"),
        verified=raw.get("verified", True),
        note=raw.get("note"),
    )


def _item(raw: dict[str, Any]) -> Item:
    when = raw.get("enableWhen")
    return Item(
        link_id=raw["linkId"],
        number=raw["number"],
        text=raw["text"],
        answer_options=tuple(
            AnswerOption(value=o["value"], label=o["label"], code=o.get("code")) for o in raw["answerOptions"]
        ),
        scored=raw["scored"],
        required=raw["required"],
        code=_code(raw.get("code")),
        paraphrased=raw.get("paraphrased", False),
        enable_when=None if when is None else EnableWhen(question=when["question"], answer=when["answer"]),
    )


def _check(instrument: Instrument) -> None:
    """Catch data-file mistakes at load time rather than in a patient's score."""
    where = f"{instrument.code}.json"
    link_ids = [item.link_id for item in instrument.items]
    if len(set(link_ids)) != len(link_ids):
        raise ValueError(f"{where}: duplicate linkId")
    if not instrument.scored_items:
        raise ValueError(f"{where}: no scored items")
    for index, item in enumerate(instrument.items):
        if len(set(item.values)) != len(item.values) or not item.values:
            raise ValueError(f"{where}: item {item.link_id} needs distinct answer values")
        when = item.enable_when
        if when is not None and (
            when.question not in link_ids[:index] or when.answer not in instrument.item(when.question).values
        ):
            raise ValueError(f"{where}: item {item.link_id} has an invalid enableWhen")


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value
