"""The meeting report's chart: open incidents by severity and age, as inline SVG.

Decides how the chart looks: one horizontal bar per severity (A at the top, cases without one
last), split by age into three segments drawn in three shades of one hue (dark = oldest), so
that it reads the same printed in grey; every segment and every bar carries its count as text,
and a legend names the shades. No script, no font or image from elsewhere, a `<title>` and
`<desc>` for screen readers.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from .report import AGE_BUCKETS

SHADES = ("#9ecae1", "#4292c6", "#08306b")  # young -> old: light to dark, distinct in grey too
INK = ("#000000", "#ffffff", "#ffffff")  # the count's colour on each shade
WIDTH, ROW, BAR, LEFT, RIGHT, TOP = 640, 34, 22, 120, 50, 10


def open_cases_svg(counts: dict[str, dict[str, int]]) -> Markup:
    """COUNTS is {severity: {age bucket: n}} (`MeetingReport.open_by_severity_and_age`)."""
    labels = [label for _, label in AGE_BUCKETS]
    largest = max([sum(row.values()) for row in counts.values()] + [1])
    scale = (WIDTH - LEFT - RIGHT) / largest
    height = TOP + ROW * len(counts) + 44
    total = sum(sum(row.values()) for row in counts.values())
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13" aria-labelledby="chart-title">',
             f'<title id="chart-title">Åpne saker etter alvorlighetsgrad og alder ({total} i alt)</title>',
             "<desc>" + escape("; ".join(f"{severity}: " + ", ".join(f"{row[label]} {label}" for label in labels)
                                         for severity, row in counts.items())) + "</desc>"]
    for i, (severity, row) in enumerate(counts.items()):
        y = TOP + i * ROW
        name = "Uten grad" if severity == "-" else f"Grad {severity}"
        parts.append(f'<text x="{LEFT - 10}" y="{y + BAR / 2 + 5}" text-anchor="end">{escape(name)}</text>')
        x = float(LEFT)
        for j, label in enumerate(labels):
            n = row[label]
            if not n:
                continue
            w = n * scale
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR}" fill="{SHADES[j]}" '
                         f'stroke="#000000" stroke-width="0.5"><title>{escape(name)}, {escape(label)}: {n}</title></rect>')
            if w >= 18:
                parts.append(f'<text x="{x + w / 2:.1f}" y="{y + BAR / 2 + 5}" text-anchor="middle" '
                             f'fill="{INK[j]}">{n}</text>')
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + BAR / 2 + 5}" font-weight="bold">{sum(row.values())}</text>')
    y = TOP + ROW * len(counts) + 12
    x = float(LEFT)
    for j, label in enumerate(labels):
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="16" height="16" fill="{SHADES[j]}" stroke="#000000" '
                     f'stroke-width="0.5"/><text x="{x + 22:.1f}" y="{y + 13}">{escape(label)}</text>')
        x += 150
    parts.append("</svg>")
    return Markup("".join(parts))
