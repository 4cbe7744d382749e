"""Line charts as inline SVG, drawn on the server: no JavaScript, nothing downloaded.

>>> svg = line_chart([Series("guard", [(0, 0), (60, 10), (120, 5)])], title="lag", now=120)
>>> svg.startswith('<svg') and 'role="img"' in svg and '<title' in svg
True
>>> 'points="' in svg and svg.count('<polyline') == 1
True
>>> '&lt;b&gt;' in line_chart([Series("<b>", [(0, 1)])], title="t", now=0)  # labels are escaped
True
>>> nice_ceiling(0), nice_ceiling(7), nice_ceiling(12), nice_ceiling(2600)
(1, 10, 20, 5000)
"""

from __future__ import annotations

import datetime as dt
import math
import time
from datetime import tzinfo
from dataclasses import dataclass, field
from typing import Sequence

from markupsafe import Markup, escape

__all__ = ["Series", "line_chart", "nice_ceiling", "PALETTE"]

#: colour-blind-safe (Okabe–Ito), dark enough on white for WCAG 3:1 graphics contrast
PALETTE = ("#0b5cad", "#b35900", "#007a5a", "#a6266e", "#5b4aa8", "#6b6b00")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]  # (epoch seconds, value)
    colour: str = field(default="")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at or above ``value`` (at least 1): a readable axis top."""
    if value <= 1:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent  # pragma: no cover - the loop always returns


def _clock(epoch: float, zone: tzinfo | None) -> str:
    return dt.datetime.fromtimestamp(epoch, zone or dt.timezone.utc).strftime("%H:%M")


def _ticks(top: float) -> int:
    """Grid intervals that land on round numbers: 5 for 1·10ⁿ and 5·10ⁿ, 4 for 2·10ⁿ."""
    leading = round(top / 10 ** math.floor(math.log10(top)))
    return 4 if leading == 2 else 5


def line_chart(series: Sequence[Series], *, title: str, now: float | None = None, width: int = 640,
               height: int = 220, window: float | None = None, unit: str = "", zone: tzinfo | None = None) -> Markup:
    """One SVG chart: time on x (the last ``window`` seconds, or the data's span), values on y from 0."""
    now = time.time() if now is None else now
    times = [t for s in series for t, _ in s.points]
    # at least ten minutes across, so the clock labels differ even just after a start
    start = now - window if window else min([now - 600, *times])
    span = max(now - start, 1.0)
    top = nice_ceiling(max([v for s in series for _, v in s.points] or [0]))
    left, right, upper, lower = 56, 12, 12, 28
    plot_w, plot_h = width - left - right, height - upper - lower

    def x(t: float) -> float:
        return left + (t - start) / span * plot_w

    def y(v: float) -> float:
        return upper + plot_h - (v / top) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'class="chart" preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>']
    intervals = _ticks(top)
    for i in range(intervals + 1):  # horizontal grid lines and y labels
        value = top * i / intervals
        gy = y(value)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#d8dde3" '
                     f'stroke-width="1"/>')
        label = f"{value:,.0f}" if top >= 5 else f"{value:,.2f}".rstrip("0").rstrip(".")
        parts.append(f'<text x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end" font-size="12" '
                     f'fill="#4a5561">{escape(label)}{escape(unit)}</text>')
    for i in range(4):  # x labels: clock times
        t = start + span * i / 3
        anchor = ("start", "middle", "middle", "end")[i]
        parts.append(f'<text x="{x(t):.1f}" y="{height - 8}" text-anchor="{anchor}" font-size="12" '
                     f'fill="#4a5561">{_clock(t, zone)}</text>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{upper}" y2="{upper + plot_h}" stroke="#8a96a3"/>')
    for n, s in enumerate(series):
        colour = s.colour or PALETTE[n % len(PALETTE)]
        visible = [(t, v) for t, v in s.points if t >= start]
        if len(visible) == 1:
            t, v = visible[0]
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                         f'<title>{escape(s.name)}: {v:,.0f}</title></circle>')
        elif visible:
            points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in visible)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round" '
                         f'points="{points}"><title>{escape(s.name)}</title></polyline>')
    parts.append("</svg>")
    return Markup("".join(parts))
