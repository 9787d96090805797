"""Server-rendered SVG charts for the report pages: plain markup, no script, readable by screen readers.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>``; every bar or cell
carries its own ``<title>`` (a tooltip, and what assistive technology reads). Every text is escaped here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

LABEL_WIDTH = 180
BAR_AREA = 420
VALUE_WIDTH = 140
ROW = 24
TOP = 10
COLOURS = ("#2f6db5", "#e08a2c")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Bar:
    label: str
    values: tuple[float, ...]  # one per series (one for a plain bar chart, two for booked vs occupied)
    text: str  # the value as people read it, e.g. "25 %" or "12.5 h / 9.0 h"


def bar_chart(title: str, description: str, bars: list[Bar], series: tuple[str, ...] = ()) -> SafeString:
    """Horizontal bars, one row per ``Bar``, each row holding a bar per series; scaled to the largest value."""
    chart_id = f"chart-{next(_ids)}"
    peak = max((value for bar in bars for value in bar.values), default=0) or 1
    per_bar = (ROW - 6) / max(len(bars[0].values) if bars else 1, 1)
    legend = _legend(series, TOP) if series else ""
    top = TOP + (ROW if series else 0)
    rows = [_bar_row(bar, top + index * ROW, peak, per_bar, series) for index, bar in enumerate(bars)]
    if not bars:
        rows = [f'<text x="0" y="{top + 14}" class="empty">No data in this range.</text>']
    height = top + max(len(bars), 1) * ROW + TOP
    return _svg(chart_id, title, description, LABEL_WIDTH + BAR_AREA + VALUE_WIDTH, height, legend + "".join(rows))


def heatmap_chart(title: str, description: str, grid: list[list[float]], row_labels: tuple[str, ...],
                  unit: str = "h") -> SafeString:
    """A grid of cells (rows = weekdays, columns = hours) shaded by value relative to the largest."""
    chart_id = f"chart-{next(_ids)}"
    cell, left, top = 22, 90, 20
    peak = max((value for row in grid for value in row), default=0) or 1
    hours = "".join(f'<text x="{left + hour * cell + cell / 2}" y="{top - 6}" text-anchor="middle" '
                    f'font-size="10">{hour:02d}</text>' for hour in range(0, 24, 2))
    cells = []
    for index, (label, row) in enumerate(zip(row_labels, grid, strict=True)):
        y = top + index * cell
        cells.append(f'<text x="0" y="{y + 15}" font-size="12">{escape(label)}</text>')
        for hour, value in enumerate(row):
            shade = 0.06 + 0.94 * value / peak if value else 0
            cells.append(
                f'<rect class="cell" x="{left + hour * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="#2f6db5" fill-opacity="{shade:.2f}" stroke="#dde3ea" data-weekday="{index}" '
                f'data-hour="{hour}" data-value="{value:.1f}"><title>{escape(label)} {hour:02d}:00: '
                f'{value:.1f} {escape(unit)}</title></rect>'
            )
    width, height = left + 24 * cell, top + len(row_labels) * cell + 4
    return _svg(chart_id, title, description, width, height, hours + "".join(cells))


def _bar_row(bar: Bar, y: int, peak: float, per_bar: float, series: tuple[str, ...]) -> str:
    parts = [f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" font-size="12">'
             f'{escape(_short(bar.label))}</text>']
    for index, value in enumerate(bar.values):
        width = max(BAR_AREA * value / peak, 0)
        name = f"{series[index]}: " if series else ""
        parts.append(
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 3 + index * per_bar:.1f}" width="{width:.1f}" '
            f'height="{per_bar - 1:.1f}" fill="{COLOURS[index % len(COLOURS)]}" data-label="{escape(bar.label)}" '
            f'data-value="{value:.3f}"><title>{escape(bar.label)}: {escape(name)}{escape(bar.text)}</title></rect>'
        )
    parts.append(f'<text x="{LABEL_WIDTH + BAR_AREA + 6}" y="{y + 15}" font-size="12">{escape(bar.text)}</text>')
    return "".join(parts)


def _legend(series: tuple[str, ...], y: int) -> str:
    items = []
    for index, name in enumerate(series):
        x = LABEL_WIDTH + index * 140
        items.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{COLOURS[index % len(COLOURS)]}"/>'
                     f'<text x="{x + 18}" y="{y + 11}" font-size="12">{escape(name)}</text>')
    return "".join(items)


def _svg(chart_id: str, title: str, description: str, width: float, height: float, body: str) -> SafeString:
    # Everything in ``body`` was built from escaped text and numbers above.
    return mark_safe(  # noqa: S308
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" id="{chart_id}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>{body}</svg>'
    )


def _short(label: str, limit: int = 26) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
