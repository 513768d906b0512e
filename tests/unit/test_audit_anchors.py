"""Audit chain anchors (audit/chain.py): the lines, parsing them, and what the stored chain must still match."""

from __future__ import annotations

from datetime import UTC, datetime

from careweave.audit import chain

H1, H2 = "a" * 64, "b" * 64


def test_an_anchor_line_round_trips() -> None:
    line = chain.anchor_line(42, H1, datetime(2026, 11, 28, 7, 0, tzinfo=UTC), chain=3)
    assert line == '{"chain":3,"hash":"' + H1 + '","seq":42,"taken_at":"2026-11-28T07:00:00.000000Z"}'
    anchors, problems = chain.parse_anchors(line + "\n\n")
    assert problems == [] and anchors == [chain.Anchor(42, H1, "2026-11-28T07:00:00.000000Z", chain=3)]


def test_an_anchor_line_from_before_the_chains_is_about_chain_1() -> None:
    anchors, problems = chain.parse_anchors('{"hash":"' + H1 + '","seq":42,"taken_at":"t"}')
    assert problems == [] and anchors == [chain.Anchor(42, H1, "t", chain=1)]


def test_lines_that_are_not_anchors_are_named() -> None:
    text = "\n".join(
        [
            '{"seq": 1, "hash": "short"}',
            "[1, 2]",
            '{"seq": true, "hash": "' + H1 + '"}',
            "nope",
            '{"chain": 0, "seq": 1, "hash": "' + H1 + '"}',
            '{"chain": "2", "seq": 1, "hash": "' + H1 + '"}',
            '{"chain": 1, "seq": 99999999999999999999, "hash": "' + H1 + '"}',
            '{"chain": 40000, "seq": 1, "hash": "' + H1 + '"}',
            "",
        ]
    )
    anchors, problems = chain.parse_anchors(text)
    assert anchors == []
    assert [p.split(":")[0] for p in problems] == [f"anchor line {n}" for n in (1, 2, 3, 4, 5, 6, 7, 8)]


def test_the_stored_chain_must_match_every_anchor() -> None:
    anchors = [chain.Anchor(0, chain.GENESIS, ""), chain.Anchor(3, H1, "t1"), chain.Anchor(7, H2, "t2", 2)]
    heads = {1: 9, 2: 9}
    assert chain.check_anchors(anchors, {(1, 3): H1, (2, 7): H2}, heads) == []
    rewritten = chain.check_anchors(anchors, {(1, 3): H2, (2, 7): H2}, heads)
    assert rewritten == [
        "anchor chain 1 seq 3 (taken t1): the stored hash differs; history up to it was rewritten"
    ]
    truncated = chain.check_anchors(anchors, {(1, 3): H1}, {1: 9, 2: 5})
    assert truncated == ["anchor chain 2 seq 7 (taken t2): the stored chain no longer reaches it"]
    # the same seq on another chain is another event
    assert chain.check_anchors(anchors, {(1, 3): H1, (1, 7): H2}, heads) == [
        "anchor chain 2 seq 7 (taken t2): the stored chain no longer reaches it"
    ]
    headless = chain.check_anchors(anchors, {(1, 3): H1, (2, 7): H2}, {1: 9})
    assert headless == ["anchor chain 2 seq 7 (taken t2): the stored chain no longer reaches it"]
    assert chain.check_anchors([chain.Anchor(0, H1, "")], {}, {1: 0}) == [
        "anchor chain 1 seq 0: the stored hash differs; history up to it was rewritten"
    ]
