"""The per-patient trend chart as server-rendered SVG (issue #8): no script, no CDN, one pure function.

Scores over time against the instrument's severity bands, the target line, and markers for medication starts and
changes, therapy start and plan reviews. The SVG carries a title and description for screen readers; the page
puts the same data in a table beside it (the accessible alternative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 16, 40
# Band fills from least to most severe (light enough for the score line and labels to read on them).
BAND_FILLS = ("#e8f5e9", "#f1f8e9", "#fff8e1", "#fff3e0", "#fbe9e7")
MARKER_COLOURS = {"medication": "#6a1b9a", "therapy": "#00695c", "review": "#1565c0"}


@dataclass(frozen=True, slots=True)
class Point:
    day: date
    score: int
    prorated: bool = False


@dataclass(frozen=True, slots=True)
class Marker:
    day: date
    label: str
    kind: str  # medication | therapy | review


@dataclass(frozen=True, slots=True)
class Band:
    low: int
    high: int
    label: str


def trend_svg(
    *,
    title: str,
    maximum: int,
    bands: Sequence[Band],
    points: Sequence[Point],
    target: int | None,
    markers: Sequence[Marker] = (),
    start: date | None = None,
    end: date | None = None,
) -> str:
    """An SVG document (as text) of ``points`` from ``start`` to ``end`` (defaults: the data's own span)."""
    days = [p.day for p in points] + [m.day for m in markers]
    first = start or (min(days) if days else date.today())
    last = end or (max(days) if days else first)
    if last <= first:
        last = first + timedelta(days=7)
    span = (last - first).days
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return round(LEFT + plot_w * (day - first).days / span, 1)

    def y(score: float) -> float:
        return round(TOP + plot_h * (1 - score / maximum), 1)

    described = ", ".join(
        f"{p.day.isoformat()}: {p.score}{' (prorated)' if p.prorated else ''}" for p in points
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" class="trend-chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(described or "No scores yet.")}'
        f"{escape(f' Target: below {target}.') if target is not None else ''}</desc>",
    ]
    for i, band in enumerate(bands):
        top, bottom = y(min(band.high + 1, maximum)), y(band.low)
        fill = BAND_FILLS[min(i, len(BAND_FILLS) - 1)]
        out.append(
            f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{round(bottom - top, 1)}" fill="{fill}"/>'
            f'<text x="{WIDTH - RIGHT - 4}" y="{round(top + 12, 1)}" text-anchor="end" font-size="10" '
            f'fill="#555">{escape(band.label)}</text>'
        )
    for tick in range(0, maximum + 1, 5 if maximum > 12 else 2):
        out.append(
            f'<text x="{LEFT - 6}" y="{y(tick) + 4}" text-anchor="end" font-size="11" fill="#333">{tick}</text>'
        )
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>')
    out.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#333"/>'
    )
    for label_day in _ticks(first, last):
        out.append(
            f'<text x="{x(label_day)}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11" '
            f'fill="#333">{label_day.strftime("%-d %b")}</text>'
        )
    if target is not None:
        out.append(
            f'<line x1="{LEFT}" y1="{y(target)}" x2="{LEFT + plot_w}" y2="{y(target)}" stroke="#2e7d32" '
            f'stroke-width="2" stroke-dasharray="6 4"/>'
            f'<text x="{LEFT + 4}" y="{y(target) - 4}" font-size="11" fill="#2e7d32">target &lt; {target}</text>'
        )
    for i, m in enumerate(sorted(markers, key=lambda m: m.day)):
        colour = MARKER_COLOURS.get(m.kind, "#444")
        # Labels near the right edge end at their line instead of starting there (they would be cut off);
        # neighbours alternate between two rows so they overlap less.
        right = x(m.day) > LEFT + plot_w * 0.7
        anchor = f'x="{x(m.day) - 3}" text-anchor="end"' if right else f'x="{x(m.day) + 3}"'
        label_y = HEIGHT - 4 - 11 * (i % 2)
        out.append(
            f"<g><title>{escape(m.day.isoformat())}: {escape(m.label)}</title>"
            f'<line x1="{x(m.day)}" y1="{TOP}" x2="{x(m.day)}" y2="{TOP + plot_h}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="2 3"/>'
            f'<text {anchor} y="{label_y}" font-size="10" fill="{colour}">{escape(m.label[:24])}</text></g>'
        )
    if points:
        path = " ".join(f"{x(p.day)},{y(p.score)}" for p in sorted(points, key=lambda p: p.day))
        out.append(f'<polyline points="{path}" fill="none" stroke="#263238" stroke-width="2"/>')
        for p in points:
            hollow = ' fill="#fff" stroke="#263238" stroke-width="2"' if p.prorated else ' fill="#263238"'
            out.append(
                f'<circle cx="{x(p.day)}" cy="{y(p.score)}" r="4"{hollow}>'
                f"<title>{escape(p.day.isoformat())}: {p.score}{' (prorated)' if p.prorated else ''}</title></circle>"
            )
    out.append("</svg>")
    return "".join(out)


def _ticks(first: date, last: date, count: int = 6) -> list[date]:
    span = (last - first).days
    step = max(1, span // (count - 1))
    return [first + timedelta(days=step * i) for i in range(count) if step * i <= span]
