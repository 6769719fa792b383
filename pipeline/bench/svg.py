"""Horizontal bar charts as standalone SVG, for benchmark results people would rather see than read."""

from __future__ import annotations

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
