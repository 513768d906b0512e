"""Audit chain anchors (audit/chain.py): the lines, parsing them, and what the stored chain must still match."""

from __future__ import annotations

from datetime import UTC, datetime

from careweave.audit import chain

H1, H2 = "a" * 64, "b" * 64


def test_an_anchor_line_round_trips() -> None:
    line = chain.anchor_line(42, H1, datetime(2026, 11, 28, 7, 0, tzinfo=UTC))
    assert line == '{"hash":"' + H1 + '","seq":42,"taken_at":"2026-11-28T07:00:00.000000Z"}'
    anchors, problems = chain.parse_anchors(line + "\n\n")
    assert problems == [] and anchors == [chain.Anchor(42, H1, "2026-11-28T07:00:00.000000Z")]


def test_lines_that_are_not_anchors_are_named() -> None:
    text = "\n".join(
        ['{"seq": 1, "hash": "short"}', "[1, 2]", '{"seq": true, "hash": "' + H1 + '"}', "nope", ""]
    )
    anchors, problems = chain.parse_anchors(text)
    assert anchors == []
    assert [p.split(":")[0] for p in problems] == [f"anchor line {n}" for n in (1, 2, 3, 4)]


def test_the_stored_chain_must_match_every_anchor() -> None:
    anchors = [chain.Anchor(0, chain.GENESIS, ""), chain.Anchor(3, H1, "t1"), chain.Anchor(7, H2, "t2")]
    assert chain.check_anchors(anchors, {3: H1, 7: H2}, head_seq=9) == []
    rewritten = chain.check_anchors(anchors, {3: H2, 7: H2}, head_seq=9)
    assert rewritten == ["anchor seq 3 (taken t1): the stored hash differs; history up to it was rewritten"]
    truncated = chain.check_anchors(anchors, {3: H1}, head_seq=5)
    assert truncated == ["anchor seq 7 (taken t2): the stored chain no longer reaches it"]
    assert chain.check_anchors([chain.Anchor(0, H1, "")], {}, head_seq=0) == [
        "anchor seq 0: the stored hash differs; history up to it was rewritten"
    ]
