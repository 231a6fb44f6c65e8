"""The drill's timeline as a Gantt chart in plain SVG (no plotting library).

One row per step, grouped by branch, bars coloured by status, the three parallel branches visibly
side by side; a vertical line where DNS answered with the DR region (the RTO) and, when it fits
the scale, the RTO budget. Times are seconds from the outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

BRANCH_COLOURS = {"drill": "#8c8c8c", "main": "#4c78a8", "database": "#f58518", "cache": "#54a24b",
                  "compute": "#b279a2"}
STATUS_OPACITY = {"done": 1.0, "already": 0.6, "timed-out": 0.8, "planned": 0.4, "skipped": 0.15,
                  "refused": 1.0, "failed": 1.0}


@dataclass(frozen=True)
class Bar:
    name: str
    branch: str
    status: str
    start: float
    end: float


def human_seconds(seconds: float) -> str:
    """A duration as a person reads it on a timeline: ms below 1 s, minutes from 2 min."""
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    if seconds >= 1:
        return f"{seconds:.1f} s"
    return f"{seconds * 1000:.0f} ms"


#: Tick spacings a reader takes in at a glance: sub-second, seconds, then whole minutes.
_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
          3600, 7200)


def _tick_step(span: float) -> float:
    return next((t for t in _TICKS if t >= span / 8), _TICKS[-1])


def render_svg(bars: list[Bar], title: str, rto: float | None = None, rto_budget: float | None = None) -> str:
    label_w, chart_w, row_h, top, bottom = 190, 760, 22, 56, 50
    span = max([b.end for b in bars] + [rto or 0.0, 1e-3])
    if rto_budget and rto_budget <= span * 1.5:
        span = max(span, rto_budget)
    span *= 1.05
    height = top + row_h * len(bars) + bottom

    def x(t: float) -> float:
        return label_w + chart_w * max(0.0, t) / span

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + chart_w + 30}" height="{height}" '
           'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="22" font-size="15" font-weight="bold">{escape(title)}</text>']
    step = _tick_step(span)
    t = 0.0
    while t <= span:
        out.append(f'<line x1="{x(t):.1f}" y1="{top - 6}" x2="{x(t):.1f}" y2="{height - bottom + 4}" '
                   'stroke="#e5e5e5"/>')
        out.append(f'<text x="{x(t):.1f}" y="{height - bottom + 18}" text-anchor="middle" fill="#555">'
                   f'{escape(human_seconds(t))}</text>')
        t += step
    for i, bar in enumerate(bars):
        y = top + i * row_h
        colour = BRANCH_COLOURS.get(bar.branch, "#999")
        width = max(x(bar.end) - x(bar.start), 2.0)
        opacity = STATUS_OPACITY.get(bar.status, 1.0)
        stroke = ' stroke="#c00" stroke-width="2"' if bar.status in ("refused", "failed") else ""
        # The branch is told by the bar's colour (legend below); a mixed-style label renders
        # unevenly across SVG viewers, so the label is the step name alone.
        out.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(bar.name)}</text>')
        out.append(f'<rect x="{x(bar.start):.1f}" y="{y + 4}" width="{width:.1f}" height="{row_h - 8}" '
                   f'fill="{colour}" fill-opacity="{opacity}"{stroke}><title>{escape(bar.name)}: {escape(bar.status)}, '
                   f'{escape(human_seconds(bar.start))} to {escape(human_seconds(bar.end))}</title></rect>')
        out.append(f'<text x="{x(bar.start) + width + 4:.1f}" y="{y + 15}" fill="#555">'
                   f'{escape(human_seconds(bar.end - bar.start))} {escape(bar.status)}</text>')
    if rto is not None:
        out.append(f'<line x1="{x(rto):.1f}" y1="{top - 10}" x2="{x(rto):.1f}" y2="{height - bottom}" '
                   'stroke="#d62728" stroke-width="2"/>')
        out.append(f'<text x="{x(rto) + 4:.1f}" y="{top - 14}" fill="#d62728">RTO {escape(human_seconds(rto))} '
                   '(DNS on DR)</text>')
    if rto_budget is not None and rto_budget <= span:
        out.append(f'<line x1="{x(rto_budget):.1f}" y1="{top - 10}" x2="{x(rto_budget):.1f}" '
                   f'y2="{height - bottom}" stroke="#d62728" stroke-dasharray="6,4"/>')
        out.append(f'<text x="{x(rto_budget) - 4:.1f}" y="{top - 28}" text-anchor="end" fill="#d62728">'
                   f'budget {escape(human_seconds(rto_budget))}</text>')
    legend_x = label_w
    for branch, colour in BRANCH_COLOURS.items():
        out.append(f'<rect x="{legend_x}" y="{height - 22}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{legend_x + 16}" y="{height - 12}">{branch}</text>')
        legend_x += 90
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(path: Path, bars: list[Bar], title: str, rto: float | None = None,
              rto_budget: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(bars, title, rto, rto_budget))
    return path
