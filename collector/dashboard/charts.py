"""Charts drawn on the server as inline SVG: no script, nothing loaded from elsewhere.

Every piece of text goes through markupsafe's escaping (Markup.format escapes its
arguments), so a label can never become markup. Colours come from dashboard.css.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 28
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    css: str  # class of its bars and legend swatch


def nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) so that `ticks` steps reach top."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return float(next(f * power for f in (1, 2, 2.5, 5, 10) if f * power >= raw))


def compact(value: float) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M: short axis labels."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.2f}".rstrip("0").rstrip(".")


def bar_chart(
    title: str,
    labels: Sequence[str],
    rows: Sequence[dict[str, float]],
    series: Sequence[Series],
    *,
    value_format: str = "{:,.2f}",
) -> Markup:
    """Overlapping bars per label (say, revenue and the part of it through Clerk).

    Each later series is drawn over the earlier ones, narrower, so a part shows
    inside its whole. Hovering a day shows its values (an SVG <title>).
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_value = max((float(row[s.key] or 0) for row in rows for s in series), default=0.0)
    step = nice_step(top_value)
    scale_top = step * max(1, math.ceil(top_value / step)) if top_value > 0 else step * 4
    parts = [
        Markup(
            '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{t}" '
            'xmlns="http://www.w3.org/2000/svg"><title>{t}</title>'
        ).format(w=WIDTH, h=HEIGHT, t=title)
    ]
    parts += _grid(scale_top, step, plot_w, plot_h)
    parts += _legend(series)
    slot = plot_w / max(1, len(rows))
    for n, (label, row) in enumerate(zip(labels, rows, strict=True)):
        tip = (
            label
            + ": "
            + ", ".join(f"{s.label} {value_format.format(float(row[s.key] or 0))}" for s in series)
        )
        parts.append(Markup("<g><title>{}</title>").format(tip))
        parts.append(
            Markup('<rect class="hover" x="{:.1f}" y="{}" width="{:.1f}" height="{}"/>').format(
                LEFT + n * slot, TOP, slot, plot_h
            )
        )
        for depth, s in enumerate(series):
            height = plot_h * float(row[s.key] or 0) / scale_top
            width = max(slot * (0.8 - 0.3 * depth), 0.6)
            x = LEFT + n * slot + (slot - width) / 2
            parts.append(
                Markup(
                    '<rect class="{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"/>'
                ).format(s.css, x, TOP + plot_h - height, width, height)
            )
        parts.append(Markup("</g>"))
    parts += _x_labels(labels, slot, plot_h)
    if top_value <= 0:
        parts.append(
            Markup('<text class="empty" x="{:.1f}" y="{:.1f}">{}</text>').format(
                LEFT + plot_w / 2, TOP + plot_h / 2, "Nothing in this range yet"
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _grid(scale_top: float, step: float, plot_w: float, plot_h: float) -> list[Markup]:
    lines = []
    ticks = round(scale_top / step)
    for n in range(ticks + 1):
        y = TOP + plot_h - plot_h * n / ticks
        lines.append(
            Markup(
                '<line class="grid" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}"/>'
                '<text class="axis" x="{}" y="{:.1f}" text-anchor="end">{}</text>'
            ).format(LEFT, LEFT + plot_w, y, y, LEFT - 6, y + 4, compact(step * n))
        )
    return lines


def _legend(series: Sequence[Series]) -> list[Markup]:
    items = []
    x = LEFT
    for s in series:
        items.append(
            Markup(
                '<rect class="{}" x="{}" y="6" width="12" height="12"/>'
                '<text class="legend" x="{}" y="16">{}</text>'
            ).format(s.css, x, x + 17, s.label)
        )
        x += 30 + 7 * len(s.label)
    return items


def _x_labels(labels: Sequence[str], slot: float, plot_h: float) -> list[Markup]:
    if not labels:
        return []
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [
        Markup('<text class="axis" x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>').format(
            LEFT + (n + 0.5) * slot, TOP + plot_h + 18, _short(label)
        )
        for n, label in enumerate(labels)
        if n % every == 0
    ]


def _short(label: str) -> str:
    """2026-05-28 -> 05-28 under the axis (the tooltip has the whole date)."""
    return label[5:] if len(label) == 10 and label[4] == "-" and label[7] == "-" else label
