"""Crisis language in a patient's message: a pure, data-driven phrase matcher (no I/O besides reading the
packaged phrase list once).

The list is ``messaging/data/crisis_phrases.json``: rules (a construct, its alert level, its sources) with
first-person phrases. The high rules are the triage STEP 0 signals (spec §7.3: imminent intent or plan,
suicidal behaviour, homicidal intent, cannot keep safe); the moderate ones are the warning signs of the 988
Lifeline, SAMHSA and NIMH and the C-SSRS ideation constructs. Matching:

- case, punctuation, apostrophes (straight or curly) and spacing are ignored; common contractions are
  expanded ("I'm" → "i am", "can't"/"cannot" → "can not"), so one phrase covers its spellings;
- a phrase is a token sequence; ``...`` in a phrase stands for up to three words ("saved up ... pills");
- negation: a match is skipped when "not", "no" or "never" stands within four words before it in the same
  clause (punctuation and "but", "and", "so", ... end a negation's scope), unless that cue starts a pseudo-negation
  ("no one", "no longer"); "I'm not going to kill myself" does not match, "I'm not ok, I want to die" does.

It errs towards flagging (third-person or historical mentions of suicide match): a clinician reviews every
alert. Results carry rule ids and levels only, never the matched text.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

Level = Literal["moderate", "high"]
LEVELS: tuple[Level, ...] = ("moderate", "high")
GAP = "..."
MAX_GAP = 3
_APOSTROPHES = str.maketrans({"'": "", "\u2019": "", "\u2018": "", "\u02bc": "", "`": "", "\u00b4": ""})
_CLAUSE_PUNCT = re.compile(r"[.,;:!?\n\r()\[\]{}\u2026\u2014\u2013]+|\s-\s")
_NON_WORD = re.compile(r"[^0-9a-z]+")


class CrisisDataError(ValueError):
    """The phrase list is malformed (raised when it is loaded)."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    level: Level
    phrases: tuple[tuple[str, ...], ...]
    sources: tuple[str, ...]
    triage: str | None = None


@dataclass(frozen=True, slots=True)
class PhraseList:
    version: str
    rules: tuple[Rule, ...]
    contractions: Mapping[str, tuple[str, ...]]
    negation_cues: frozenset[str]
    pseudo_negations: tuple[tuple[str, ...], ...]
    clause_breaks: frozenset[str]
    window: int
    sources: Mapping[str, str]  # id -> url


@dataclass(frozen=True, slots=True)
class CrisisResult:
    matched: bool
    level: Level | None  # the highest level among the rules that matched
    rule_ids: tuple[str, ...]
    imminent: (
        bool  # a triage STEP 0 signal (imminent intent/plan, behaviour, homicidal intent, cannot keep safe)
    )


NO_MATCH = CrisisResult(False, None, (), False)


# ------------------------------------------------------------------ text


def _words(text: str, contractions: Mapping[str, tuple[str, ...]]) -> list[str]:
    out: list[str] = []
    for raw in _NON_WORD.split(text):
        if raw:
            out.extend(contractions.get(raw, (raw,)))
    return out


def clauses(text: str, data: PhraseList) -> list[list[str]]:
    """The text as punctuation-delimited segments of normalised words (lower case, no punctuation,
    contractions expanded). Conjunctions ("but", "and") stay in: they end a negation's scope, not a phrase."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    return [words for part in _CLAUSE_PUNCT.split(folded) if (words := _words(part, data.contractions))]


def _match_at(words: Sequence[str], i: int, pattern: Sequence[str]) -> bool:
    if not pattern:
        return True
    head, rest = pattern[0], pattern[1:]
    if head == GAP:
        return any(_match_at(words, i + skip, rest) for skip in range(MAX_GAP + 1) if i + skip <= len(words))
    return i < len(words) and words[i] == head and _match_at(words, i + 1, rest)


def _negated(words: Sequence[str], start: int, data: PhraseList) -> bool:
    """A negation cue within ``window`` words before ``start``, not beyond a conjunction that starts another
    clause, and not a pseudo-negation ("no one", "no longer")."""
    for j in range(start - 1, max(0, start - data.window) - 1, -1):
        if words[j] in data.clause_breaks:
            return False
        if words[j] in data.negation_cues and not any(
            tuple(words[j : j + len(p)]) == p for p in data.pseudo_negations
        ):
            return True
    return False


def _rule_matches(clause_words: Sequence[str], rule: Rule, data: PhraseList) -> bool:
    for pattern in rule.phrases:
        for start in range(len(clause_words)):
            if _match_at(clause_words, start, pattern) and not _negated(clause_words, start, data):
                return True
    return False


def check(text: str, data: PhraseList | None = None) -> CrisisResult:
    """Does ``text`` contain crisis language? Pure (``data`` defaults to the packaged list)."""
    data = data or load()
    if not text or not text.strip():
        return NO_MATCH
    parts = clauses(text, data)
    hits = [r for r in data.rules if any(_rule_matches(c, r, data) for c in parts)]
    if not hits:
        return NO_MATCH
    level = max((r.level for r in hits), key=LEVELS.index)
    return CrisisResult(True, level, tuple(r.id for r in hits), any(r.triage for r in hits))


# ------------------------------------------------------------------ data


def _tokens(phrase: str, contractions: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    for i, piece in enumerate(phrase.split(GAP)):
        if i:
            out.append(GAP)
        folded = unicodedata.normalize("NFKC", piece).casefold().translate(_APOSTROPHES)
        out.extend(_words(folded, contractions))
    return tuple(out)


def parse(raw: Mapping[str, Any]) -> PhraseList:
    """Validate and freeze a decoded phrase list. Raises :class:`CrisisDataError`."""
    try:
        contractions = {k: tuple(v.split()) for k, v in raw.get("contractions", {}).items()}
        sources = {s["id"]: s["url"] for s in raw["sources"]}
        neg = raw["negation"]
        rules: list[Rule] = []
        seen: set[str] = set()
        for r in raw["rules"]:
            if r["id"] in seen:
                raise CrisisDataError(f"rule {r['id']!r} appears twice")
            seen.add(r["id"])
            if r["level"] not in LEVELS:
                raise CrisisDataError(f"rule {r['id']!r}: level must be one of {LEVELS}")
            if unknown := [s for s in r["sources"] if s not in sources]:
                raise CrisisDataError(f"rule {r['id']!r}: unknown sources {unknown}")
            phrases = tuple(_tokens(p, contractions) for p in r["phrases"])
            if not phrases or any(not p or p[0] == GAP or p[-1] == GAP for p in phrases):
                raise CrisisDataError(
                    f"rule {r['id']!r}: empty phrase or a phrase that starts/ends with {GAP}"
                )
            rules.append(Rule(r["id"], r["level"], phrases, tuple(r["sources"]), r.get("triage")))
        return PhraseList(
            version=str(raw["version"]),
            rules=tuple(rules),
            contractions=contractions,
            negation_cues=frozenset(neg["cues"]),
            pseudo_negations=tuple(tuple(p.split()) for p in neg.get("pseudo", [])),
            clause_breaks=frozenset(neg.get("clause_breaks", [])),
            window=int(neg["window"]),
            sources=sources,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise CrisisDataError(f"crisis phrase list is malformed: {exc!r}") from exc


def read_document() -> dict[str, Any]:
    text = resources.files("careweave.messaging").joinpath("data", "crisis_phrases.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def load() -> PhraseList:
    """The packaged list, read and validated once per process."""
    return parse(read_document())
