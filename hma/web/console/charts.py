"""Charts drawn on the server, as inline SVG: no script, no font or file to fetch.

Each chart carries a title and a text description for screen readers; the
pages put the figures beside it in a table, which is what a keyboard or
screen-reader user reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 44
#: Series colours, told apart by shape too (bars or lines, and the legend's order).
COLOURS = ("#2b5fab", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#0e7490")


def _scale(top: float) -> float:
    """A round axis maximum at or above `top` (1, 2, 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= top:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= top:
            return step * factor
    return step * 10


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _frame(title: str, labels: Sequence[str], maximum: float, description: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title><desc>{escape(description)}</desc>",
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#d7dbe3"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11"'
            f' fill="#5b6475">{_number(maximum * fraction)}</text>'
        )
    every = max(1, len(labels) // 6)
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for index, label in enumerate(labels):
        if index % every == 0 or index == len(labels) - 1:
            x = LEFT + slot * (index + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle"'
                f' font-size="11" fill="#5b6475">{escape(label[5:])}</text>'
            )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts, x = [], LEFT
    for index, name in enumerate(names):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 7}" font-size="11">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return parts


def _describe(labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> str:
    if not labels:
        return "No data."
    totals = ", ".join(
        f"{name}: {_number(values[-1])} on the last day" for name, values in series.items()
    )
    return f"{len(labels)} days from {labels[0]} to {labels[-1]}. {totals}."


def bar_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> Markup:
    """Bars per day, the series stacked."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    maximum = _scale(max(totals, default=0))
    parts = _frame(title, labels, maximum, _describe(labels, series))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for index in range(len(labels)):
        base = 0.0
        for number, values in enumerate(series.values()):
            value = values[index]
            if value <= 0:
                continue
            height = plot_h * value / maximum
            y = TOP + plot_h * (1 - (base + value) / maximum)
            parts.append(
                f'<rect x="{LEFT + slot * index + slot * 0.15:.1f}" y="{y:.1f}"'
                f' width="{slot * 0.7:.1f}" height="{height:.1f}"'
                f' fill="{COLOURS[number % len(COLOURS)]}"/>'
            )
            base += value
    parts += _legend(list(series))
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> Markup:
    """One line per series, a dot per day."""
    maximum = _scale(max((v for values in series.values() for v in values), default=0))
    parts = _frame(title, labels, maximum, _describe(labels, series))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for number, values in enumerate(series.values()):
        colour = COLOURS[number % len(COLOURS)]
        points = [
            (LEFT + slot * (i + 0.5), TOP + plot_h * (1 - value / maximum))
            for i, value in enumerate(values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points]
    parts += _legend(list(series))
    parts.append("</svg>")
    return Markup("".join(parts))
