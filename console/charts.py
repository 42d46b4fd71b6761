"""Charts drawn on the server as inline SVG: horizontal bars with their labels and figures, and
lines over time (a series a line, each point with its figure), so a page needs no script to show
them and a screen reader gets the title and every figure as text."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from markupsafe import Markup, escape

ROW_HEIGHT = 26
LABEL_WIDTH = 190
BAR_WIDTH = 300
VALUE_WIDTH = 70


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    # What is written after the bar: the count, or a share as a percentage.
    shown: str


def bar_chart(title: str, bars: list[Bar], maximum: float | None = None) -> Markup:
    """Bars scaled to the largest value (or `maximum`, e.g. 1.0 for shares)."""
    top = maximum if maximum is not None else max((b.value for b in bars), default=0) or 1
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    height = ROW_HEIGHT * max(len(bars), 1) + 8
    rows = []
    for i, bar in enumerate(bars):
        y = 4 + i * ROW_HEIGHT
        length = max(0.0, min(1.0, bar.value / top)) * BAR_WIDTH
        rows.append(
            f'<g><text x="{LABEL_WIDTH - 8}" y="{y + 17}" text-anchor="end" class="chart-label">'
            f'{escape(bar.label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{length:.1f}" height="{ROW_HEIGHT - 8}" class="chart-bar"/>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 17}" class="chart-value">{escape(bar.shown)}</text></g>')
    summary = escape(f"{title}: " + "; ".join(f"{b.label} {b.shown}" for b in bars))
    return Markup(
        f'<svg class="chart" role="img" aria-labelledby="{_id(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{_id(title)}">{summary}</title>{"".join(rows)}</svg>')


LINE_WIDTH = 560
LINE_HEIGHT = 180
LINE_MARGIN = 36
LINE_NAME_WIDTH = 170


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int]


def line_chart(title: str, labels: list[str], series: list[Series]) -> Markup:
    """One line a series over the labels (days, months), scaled to the largest value; the first
    and last labels under the axis, every point's figure in the title."""
    top = max((v for line in series for v in line.values), default=0) or 1
    steps = max(len(labels) - 1, 1)
    # Room on the right for each line's name and last figure, written where the line ends.
    width, height = LINE_WIDTH + 2 * LINE_MARGIN + LINE_NAME_WIDTH, LINE_HEIGHT + 2 * LINE_MARGIN

    def point(i: int, value: int) -> tuple[float, float]:
        return LINE_MARGIN + i * LINE_WIDTH / steps, LINE_MARGIN + LINE_HEIGHT * (1 - value / top)

    parts = [f'<line x1="{LINE_MARGIN}" y1="{LINE_MARGIN + LINE_HEIGHT}" x2="{LINE_MARGIN + LINE_WIDTH}" '
             f'y2="{LINE_MARGIN + LINE_HEIGHT}" class="chart-axis"/>']
    for n, line in enumerate(series):
        points = [point(i, v) for i, v in enumerate(line.values)]
        parts.append(f'<polyline class="chart-line chart-line-{n}" fill="none" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
        if points:
            x, y = points[-1]
            parts.append(f'<text x="{x + 4:.1f}" y="{y - 4:.1f}" class="chart-value">{escape(line.name)} '
                         f'{line.values[-1]}</text>')
    if labels:
        parts.append(f'<text x="{LINE_MARGIN}" y="{height - 8}" class="chart-label">{escape(labels[0])}</text>')
        parts.append(f'<text x="{LINE_MARGIN + LINE_WIDTH}" y="{height - 8}" text-anchor="end" '
                     f'class="chart-label">{escape(labels[-1])}</text>')
    summary = escape(f"{title}: " + "; ".join(
        f"{line.name} " + ", ".join(f"{label} {value}" for label, value in zip(labels, line.values))
        for line in series))
    return Markup(
        f'<svg class="chart" role="img" aria-labelledby="{_id(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{_id(title)}">{summary}</title>{"".join(parts)}</svg>')


def _id(title: str) -> str:
    return f"chart-{zlib.crc32(title.encode()):08x}"
