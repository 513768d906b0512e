"""The trend chart is well-formed SVG a screen reader can name, with every score, the target and markers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from careweave.outcomes.chart import Band, Marker, Point, trend_svg

NS = "{http://www.w3.org/2000/svg}"
BANDS = [
    Band(0, 4, "minimal"),
    Band(5, 9, "mild"),
    Band(10, 14, "moderate"),
    Band(15, 19, "mod. severe"),
    Band(20, 27, "severe"),
]


def test_scores_target_and_markers_are_drawn_and_described() -> None:
    svg = trend_svg(
        title="PHQ-9 over time",
        maximum=27,
        bands=BANDS,
        points=[
            Point(date(2026, 1, 5), 18),
            Point(date(2026, 2, 2), 17, prorated=True),
            Point(date(2026, 3, 23), 17),
        ],
        target=5,
        markers=[
            Marker(date(2026, 1, 12), "Sertraline 50 mg <start>", "medication"),
            Marker(date(2026, 3, 23), "Caseload review", "review"),
        ],
    )
    root = ET.fromstring(svg)  # noqa: S314 (our own output): well-formed, text escaped
    assert root.get("role") == "img"
    assert root.find(f"{NS}title").text == "PHQ-9 over time"
    desc = root.find(f"{NS}desc").text
    assert "2026-02-02: 17 (prorated)" in desc and "Target: below 5." in desc
    circles = root.findall(f"{NS}circle")
    assert len(circles) == 3 and circles[1].get("fill") == "#fff"  # a prorated score is hollow
    assert len(root.findall(f"{NS}rect")) == len(BANDS)
    texts = "".join(t.text or "" for t in root.iter(f"{NS}text"))
    assert "target < 5" in texts and "Sertraline 50 mg <start>"[:24] in texts


def test_an_empty_chart_still_renders() -> None:
    root = ET.fromstring(trend_svg(title="GAD-7", maximum=21, bands=[], points=[], target=None))  # noqa: S314
    assert root.find(f"{NS}desc").text == "No scores yet."
