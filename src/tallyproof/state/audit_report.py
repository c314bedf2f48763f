"""The statewide audit in the statewide report: each county's part (units drawn and recorded,
discrepancies, whether its records are in the measured risk) and the statewide section (kind,
risk limit, the risk of every contest after each round, a plot of it).

Read from the state folder's ``audit/`` as bundled: ``audit.json``, ``rounds/round-N.json``,
``counties/<county>/records.jsonl`` and the statuses ``state audit status`` wrote
(``status.json``, ``history/round-NNN.json``; :mod:`.audit_status`). The report shows them
as recorded; ``verify`` rebuilds the report from these files byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ..audit.records import load_records
from .audit_status import discrepancies_by_county, read_status_history


def _json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _discrepancies(status: dict[str, Any]) -> dict[str, dict[str, int]]:
    """county -> o1/o2/u1/u2 summed over contests (per contest the largest over its
    assertions, counted by :func:`.audit_status.discrepancies_by_county`)."""
    out: dict[str, dict[str, int]] = {}
    for county, per in discrepancies_by_county(status).items():
        tot = out.setdefault(county, {})
        for d in per.values():
            for k, v in d.items():
                tot[k] = tot.get(k, 0) + v
    return out


def county_progress(folder: Path, counties: list[str]) -> dict[str, dict[str, Any]] | None:
    """Each county's part of the statewide audit, in numbers (None: no audit started):
    ``drawn`` (distinct units, cards or batches, drawn in it so far: the latest round's draws
    are cumulative; a full hand count's one list), ``recorded`` (distinct units in its
    ``records.jsonl``), ``discrepancies`` (o1/o2/u1/u2 summed over contests, None before any
    measurement or in a full hand count), ``waiting`` (drawn units the last measurement found
    without a record) and ``measured`` (a status has been measured). ``folder`` is an
    ``audit/`` folder, the state's or a bundle's. The statewide report and the control room
    count alike from it."""
    if not (folder / "audit.json").exists():
        return None
    params = _json(folder / "audit.json")
    rounds = sorted((folder / "rounds").glob("round-*.json")) if (folder / "rounds").exists() \
        else []
    last = _json(rounds[-1]) if rounds else {"draws": {}, "new_cards": {}}
    status = _json(folder / "status.json") if (folder / "status.json").exists() else None
    drawn: dict[str, set[str]] = {c: set() for c in counties}
    for ds in last["draws"].values():
        for d in ds:
            county, _, unit = d["id"].partition("/")
            drawn.setdefault(county, set()).add(unit)
    if params["kind"] == "handcount":  # one list of every batch per county
        for county, n in last["new_cards"].items():
            drawn[county] = {f"#{i}" for i in range(int(n))}
    counted = status is not None and params["kind"] != "handcount"
    found = _discrepancies(status) if status and counted else {}
    waiting = (status or {}).get("waiting", {})
    out = {}
    for county in counties:
        recs = load_records(folder / "counties" / county / "records.jsonl")
        out[county] = {"drawn": len(drawn.get(county, ())),
                       "recorded": len({r.ballot_id for r in recs}),
                       "discrepancies": found.get(county, {}) if counted else None,
                       "waiting": int(waiting.get(county, 0)), "measured": status is not None}
    return out


def audit_view(state: Path, counties: list[str], names: dict[str, str]) -> dict[str, Any] | None:
    """Everything the report shows of the statewide audit (None: no audit started).
    ``names``: statewide contest id -> name."""
    folder = state / "audit"
    progress = county_progress(folder, counties)
    if progress is None:
        return None
    params = _json(folder / "audit.json")
    rounds = sorted((folder / "rounds").glob("round-*.json")) if (folder / "rounds").exists() \
        else []
    status = _json(folder / "status.json") if (folder / "status.json").exists() else None
    rows = {}
    for county in counties:
        p = progress[county]
        d = p["discrepancies"] or {}
        text = ", ".join(f"{v} {k}" for k, v in d.items() if v) or "none"
        if not p["drawn"]:
            rows[county] = {"status": "not_run", "text": "nothing drawn"}
            continue
        owed = p["waiting"]
        rows[county] = {
            "status": "fail" if any(d.values()) else "pass" if status and not owed
            else "not_run",
            "text": f"{p['drawn']:,} drawn, {p['recorded']:,} recorded; discrepancies: "
                    f"{text}; " + (f"waiting for {owed:,}" if owed else
                                   "in the measured risk" if status else "not measured yet")}
    history = [(int(h["rounds"]), {
        c["contest_id"]: (int(c.get("ballots_examined", 0)), float(c["measured_risk"]))
        for c in h.get("contests", []) if "measured_risk" in c})
        for h in read_status_history(folder)]
    contests = [{"name": names.get(c["contest_id"], c["contest_id"]), "status": c["status"],
                 "risk": c.get("measured_risk"), "examined": c.get("ballots_examined",
                                                                  c.get("counted")),
                 "frame": c.get("frame_size", c.get("batches"))}
                for c in (status or {}).get("contests", [])]
    return {"kind": params["kind"], "risk_limit": params["risk_limit"], "seed": params["seed"],
            "rounds": len(rounds), "status": (status or {}).get("status", "not measured"),
            "contests": contests, "counties": rows,
            "history": [{"round": k, "risks": {names.get(c, c): v for c, v in h.items()}}
                        for k, h in history]}


def audit_plot(view: dict[str, Any]) -> Any:
    """Measured risk of each contest after each round (log scale), the risk limit dashed;
    None without a measured round."""
    from ..evidence.plots import audit_risk

    series: dict[str, tuple[list[int], list[float]]] = {}
    for h in view["history"]:
        for name, (examined, risk) in h["risks"].items():
            xs, ps = series.setdefault(name, ([], []))
            xs.append(examined)
            ps.append(risk)
    if not series:
        return None
    return audit_risk([(name, xs, ps) for name, (xs, ps) in series.items()],
                      float(view["risk_limit"]))
