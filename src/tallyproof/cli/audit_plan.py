"""``tallyproof sample``, ``tallyproof audit estimate`` and ``tallyproof audit risk``: the
sampler and the planning/risk calculators (thin shells over ``tallyproof.audit``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..audit.options import DEFAULT_GAMMA, PLAN_METHODS
from ..errors import InputError, UsageError
from .common import emit_json, out

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
RISK_METHODS = ("kaplan-markov", "bravo", "kelly", "cobra", "alpha", "betting", "agrapa")


def read_ids(path: Path) -> list[str]:
    """One ballot id a line, kept exactly as written: only the line ending (LF or CRLF) is
    removed, so an id with blanks at its ends hashes as the reference sampler hashes it (and
    "a" and "a " stay two ids). Empty lines are skipped; a UTF-8 byte-order mark at the start
    of the file is not part of the first id."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError("file not found", file=path) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc}", file=path) from exc
    lines = text.split("\n")
    ids = [line.removesuffix("\r") for line in lines]
    ids = [i for i in ids if i]
    if not ids:
        raise InputError("no ids in the file", file=path)
    return ids


def parse_votes(spec: str) -> dict[str, int]:
    """``NAME=COUNT,NAME=COUNT`` → {name: count}."""
    votes: dict[str, int] = {}
    for part in spec.split(","):
        name, sep, count = part.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--votes expects NAME=COUNT,..., got {part!r}")
        try:
            votes[name.strip()] = int(count)
        except ValueError as exc:
            raise UsageError(f"--votes: {count!r} is not a whole number") from exc
    return votes


def register(app: typer.Typer, audit_app: typer.Typer) -> None:
    @app.command("sample")
    def sample_cmd(
        seed: Annotated[str, typer.Option("--seed", help="public random seed, e.g. 20 dice rolls")],
        ids: Annotated[Path, typer.Option(
            "--ids", help="file with one ballot id a line, kept exactly as written (only the "
                          "line ending is removed; empty lines are skipped)")],
        size: Annotated[int, typer.Option("--size", help="number of draws")],
        with_replacement: Annotated[bool, typer.Option("--with-replacement")] = False,
        start: Annotated[int, typer.Option("--start", help="draws already made (a later "
                                                            "round continues the sample)")] = 0,
        json: JsonOpt = False,
    ) -> None:
        """Draw a consistent sample (Rivest's SHA-256 sampler) in draw order."""
        from ..audit.sampler import sample

        draws = sample(read_ids(ids), seed, size, with_replacement=with_replacement, start=start)
        if json:
            emit_json([{"id": d.id, "ticket": d.ticket, "generation": d.generation} for d in draws])
            return
        table = Table("#", "id", "ticket", "generation")
        for k, d in enumerate(draws, start=start + 1):
            table.add_row(str(k), d.id, d.ticket, str(d.generation))
        out.print(table)

    @audit_app.command("estimate")
    def estimate_cmd(
        method: Annotated[str, typer.Option("--method", help=" | ".join(PLAN_METHODS))],
        risk_limit: Annotated[float, typer.Option("--risk-limit", help="e.g. 0.05")],
        margin: Annotated[float | None, typer.Option("--margin", help="diluted margin, e.g. "
                                                     "0.02")] = None,
        votes: Annotated[str | None, typer.Option("--votes", help="NAME=COUNT,...")] = None,
        ballots: Annotated[int | None, typer.Option("--ballots", help="ballot cards in the "
                                                    "population")] = None,
        gamma: Annotated[float, typer.Option("--gamma")] = DEFAULT_GAMMA,
        o1: Annotated[float, typer.Option("--o1", help="one-vote overstatement rate")] = 0.0,
        o2: Annotated[float, typer.Option("--o2", help="two-vote overstatement rate")] = 0.0,
        u1: Annotated[float, typer.Option("--u1", help="one-vote understatement rate")] = 0.0,
        u2: Annotated[float, typer.Option("--u2", help="two-vote understatement rate")] = 0.0,
        error_counts: Annotated[bool, typer.Option(
            "--error-counts", help="--o1..--u2 are counts in the sample (Kaplan-Markov)")] = False,
        quantile: Annotated[float | None, typer.Option(
            "--quantile", help="plan this quantile q of the stopping time (the sample size by "
                               "which the audit stops with probability >= q). Polling audits "
                               "and comparison audits with assumed discrepancy rates default "
                               "to 0.9; BRAVO (and ALPHA polling with replacement) exactly, "
                               "the others by simulation; comparison audits without "
                               "discrepancies use the expected-rate path")] = None,
        assumed_votes: Annotated[str | None, typer.Option(
            "--assumed-votes", help="polling: NAME=COUNT,... the true votes to draw ballots "
                                    "from (same names as --votes), if not the reported "
                                    "ones")] = None,
        audit: Annotated[str | None, typer.Option("--audit", help="polling | comparison")] = None,
        reps: Annotated[int, typer.Option("--reps",
                                          help="simulated audits (for quantiles)")] = 400,
        formula: Annotated[str, typer.Option(
            "--formula", help="Kaplan-Markov closed form: exact (smallest n with P <= alpha) "
                              "| stark (Stark 2010's published formula, as his super-simple "
                              "calculator and Arlo)")] = "exact",
        json: JsonOpt = False,
    ) -> None:
        """Plan how many ballots an audit will need.

        Polling audits (bravo; alpha, betting, agrapa with --audit polling) plan the
        quantile q (--quantile, 0.9 unless given) of the stopping time: the number of
        ballots by which the audit stops with probability at least q when the ballots
        are drawn from a population with the reported shares (or --assumed-votes).
        BRAVO samples with replacement and is computed exactly (dynamic programming
        on the lattice of counts; simulated, with a 95% interval, for margins below
        about 2%); ALPHA with --ballots samples without replacement and is simulated
        (--reps audits, fixed seed). The output names the basis, the quantile, how
        it was computed and whether ballots are drawn with or without replacement.
        """
        from ..audit.plan import estimate_sample_size

        est = estimate_sample_size(
            method, risk_limit=risk_limit, margin=margin,
            votes=parse_votes(votes) if votes is not None else None, ballots=ballots,
            gamma=gamma, o1=o1, o2=o2, u1=u1, u2=u2, error_counts=error_counts,
            quantile=quantile, audit=audit, reps=reps, km_formula=formula,
            assumed_votes=parse_votes(assumed_votes) if assumed_votes is not None else None)
        if json:
            emit_json(est.to_json())
            return
        size = "a full hand count" if est.sample_size is None else f"{est.sample_size:,} ballots"
        d = est.details
        if est.audit == "polling" and "computed" in d:
            how = (f"{d['computed']}" if d["computed"] == "exact" else
                   f"{d['reps']:,} simulated audits, 95% interval "
                   f"{d['quantile_interval_95'][0]:,}-{d['quantile_interval_95'][1]:,}")
            basis = (f"quantile {est.quantile:g} of the stopping time, {how}, "
                     f"ballots drawn {d['sampling']}")
        else:
            basis = (est.basis + (f", {d['formula']}" if "formula" in d else "")
                     + (f", quantile {est.quantile:g}" if est.quantile is not None else ""))
        out.print(f"{est.method} ({est.audit}) at risk limit {est.risk_limit:g}, diluted margin "
                  f"{est.margin:.4%}: {size} ({basis}"
                  + (f"; expected {est.expected:,.1f}" if est.expected is not None else "") + ")")

    @audit_app.command("risk")
    def risk_cmd(
        method: Annotated[str, typer.Option("--method", help=" | ".join(RISK_METHODS))],
        n: Annotated[int, typer.Option("--n", help="ballots examined")],
        margin: Annotated[float | None, typer.Option(
            "--margin", help="diluted margin: (winner - runner-up) / ballots")] = None,
        votes: Annotated[str | None, typer.Option(
            "--votes", help="reported NAME=COUNT,... instead of --margin (with --ballots: "
                            "the ballots they are diluted over)")] = None,
        gamma: Annotated[float, typer.Option("--gamma")] = DEFAULT_GAMMA,
        o1: Annotated[int, typer.Option("--o1", help="one-vote overstatements found")] = 0,
        o2: Annotated[int, typer.Option("--o2", help="two-vote overstatements found")] = 0,
        u1: Annotated[int, typer.Option("--u1", help="one-vote understatements found")] = 0,
        u2: Annotated[int, typer.Option("--u2", help="two-vote understatements found")] = 0,
        winner: Annotated[int | None, typer.Option("--winner", help="BRAVO: ballots for the "
                                                   "reported winner")] = None,
        loser: Annotated[int | None, typer.Option("--loser", help="BRAVO: ballots for the "
                                                  "reported loser")] = None,
        ballots: Annotated[int | None, typer.Option("--ballots", help="population size "
                                                    "(sampling without replacement)")] = None,
        json: JsonOpt = False,
    ) -> None:
        """Measured risk (p-value) of a sample of n ballots with the given counts.

        Kaplan-Markov and BRAVO depend on the counts only. The adaptive methods
        (kelly, cobra, alpha, betting, agrapa) bet from the history, so the same
        counts in another order give another p-value: the one reported is the
        largest over every order the counts could have been drawn in, exact when
        an order attains it, otherwise an upper bound on it ("order" in the
        output says which). To measure one sample in its own draw order, use the
        audit workflow (audit round / record).

        BRAVO: with --votes, the winner's share of the two candidates' votes (as
        Arlo); with --margin (the diluted margin m), the SHANGRLA polling
        assorter with reported mean (1 + m) / 2 (ALPHA with a fixed eta, Stark
        2023 Section 2.4): a ballot for the winner multiplies T by 1 + m, one for
        the loser by 1 - m.
        """
        method = method.lower()
        if method not in RISK_METHODS:
            raise UsageError(f"unknown method {method!r}; choose from {', '.join(RISK_METHODS)}")
        if (margin is None) == (votes is None):
            raise UsageError("give exactly one of --margin or --votes")
        share: float | None = None
        if votes is not None:
            from ..audit.plan import margin_from_votes

            margin, share, ballots = margin_from_votes(parse_votes(votes), ballots)
        if margin is None or not 0 < margin < 1:
            raise UsageError(f"margin must be in (0, 1), got {margin}")
        if n < 0 or min(o1, o2, u1, u2) < 0:
            raise UsageError("counts must be non-negative")
        info: dict[str, Any] = {"method": method, "n": n, "margin": margin}
        if method == "kaplan-markov":
            from ..audit.kaplan_markov import kaplan_markov_pvalue

            p = kaplan_markov_pvalue(n, o1, o2, u1, u2, margin=margin, gamma=gamma)
            info.update(gamma=gamma, o1=o1, o2=o2, u1=u1, u2=u2)
        elif method == "bravo":
            if winner is None or loser is None:
                raise UsageError("bravo needs --winner and --loser (their ballots in the sample)")
            if winner + loser > n:
                raise UsageError("--winner + --loser cannot exceed --n")
            from ..audit.bravo import bravo_pvalue

            if share is not None:
                p = bravo_pvalue(winner, loser, share)
                basis = "winner's share of the two candidates' reported votes"
            else:
                p = bravo_pvalue(winner, loser, (1 + margin) / 2)
                basis = "polling assorter with reported mean (1 + margin) / 2"
            info.update(winner=winner, loser=loser, winner_share=share, alternative=basis)
        else:
            if o1 + o2 + u1 + u2 > n:
                raise UsageError("more discrepancies than ballots")
            if ballots is not None and n > ballots:
                raise UsageError(f"{n} ballots examined out of a population of {ballots}")
            import numpy as np

            from ..audit.risk import comparison_support, worst_order_risk

            upper = 2 / (2 - margin)
            counts = np.array([o2, o1, n - o1 - o2 - u1 - u2, u1, u2])
            worst = worst_order_risk(comparison_support(upper), counts, upper=upper, N=ballots,
                                     method=method)
            p = worst.p_value
            info.update(o1=o1, o2=o2, u1=u1, u2=u2, ballots=ballots,
                        order=("largest over every order (exact)" if worst.exact
                               else "upper bound on the largest over every order"),
                        worst_order_attained=worst.attained)
        info["p_value"] = p
        if json:
            emit_json(info)
            return
        shown = "< 1e-12" if p < 1e-12 else f"{p:.6g}"
        out.print(f"{method}: measured risk {shown} after {n:,} ballots "
                  + (f"({info['order']}) " if "order" in info else "")
                  + "(the outcome is confirmed at any risk limit at least this large)")
