"""Charts drawn on the server as inline SVG: horizontal bars with their labels and figures, so a
page needs no script to show them and a screen reader gets the title and every figure as text."""

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


def _id(title: str) -> str:
    return f"chart-{zlib.crc32(title.encode()):08x}"
