"""Charts as standalone SVG (horizontal bars; a line over time), for benchmark results people would rather see
than read."""

from __future__ import annotations

import math
from html import escape


def bars(title: str, items: list[tuple[str, float, str]], *, width: int = 760, left: int = 190,
         color: str = "#4a78c2") -> str:
    """items: (label, value, text shown after the bar)."""
    row = 22
    scale = (width - left - 160) / max(max((v for _, v, _ in items), default=1), 1e-9)
    height = 50 + row * len(items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<text x="10" y="20" font-size="14">{escape(title)}</text>']
    for i, (label, value, text) in enumerate(items):
        y = 35 + i * row
        parts += [f'<text x="10" y="{y + 13}">{escape(label)}</text>',
                  f'<rect x="{left}" y="{y}" width="{value * scale:.1f}" height="{row - 6}" fill="{color}"/>',
                  f'<text x="{left + value * scale + 5:.1f}" y="{y + 13}">{escape(text)}</text>']
    parts.append("</svg>")
    return "\n".join(parts)


def _ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) from 0 to at least `top`."""
    if top <= 0:
        return [0.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(top / step) + 1)]


def _short(value: float) -> str:
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


def line(title: str, series: list[tuple[str, list[tuple[float, float]]]], *, x_label: str, y_label: str,
         band: tuple[float, float, str] | None = None, width: int = 760, height: int = 380) -> str:
    """series: (name, points in x order), each one line over the same axes from 0/0, named in a legend.
    band: (x from, x to, label), shaded."""
    colors = ("#4a78c2", "#d9822b", "#3c9a5f", "#b03a48")
    left, right, top, bottom = 70, 20, 40, 50
    every = [p for _, points in series for p in points]
    xs, ys = _ticks(max((x for x, _ in every), default=1)), _ticks(max((y for _, y in every), default=1))
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + x / (xs[-1] or 1) * plot_w

    def py(y: float) -> float:
        return top + plot_h - y / (ys[-1] or 1) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<text x="10" y="20" font-size="14">{escape(title)}</text>']
    if band:
        parts += [f'<rect x="{px(band[0]):.1f}" y="{top}" width="{px(band[1]) - px(band[0]):.1f}" height="{plot_h}" '
                  f'fill="#e8eef8"/>',
                  f'<text x="{px(band[0]) + 4:.1f}" y="{top + 14}" fill="#555">{escape(band[2])}</text>']
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_short(x)}</text>')
    for y in ys:
        parts += [f'<line x1="{left}" y1="{py(y):.1f}" x2="{left + plot_w}" y2="{py(y):.1f}" stroke="#ddd"/>',
                  f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{_short(y)}</text>']
    parts += [f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
              f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
              f'<text x="{left + plot_w / 2:.1f}" y="{height - 12}" text-anchor="middle">{escape(x_label)}</text>',
              f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
              f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>']
    for i, (name, points) in enumerate(series):
        color, legend_y = colors[i % len(colors)], top + plot_h - 12 - 16 * (len(series) - 1 - i)
        parts += [f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                  + " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points) + '"/>',
                  f'<line x1="{left + plot_w - 230}" y1="{legend_y - 4}" x2="{left + plot_w - 210}" '
                  f'y2="{legend_y - 4}" stroke="{color}" stroke-width="2"/>',
                  f'<text x="{left + plot_w - 205}" y="{legend_y}">{escape(name)}</text>']
    parts.append("</svg>")
    return "\n".join(parts)
