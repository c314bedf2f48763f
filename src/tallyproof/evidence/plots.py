"""Plots for the report, rendered reproducibly and readable without colour.

Every figure is drawn with matplotlib's Agg backend into both SVG (inlined in the HTML) and
PNG (placed in the PDF). Reproducibility: ``svg.hashsalt`` is fixed, SVG/PNG metadata carry
no date or software version, and inputs are sorted by the caller, so the same data gives the
same bytes. Accessibility: series are told apart by hatching, line style, markers and direct
labels, never by colour alone; every plot comes with alt text written from the same numbers.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HASH_SALT = "tallyproof"
RC = {
    "svg.hashsalt": HASH_SALT,
    "svg.fonttype": "none",  # real <text>: searchable, read by screen readers, smaller
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "++", "--")
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Resolution of the PNGs placed in the PDF (and of the text measured for the layout).
PNG_DPI = 110
#: Most bars drawn in one figure; the caption says when the rest were left out.
MAX_BARS = 40


@functools.cache
def _mpl() -> Any:
    """matplotlib, imported (with the Agg backend) when the first figure is drawn, not when
    this module is: ``verify`` imports the report's code in a process that takes every plot
    already drawn by its other process (:func:`reusing`), and matplotlib's import is a third
    of a second there."""
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib


class Plot:
    """A figure with its alt text: SVG (for the HTML) is rendered at once, PNG (for the PDF)
    only when asked for, so the verifier, which rebuilds only the HTML, never pays for it."""

    def __init__(self, fig: Figure, key: str, title: str, alt: str) -> None:
        self.key, self.title, self.alt = key, title, alt
        self._fig: Figure | None = fig
        self._redraw: Callable[[], Plot] | None = None
        buf = io.BytesIO()
        with _mpl().rc_context(RC):  # svg.hashsalt is read when saving, not when drawing
            _lay_out_once(fig)
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        svg = buf.getvalue().decode("utf-8")
        svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE for inlining
        self.svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)

    @classmethod
    def drawn(cls, rec: Mapping[str, str], redraw: Callable[[], Plot]) -> Plot:
        """A plot recorded by :func:`recording` (its PNG, if ever asked for, is drawn anew by
        ``redraw``: only the SVG travels between processes)."""
        plot = cls.__new__(cls)
        plot.key, plot.title, plot.alt, plot.svg = rec["key"], rec["title"], rec["alt"], rec["svg"]
        plot._fig = None
        plot._redraw = redraw
        return plot

    @functools.cached_property
    def png(self) -> bytes:
        if self._fig is None:  # recorded in another process: draw it here
            if self._redraw is None:
                raise RuntimeError("a recorded plot without a way to draw it")
            return self._redraw().png
        buf = io.BytesIO()
        with _mpl().rc_context(RC):
            self._fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
        return buf.getvalue()


def _lay_out_once(fig: Figure) -> None:
    """Run the constrained layout once, as the PNG save would, and then switch it off.

    With a layout engine set, every ``savefig`` draws the whole figure once more only to lay
    it out again, so the SVG and the PNG each paid for a layout (about half of a PNG's time).
    The layout is measured here with the renderer and resolution of the PNG (Agg at
    :data:`PNG_DPI`), so the PNG is the picture it always was; the SVG takes the same
    positions (in figure fractions). The rc settings make ``None`` mean no engine at all,
    not a placeholder engine, which would still trigger the extra draw."""
    engine = fig.get_layout_engine()
    if engine is None:
        return
    fig.set_dpi(PNG_DPI)
    engine.execute(fig)
    with _mpl().rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
    if fig.get_layout_engine() is not None:
        raise RuntimeError("the figure's layout engine could not be switched off")


def _render(fig: Figure, key: str, title: str, alt: str) -> Plot:
    return Plot(fig, key, title, alt)


# ---------------------------------------------------------------------------- drawn elsewhere
# A plot is a pure function of its arguments (the reproducibility above), so a plot drawn in
# another process from arguments equal to these is the same bytes: the verifier draws the
# report's plots on its second core from the bundle's own published figures while it recounts
# (:mod:`tallyproof.verify`), and the rebuild takes a drawn plot only where the recounted
# arguments are *equal* to the ones it was drawn from; any other plot is drawn afresh.
_recording: dict[str, dict[str, str]] | None = None
_reusing: Mapping[str, dict[str, str]] | None = None
_F = TypeVar("_F", bound=Callable[..., "Plot"])
#: Argument types whose ``repr`` is exact (equal reprs ⇔ equal values, for drawing).
_EXACT = (str, int, float, bool, type(None))


def _exact(value: Any) -> bool:
    if type(value) in _EXACT:  # not subclasses: their repr may hide what they hold
        return True
    if type(value) in (list, tuple):
        return all(_exact(v) for v in value)
    return False


def _memo_key(fn: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
    """``fn``'s name and the exact text of its arguments; None when an argument's text might
    not determine it (anything but numbers, text, None and lists or tuples of them)."""
    return f"{fn.__name__}{args!r}" if _exact(args) else None


def _drawn_elsewhere(fn: _F) -> _F:
    """Record the plot inside :func:`recording`; take the recorded one inside :func:`reusing`
    when the arguments are equal (positional arguments only, as the report passes them)."""
    @functools.wraps(fn)
    def plot(*args: Any, **kwargs: Any) -> Plot:
        if kwargs or (_recording is None and _reusing is None):
            return fn(*args, **kwargs)
        key = _memo_key(fn, args)
        if key is not None and _reusing is not None and key in _reusing:
            got = _reusing[key]
            return Plot.drawn(got, lambda: fn(*args))
        out = fn(*args)
        if key is not None and _recording is not None:
            _recording[key] = {"key": out.key, "title": out.title, "alt": out.alt,
                               "svg": out.svg}
        return out
    return plot  # type: ignore[return-value]


@contextlib.contextmanager
def recording() -> Iterator[dict[str, dict[str, str]]]:
    """Every plot drawn inside the block, by its arguments' key (plain JSON-able data)."""
    global _recording
    saved, _recording = _recording, {}
    try:
        yield _recording
    finally:
        _recording = saved


@contextlib.contextmanager
def reusing(drawn: Mapping[str, dict[str, str]]) -> Iterator[None]:
    """Inside the block a plot whose arguments equal a recorded one's is taken, not drawn."""
    global _reusing
    saved, _reusing = _reusing, drawn
    try:
        yield
    finally:
        _reusing = saved


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    """A figure outside pyplot's registry (no global state, freed with the Plot)."""
    _mpl()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")  # no tight_layout warnings
    # An Agg canvas of its own: the layout and the PNG save then use one renderer, whose text
    # measurements matplotlib caches, instead of a fresh canvas (and cache misses) per save.
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


@_drawn_elsewhere
def contest_shares(names: Sequence[str], rows: Sequence[Sequence[tuple[str, int, bool]]]
                   ) -> Plot:
    """One bar per contest split into its candidates' vote shares, largest first; winners'
    segments hatched and every segment wide enough labelled with name and share."""
    with _mpl().rc_context(RC):
        fig, ax = _figure(7.0, 1.0 + 0.42 * max(len(names), 1))
        ys = list(range(len(names)))[::-1]
        for y, cands in zip(ys, rows, strict=True):
            total = sum(v for _, v, _ in cands) or 1
            left = 0.0
            for k, (cand, v, win) in enumerate(cands):
                share = 100 * v / total
                ax.barh(y, share, left=left, color="#4c72b0" if win else
                        ("#c7c7c7" if k % 2 else "#e8e8e8"), edgecolor="black",
                        hatch="//" if win else "", linewidth=0.5)
                label = segment_label(cand, share)
                if label:
                    ax.text(left + share / 2, y, label, ha="center", va="center", fontsize=6.5,
                            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})
                left += share
        ax.set_yticks(ys, labels=[wrap_label(n) for n in names])
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of the votes (%); winners hatched")
        ax.set_title("Contest results")
    alt = "Stacked bars of vote shares: " + "; ".join(
        f"{n}: " + ", ".join(f"{c} {v:,}{' (winner)' if w else ''}" for c, v, w in r)
        for n, r in zip(names, rows, strict=True))
    return _render(fig, "contest_shares", "Contest results: vote shares", alt)


#: Width of one character of the segment labels, in percent of the 0-100 axis (6.5 pt
#: DejaVu Sans on the ~3.9 in wide axes left of wrapped contest names, with room either side).
CHAR_PCT = 1.9
#: Longest line of a contest name beside a bar; longer names wrap onto more lines.
LABEL_WIDTH = 32


def wrap_label(text: str) -> str:
    return "\n".join(textwrap.wrap(text, LABEL_WIDTH)) or text


def segment_label(name: str, share: float) -> str:
    """The text drawn inside a bar segment of ``share`` percent: name and share when both fit,
    the share alone when only that fits, nothing otherwise (the tables and the alt text give
    every number), so neighbouring labels never overlap."""
    pct = f"{share:.1f}%"
    if share >= CHAR_PCT * (len(name) + 1):
        return f"{name}\n{pct}"
    if share >= CHAR_PCT * (len(pct) + 1):
        return pct
    return ""


@_drawn_elsewhere
def margins(contest_names: Sequence[str], margin_pct: Sequence[float]) -> Plot:
    """Margin between the last winner and the first loser, as a share of cards, per contest."""
    with _mpl().rc_context(RC):
        fig, ax = _figure(7.0, 0.9 + 0.34 * len(contest_names))
        ys = list(range(len(contest_names)))[::-1]
        ax.barh(ys, margin_pct, color="#c7c7c7", edgecolor="black", hatch="..", linewidth=0.6)
        for y, m in zip(ys, margin_pct, strict=True):
            ax.text(m, y, f" {m:.2f}%", va="center", fontsize=8)
        ax.set_yticks(ys, labels=[wrap_label(n) for n in contest_names])
        ax.set_xlabel("lead of the last winner over the runner-up (% of cards with the contest)")
        ax.set_xlim(0, max(max(margin_pct, default=0.0), 1.0) * 1.25)
        ax.set_title("Margins of victory")
    alt = "Bar chart of margins: " + "; ".join(
        f"{n} {m:.2f}%" for n, m in zip(contest_names, margin_pct, strict=True)
    )
    return _render(fig, "margins", "Margins of victory", alt)


@_drawn_elsewhere
def precinct_reconciliation(precincts: Sequence[str], cvrs: Sequence[int],
                            checkins: Sequence[int | None]) -> Plot:
    """CVRs minus check-ins per precinct (or CVRs per precinct when no pollbooks were given);
    with many precincts only the :data:`MAX_BARS` largest differences are drawn."""
    have_pb = any(c is not None for c in checkins)
    rows = list(zip(precincts, cvrs, checkins, strict=True))
    if have_pb:
        rows.sort(key=lambda r: (-abs(r[1] - (r[2] or 0)), r[0]))
    omitted = max(len(rows) - MAX_BARS, 0)
    rows = rows[:MAX_BARS]
    rows.sort(key=lambda r: r[0])
    with _mpl().rc_context(RC):
        fig, ax = _figure(7.0, 1.2 + 0.26 * max(len(rows), 1))
        ys = list(range(len(rows)))[::-1]
        if have_pb:
            vals = [c - (k or 0) for _, c, k in rows]
            for y, v in zip(ys, vals, strict=True):
                ax.barh(y, v, color="#dd8452" if v else "#c7c7c7", edgecolor="black",
                        hatch="xx" if v else "", linewidth=0.6)
                ax.text(v, y, f" {v:+,}" if v else " 0 (match)", va="center", fontsize=8,
                        ha="left" if v >= 0 else "right")
            ax.axvline(0, color="black", linewidth=0.8)
            ax.set_xlabel("CVRs minus pollbook check-ins (below 0: fewer ballot records than "
                          "voters checked in)")
            title = "Ballot accounting by precinct"
            lim = max((abs(v) for v in vals), default=0) or 1
            ax.set_xlim(-lim * 1.6, lim * 1.6)
        else:
            vals = [c for _, c, _ in rows]
            ax.barh(ys, vals, color="#c7c7c7", edgecolor="black", linewidth=0.6)
            for y, v in zip(ys, vals, strict=True):
                ax.text(v, y, f" {v:,}", va="center", fontsize=8)
            ax.set_xlabel("CVRs (no pollbook counts were given)")
            ax.set_xlim(0, max(max(vals, default=0), 1) * 1.25)
            title = "CVRs by precinct"
        ax.set_yticks(ys, labels=[str(p) for p, _, _ in rows])
        ax.set_title(title)
    mismatched = sum(1 for v in vals if v) if have_pb else 0
    alt = (
        f"{title}: {len(rows)} precinct(s) shown"
        + (f", {omitted} more not shown" if omitted else "")
        + (f"; {mismatched} shown with a difference: " + "; ".join(
            f"{p} {c - (k or 0):+,}" for p, c, k in rows if c != (k or 0)) if have_pb else "")
    )
    return _render(fig, "precincts", title + (f" ({omitted} more not shown)" if omitted else ""),
                   alt)


@_drawn_elsewhere
def audit_risk(series: Sequence[tuple[str, Sequence[int], Sequence[float]]],
               risk_limit: float) -> Plot:
    """Measured risk against ballots examined, one line per assertion, risk limit dashed.

    Up to 8 assertions get their own line style, marker and legend entry; with more, every
    assertion is a thin grey line and the one with the highest final risk (the one that
    decides whether the audit can stop) is drawn thick and named in the legend."""
    many = len(series) > 8
    worst = max(range(len(series)), key=lambda i: (series[i][2][-1] if series[i][2] else 0.0,
                                                   -i), default=-1)
    with _mpl().rc_context(RC):
        fig, ax = _figure(7.0, 3.8)
        # limits fixed before anything is drawn: an audit that has examined nothing yet has
        # every risk at 1 and every x at 0, which would collapse autoscaled axes
        lowest = min([risk_limit, *(max(p, 1e-12) for _, _, ps in series for p in ps)])
        ax.set_yscale("log")
        ax.set_ylim(bottom=lowest / 3, top=1.5)
        most = max((x for _, xs, _ in series for x in xs), default=0)
        ax.set_xlim(left=0, right=max(most, 1) * 1.05)
        ax.set_autoscale_on(False)
        for i, (label, xs, ps) in enumerate(series):
            ys = [max(p, 1e-12) for p in ps]
            if not many:
                ax.plot(xs, ys, linestyle=LINESTYLES[i % len(LINESTYLES)],
                        marker=MARKERS[i % len(MARKERS)], markersize=3, color="black",
                        linewidth=1.0, label=label)
            elif i != worst:
                ax.plot(xs, ys, color="#9a9a9a", linewidth=0.6,
                        label=f"each of the other {len(series) - 1} assertions" if i == (
                            1 if worst == 0 else 0) else None)
        if many and worst >= 0:
            label, xs, ps = series[worst]
            ax.plot(xs, [max(p, 1e-12) for p in ps], color="black", linewidth=1.8,
                    marker="o", markersize=3,
                    label=textwrap.fill(f"highest risk: {label}", 90))
        ax.axhline(risk_limit, color="black", linestyle=(0, (6, 3)), linewidth=1.4)
        ax.annotate(f"risk limit {risk_limit:g}", (1.0, risk_limit),
                    xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8)
        ax.set_xlabel("ballots examined")
        ax.set_ylabel("measured risk (log scale)")
        ax.set_title("Audit: measured risk by ballots examined")
        if series:
            ax.legend(fontsize=7, loc="lower left", title="assertion (line style)",
                      title_fontsize=7)
    alt = f"Line chart, risk limit {risk_limit:g}: " + "; ".join(
        f"{label}: measured risk {ps[-1]:.4g} after {xs[-1]:,} ballots"
        for label, xs, ps in series if xs
    )
    return _render(fig, "audit_risk", "Audit: measured risk by ballots examined", alt)


@_drawn_elsewhere
def discrepancies(counts: Sequence[tuple[str, int]]) -> Plot:
    """Audit discrepancies by type, each bar labelled with its count."""
    with _mpl().rc_context(RC):
        fig, ax = _figure(7.0, 1.2 + 0.35 * max(len(counts), 1))
        ys = list(range(len(counts)))[::-1]
        for i, (y, (_, n)) in enumerate(zip(ys, counts, strict=True)):
            ax.barh(y, n, color="#c7c7c7", edgecolor="black",
                    hatch=HATCHES[i % len(HATCHES)], linewidth=0.6)
            ax.text(n, y, f" {n:,}", va="center", fontsize=8)
        ax.set_yticks(ys, labels=[k for k, _ in counts])
        ax.set_xlim(0, max(max((n for _, n in counts), default=0), 1) * 1.25)
        ax.set_xlabel("ballots")
        ax.set_title("Audit discrepancies by type")
    alt = "Bar chart of audit discrepancies: " + "; ".join(f"{k} {n:,}" for k, n in counts)
    return _render(fig, "discrepancies", "Audit discrepancies by type", alt)


def county_margin_changes(counties: Sequence[str], changes: Sequence[int],
                          shares: Sequence[float], margin: int, total: int, leader: str,
                          runner_up: str) -> Plot:
    """Per-county change to the margin found by a hand count, largest first (at most
    :data:`MAX_BARS`), each bar labelled with the change and the share of the county's ballots
    that differed; the statewide margin is named in the caption for scale."""
    n = min(len(counties), MAX_BARS)
    with _mpl().rc_context(RC):
        fig, ax = _figure(7.0, 1.2 + 0.22 * max(n, 1))
        ys = list(range(n))[::-1]
        vals = list(changes[:n])
        ax.barh(ys, vals, color=["#c7c7c7" if v < 0 else "#4c72b0" for v in vals],
                hatch=None, edgecolor="black", linewidth=0.5)
        for y, v, sh in zip(ys, vals, shares[:n], strict=True):
            ax.text(v, y, f" {v:+,} ({sh:.2%}) ", va="center", fontsize=6.5,
                    ha="left" if v >= 0 else "right")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(ys, labels=list(counties[:n]), fontsize=7)
        lim = max((abs(v) for v in vals), default=1) * 1.6 or 1
        ax.set_xlim(-lim, lim)
        ax.set_xlabel(f"change to {leader}'s margin over {runner_up or 'no one'}, hand count "
                      "minus machine count (votes)", fontsize=7.5)
        ax.set_title(f"The {n} counties whose hand count moved the margin most")
    left = f"; {len(counties) - n} more counties not drawn" if len(counties) > n else ""
    title = (f"Change to the margin by county (statewide margin {margin:,} votes; "
             f"net change {total:+,}{left})")
    alt = "Bar chart of the change to the margin per county: " + "; ".join(
        f"{c} {v:+,} votes ({s:.2%} of its ballots differed)"
        for c, v, s in zip(counties[:n], vals, shares[:n], strict=True))
    return _render(fig, "county_margin_changes", title, alt)
