"""What the report shows of each contest: the rule in plain words, votes by candidate (by
name), the round-by-round table of a ranked contest, and the figures its charts plot.

Every number comes from the tabulation just computed
(:func:`tallyproof.tabulate.store_results.tabulate_store`): plurality/approval tallies are
exact integers; ranked contests carry their rounds (``rcv.rounds``: tally, eliminated,
elected, inactive ballots), whose counts may be decimals for STV transfers.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..errors import StoreError
from ..model import Contest, ContestKind

#: The inactive-ballot categories of a round (RCTab's names) in the words the report uses.
INACTIVE_TEXT = {
    "exhaustedChoices": "no further choices (exhausted)",
    "overvotes": "overvoted at the next choice",
    "skippedRankings": "too many skipped rankings",
    "repeatedRankings": "same candidate ranked again",
    "undervotes": "no candidate ranked (blank)",
    "finalRoundSurplus": "surplus votes left when the last seat was filled",
}


def rule_text(contest: Contest) -> str:
    """The counting rule and the number of winners in plain words, then where the rule comes
    from (declared by the election office with ``tallyproof contest set``, or as exported) and
    any RCTab options it was declared with."""
    options = "".join(f" {k}={str(v).lower() if isinstance(v, bool) else v};"
                      for k, v in contest.rcv_options)
    source = (" Rule declared by the election office" if contest.rule_declared
              else " Rule as the export gives it")
    return _plain_rule(contest) + source + (f" (RCTab options:{options.rstrip(';')})"
                                            if options else "") + "."


def _plain_rule(contest: Contest) -> str:
    seats = contest.seats
    winners = f"{seats} winner{'s' if seats != 1 else ''}"
    if contest.kind is ContestKind.PLURALITY:
        return (f"Plurality, vote for {contest.vote_for}, {winners}: the "
                + (f"{seats} candidates" if seats != 1 else "candidate")
                + " with the most votes win" + ("" if seats != 1 else "s") + ".")
    if contest.kind is ContestKind.APPROVAL:
        return (f"Approval, {winners}: voters mark every choice they approve of; the "
                + (f"{seats} choices" if seats != 1 else "choice")
                + " with the most marks win" + ("" if seats != 1 else "s") + ".")
    if contest.kind is ContestKind.IRV:
        return (f"Ranked choice (instant runoff), {winners}: voters rank the candidates; round "
                "by round the last-place candidate is eliminated and each of their ballots "
                "moves to its next-ranked candidate still in the race, until one candidate has "
                "more than half of the ballots still counting.")
    return (f"Ranked choice (single transferable vote), {seats} seats: voters rank the "
            "candidates; a candidate who reaches the quota (threshold) is elected and their "
            "surplus votes move to next choices; otherwise the last-place candidate is "
            "eliminated and their ballots move on, until every seat is filled.")


def outcome(tabulation: dict[str, Any], contest_id: str) -> dict[str, Any]:
    for c in tabulation.get("contests", []):
        if isinstance(c, dict) and c.get("contest_id") == contest_id:
            return c
    raise StoreError(f"the tabulation has no outcome for contest {contest_id!r}")


def contest_view(contest: Contest, tabulation: dict[str, Any], cards_with: int | None) -> dict[str, Any]:
    """Votes, shares, winners, margin and (ranked) rounds of one contest. ``cards_with`` is the
    number of cards holding the contest, used only when the tabulation does not give it."""
    names = {c.id: c.name for c in contest.candidates}
    out = outcome(tabulation, contest.id)
    view: dict[str, Any] = {
        "id": contest.id, "name": contest.name, "kind": contest.kind.value,
        "rule": rule_text(contest), "seats": contest.seats, "vote_for": contest.vote_for,
        "rows": [], "margin_pct": None, "overvotes": None, "undervotes": None,
        "tied": bool(out.get("tied")), "rounds": None, "chart_rows": [], "chart_note": "",
        "winners": [names.get(w, w) for w in out.get("winners", [])], "cards": cards_with or 0,
    }
    tally = out.get("tally")
    if tally:
        votes = {str(k): int(v) for k, v in tally["votes"].items()}
        won = set(tally["winners"])
        order = sorted(contest.candidates, key=lambda c: (-votes.get(c.id, 0), c.id))
        total = sum(votes.values())
        rows = [{"name": c.name, "votes": votes.get(c.id, 0),
                 "share": _pct(Fraction(votes.get(c.id, 0), total)) if total else "",
                 "bar": f"{float(Fraction(votes.get(c.id, 0) * 100, total)):.1f}" if total else "0",
                 "winner": c.id in won} for c in order]
        cards = int(tally["cards"])
        view.update(rows=rows, overvotes=int(tally["overvotes"]),
                    undervotes=int(tally["undervotes"]), cards=cards,
                    chart_rows=[(r["name"], r["votes"], r["winner"]) for r in rows])
        seats = contest.seats
        if len(rows) > seats and cards:
            gap = rows[seats - 1]["votes"] - rows[seats]["votes"]
            view["margin_pct"] = float(Fraction(100 * gap, cards))
        return view
    rcv = out.get("rcv")
    if rcv and rcv.get("rounds"):
        view["rounds"] = rounds_table(rcv, names)
        cards = int(rcv.get("total_ballots") or 0) or view["cards"]
        view["cards"] = cards
        view["undervotes"] = int(rcv.get("undervotes") or 0)
        rounds = rcv["rounds"]
        # IRV: the final round is the decisive head-to-head; STV: first choices (the final
        # round of an STV count holds transferred fractions and elected candidates' quotas).
        pick = rounds[-1] if contest.kind is ContestKind.IRV else rounds[0]
        won = set(out.get("winners", []))
        final = sorted(((names.get(c, c), _count(v), c in won)
                        for c, v in pick["tally"].items()),
                       key=lambda r: (-r[1], r[0]))
        view["chart_rows"] = [(n, v, w) for n, v, w in final]
        view["chart_note"] = ("final round" if contest.kind is ContestKind.IRV
                              else "first choices")
        if contest.kind is ContestKind.IRV and len(final) > 1 and cards:
            view["margin_pct"] = float((Decimal(final[0][1]) - Decimal(final[1][1]))
                                       * 100 / Decimal(cards))
    return view


def rounds_table(rcv: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The round-by-round counts: one row per candidate (by name) and per kind of inactive
    ballot, one column per round; a candidate's cell after elimination is empty."""
    rounds = rcv["rounds"]
    out_in: dict[str, int] = {}
    won_in: dict[str, int] = {}
    for r in rounds:
        for c in r.get("eliminated", []):
            out_in.setdefault(str(c), int(r["round"]))
        for c in r.get("elected", []):
            won_in.setdefault(str(c), int(r["round"]))
    first = rounds[0]["tally"]
    last = rounds[-1]["tally"]
    # still counting at the end first (most votes first), then the eliminated, latest first
    cands = sorted((str(c) for c in (rcv.get("candidates") or first)),
                   key=lambda c: (-out_in.get(c, 10**6), -_num(last.get(c, 0)),
                                  names.get(c, c)))
    rows = []
    for c in cands:
        cells = [_fmt(r["tally"][c]) if c in r["tally"] else "" for r in rounds]
        if c in won_in:
            note = f"elected in round {won_in[c]}"
        elif c in out_in:
            note = f"eliminated in round {out_in[c]}"
        else:
            note = ""
        rows.append({"name": names.get(c, c), "cells": cells, "note": note})
    kinds = sorted({k for r in rounds for k in (r.get("inactive") or {})},
                   key=lambda k: (list(INACTIVE_TEXT).index(k) if k in INACTIVE_TEXT else 99, k))
    inactive = [{"name": "Inactive ballots: " + INACTIVE_TEXT.get(k, k),
                 "cells": [_fmt((r.get("inactive") or {}).get(k, 0)) for r in rounds], "note": ""}
                for k in kinds]
    return {"headers": [f"Round {int(r['round'])}" for r in rounds], "rows": rows,
            "inactive": inactive,
            "threshold": [_fmt(r["threshold"]) if r.get("threshold") is not None else ""
                          for r in rounds]}


def _num(v: Any) -> float:
    return float(Decimal(str(v)))


def _count(v: Any) -> int | float:
    """A round's count as an int when whole (IRV always), else a float (STV fractions)."""
    d = Decimal(str(v))
    return int(d) if d == d.to_integral_value() else float(d)


def _fmt(v: Any) -> str:
    d = Decimal(str(v))
    return f"{int(d):,}" if d == d.to_integral_value() else f"{d:,.4f}"


def _pct(f: Fraction) -> str:
    return f"{float(f * 100):.2f}%"
