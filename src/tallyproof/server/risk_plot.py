"""The statewide risk per contest over rounds, as an SVG drawn on the server from the numbers
the library wrote (``audit/status/round-N.json``, :func:`~tallyproof.state.audit_status.
status_history`). Hand-built rather than matplotlib's: presentation attributes only (no
``<style>`` element, no script), so it passes the pages' CSP as an image, and the same
numbers give the same bytes. The page shows it as an ``<img>`` whose ``alt`` (and the table
beside it) say what it shows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from ..state.audit_status import status_history
from ..state.spec import load_spec

WIDTH, HEIGHT = 640, 320  # the plot; the legend adds a row per contest below
LEGEND_ROW = 18
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
#: Okabe-Ito colours (distinguishable with colour-vision deficiencies), then repeated
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "6 3", "2 2", "8 3 2 3")
#: the smallest risk drawn (a measured risk below it is drawn on the axis)
FLOOR = 1e-6


@dataclass(frozen=True)
class RiskSeries:
    contest_id: str
    name: str
    risks: tuple[tuple[int, float], ...]  # (round, measured risk) for each measured round


@dataclass(frozen=True)
class RiskHistory:
    risk_limit: float
    rounds: tuple[int, ...]
    series: tuple[RiskSeries, ...]

    def summary(self) -> str:
        """The plot in words (its ``alt`` text)."""
        if not self.rounds:
            return "No risk measured yet."
        last = self.rounds[-1]
        now = "; ".join(f"{s.name} {fmt(dict(s.risks)[last])}" for s in self.series
                        if last in dict(s.risks))
        return (f"Measured risk per contest after each of {len(self.rounds)} round(s), on a "
                f"logarithmic scale, against the risk limit {fmt(self.risk_limit)}. After round "
                f"{last}: {now}.")


def fmt(x: float) -> str:
    return f"{x:.4g}"


def risk_history(root: Path) -> RiskHistory | None:
    """Each contest's measured risk after every measured round; None before any."""
    history = status_history(root)
    if not history:
        return None
    names = {c.id: c.name for c in load_spec(root).contests}
    per: dict[str, list[tuple[int, float]]] = {}
    for st in history:
        for c in st["contests"]:
            per.setdefault(c["contest_id"], []).append((int(st["rounds"]),
                                                        float(c["measured_risk"])))
    return RiskHistory(float(history[-1]["risk_limit"]),
                       tuple(int(st["rounds"]) for st in history),
                       tuple(RiskSeries(cid, names.get(cid, cid), tuple(r))
                             for cid, r in per.items()))


def _y(risk: float, low: float) -> float:
    """Log scale from ``low`` (bottom) to 1 (top)."""
    r = min(max(risk, low), 1.0)
    return TOP + (HEIGHT - TOP - BOTTOM) * (math.log10(r) / math.log10(low))


def svg(h: RiskHistory) -> str:
    """The figure: one line per contest (colour and dash), the risk limit as a dashed
    horizontal line, rounds on x, measured risk on a log scale on y, a legend below."""
    measured = [r for s in h.series for _, r in s.risks] + [h.risk_limit]
    low = 10.0 ** math.floor(math.log10(max(min(measured), FLOOR)))
    low = min(low, 10.0 ** math.floor(math.log10(h.risk_limit)) / 10)
    first, last = h.rounds[0], h.rounds[-1]
    span = max(last - first, 1)

    def x(rnd: int) -> float:
        if first == last:
            return LEFT + (WIDTH - LEFT - RIGHT) / 2
        return LEFT + (WIDTH - LEFT - RIGHT) * (rnd - first) / span

    full = HEIGHT + LEGEND_ROW * len(h.series) + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{full}" '
           f'viewBox="0 0 {WIDTH} {full}" role="img" aria-labelledby="t d">',
           '<title id="t">Statewide risk measured, by round</title>',
           f'<desc id="d">{escape(h.summary())}</desc>',
           f'<rect x="0" y="0" width="{WIDTH}" height="{full}" fill="#ffffff"/>']
    g = 'font-family="sans-serif" font-size="12" fill="#222222"'
    decade = 0
    while 10.0 ** -decade >= low:
        v = 10.0 ** -decade
        yy = _y(v, low)
        out.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - RIGHT}" y2="{yy:.1f}" '
                   'stroke="#dddddd" stroke-width="1"/>')
        out.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" {g}>{fmt(v)}</text>')
        decade += 1
    for rnd in range(first, last + 1):
        out.append(f'<text x="{x(rnd):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                   f'{g}>{rnd}</text>')
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 6}" '
               f'text-anchor="middle" {g}>round</text>')
    ly = _y(h.risk_limit, low)
    out.append(f'<line x1="{LEFT}" y1="{ly:.1f}" x2="{WIDTH - RIGHT}" y2="{ly:.1f}" '
               'stroke="#B00020" stroke-width="1.5" stroke-dasharray="4 4"/>')
    out.append(f'<text x="{WIDTH - RIGHT}" y="{ly - 4:.1f}" text-anchor="end" {g}>risk limit '
               f'{fmt(h.risk_limit)}</text>')
    for i, s in enumerate(h.series):
        colour, dash = COLOURS[i % len(COLOURS)], DASHES[(i // len(COLOURS)) % len(DASHES)]
        pts = " ".join(f"{x(r):.1f},{_y(v, low):.1f}" for r, v in s.risks)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"'
                   f'{dashed}><title>{escape(s.name)}</title></polyline>')
        for r, v in s.risks:
            out.append(f'<circle cx="{x(r):.1f}" cy="{_y(v, low):.1f}" r="3.5" fill="{colour}">'
                       f'<title>{escape(s.name)}, round {r}: {fmt(v)}</title></circle>')
        ky = HEIGHT + 4 + LEGEND_ROW * i + LEGEND_ROW / 2
        out.append(f'<line x1="{LEFT}" y1="{ky:.1f}" x2="{LEFT + 28}" y2="{ky:.1f}" '
                   f'stroke="{colour}" stroke-width="2"{dashed}/>')
        out.append(f'<text x="{LEFT + 36}" y="{ky + 4:.1f}" {g}>{escape(s.name)}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" '
               'stroke="#222222" stroke-width="1"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
