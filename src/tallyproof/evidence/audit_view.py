"""The audit as the report, the claims and the verifier see it.

Only :mod:`tallyproof.audit.workflow` reads ``DIR/audit/``; :func:`audit_data` turns its
``audit_report_data`` into the plain shape the report shows::

    {"risk_limit", "seed", "kind", "status", "complete", "ballots_examined", "summary",
     "assertions": [{"id", "label", "contest", "ballots": [int], "risks": [float],
                     "examined", "risk", "risk_text", "met"}],
     "discrepancies": {type label: count}}

:func:`audit_recheck` is the verifier's part: it re-draws every round's sample from the seed
and recomputes every assertion's risk from the audit-board records, through the workflow's
own functions, on the (bundled) store it is given.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import AuditError
from ..store import Store
from .checks import Check

DISCREPANCY_LABELS = {
    "o1": "one-vote overstatement",
    "o2": "two-vote overstatement",
    "u1": "one-vote understatement",
    "u2": "two-vote understatement",
}


def audit_exists(store: Store) -> bool:
    return (store.audit_dir / "audit.json").is_file()


def audit_data(store: Store) -> dict[str, Any] | None:
    """The normalised audit data, or ``None`` when no audit was started."""
    if not audit_exists(store):
        return None
    from ..audit.workflow import audit_report_data

    try:
        raw = audit_report_data(store)
    except AuditError as exc:  # e.g. the CVRs changed after the audit started: evidence
        return {"error": str(exc), "risk_limit": None, "seed": None, "kind": None,
                "status": "error", "complete": False, "ballots_examined": 0,
                "assertions": [], "discrepancies": {},
                "summary": f"the audit cannot be evaluated: {exc}"}
    return normalise(raw)


def normalise(raw: dict[str, Any]) -> dict[str, Any]:
    params = raw["parameters"]
    risk_limit = float(params["risk_limit"])
    assertions: list[dict[str, Any]] = []
    disc: dict[str, int] = {}
    for contest in raw["contests"]:
        worst: dict[str, int] = {}
        for a in contest["assertions"]:
            ps = [float(p) for p in a["p_history"]]
            examined = int(a["ballots_examined"])
            first = examined - len(ps) + 1  # p_history holds one value per ballot examined
            risk = float(a["measured_risk"])
            assertions.append({
                "id": str(a["assertion_id"]),
                "label": str(a.get("description") or a["assertion_id"]),
                "contest": str(contest["contest_id"]),
                "ballots": list(range(first, first + len(ps))),
                "risks": ps,
                "examined": examined,
                "risk": risk,
                "risk_text": f"{risk:.4g}",
                "met": risk <= risk_limit,
            })
            for k, v in (a.get("discrepancies") or {}).items():
                worst[k] = max(worst.get(k, 0), int(v))
        for k, v in worst.items():
            label = DISCREPANCY_LABELS.get(k, k)
            disc[label] = disc.get(label, 0) + v
    examined = sum(int(c["ballots_examined"]) for c in raw["contests"])
    complete = raw["status"] == "confirmed"
    worst_risk = max((a["risk"] for a in assertions), default=1.0)
    found = {k: v for k, v in sorted(disc.items()) if v}
    summary = (
        f"{raw['status'].replace('_', ' ')} after {raw['rounds']} round(s): "
        f"{examined:,} ballot examinations across {len(raw['contests'])} contest(s), "
        f"{len(assertions)} assertion(s); largest measured risk {worst_risk:.4g} against the "
        f"risk limit {risk_limit:g}. "
        + ("Every assertion meets the risk limit, so the paper ballots confirm the reported "
           "outcome." if complete else "The risk limit is not met, so the paper ballots have "
           "not (yet) confirmed the reported outcome.")
        + (" Discrepancies: " + ", ".join(f"{k} {v:,}" for k, v in found.items()) + "."
           if found else " No discrepancies between paper and CVRs were found.")
    )
    return {
        "risk_limit": risk_limit,
        "seed": str(params["seed"]),
        "kind": str(params["kind"]),
        "status": str(raw["status"]),
        "complete": complete,
        "ballots_examined": examined,
        "assertions": sorted(assertions, key=lambda a: (a["contest"], a["id"])),
        "discrepancies": dict(sorted(disc.items())),
        "summary": summary,
    }


def audit_check(data: dict[str, Any] | None) -> Check:
    """``pass`` when the audit confirmed every contest; ``fail`` when it has not (the paper
    has not confirmed the outcome: more rounds or a full hand count are due) or cannot be
    evaluated; ``not_run`` without an audit."""
    if data is None:
        return Check("audit", "not_run", "no risk-limiting audit was run")
    details = {k: data[k] for k in ("risk_limit", "seed", "kind", "status", "complete",
                                    "ballots_examined", "discrepancies")}
    details["assertions"] = [{k: a[k] for k in ("id", "contest", "examined", "risk", "met")}
                             for a in data["assertions"]]
    return Check("audit", "pass" if data["complete"] else "fail", data["summary"], details)


def audit_recheck(store: Store, published: dict[str, Any] | None,
                  data: dict[str, Any] | None = None) -> list[Check]:
    """``audit.sample``: every round's draws equal a fresh draw from the seed over the same
    frame; ``audit.risk``: the audit result recomputed from the audit-board records equals
    the published one (``published`` = the ``audit`` entry of the bundle's checks.json;
    ``data``: :func:`audit_data` of ``store`` when the caller has already computed it).

    Every round's sample is a prefix of each contest's draw order (consistent sampling,
    :mod:`tallyproof.audit.sampler`), so the order is drawn once, through the workflow's own
    drawing function, up to the largest sample any round took, and each round is compared
    with its prefix."""
    from ..audit import workflow as wf

    try:
        params = wf.load_audit(store)
        rounds = wf.load_rounds(store)
        election = store.election
        contests = [election.contest(c) for c in params.contests]
        cards = wf.load_cards(store, contests)
        largest = {c.id: max((r.targets.get(c.id, 0) for r in rounds), default=0)
                   for c in contests}
        order = wf._draw_all(store, params, cards, contests, largest)  # noqa: SLF001
        bad: list[str] = []
        drawn = 0
        for r in rounds:
            for c in contests:
                fresh = order[c.id][:r.targets.get(c.id, 0)]
                drawn += len(fresh)
                if fresh != r.draws.get(c.id, []):
                    bad.append(f"round {r.number}, contest {c.id}")
        sample_check = Check(
            "audit.sample", "fail" if bad else "pass",
            (f"the sample drawn from the seed differs in {', '.join(bad)}" if bad else
             f"all {len(rounds)} round(s) re-drawn from seed {params.seed}: {drawn:,} draws "
             "match"),
            {"rounds": len(rounds), "draws": drawn, "differing": bad},
        )
    except AuditError as exc:
        return [Check("audit.sample", "fail", f"the audit cannot be re-checked: {exc}"),
                Check("audit.risk", "fail", f"the audit cannot be re-checked: {exc}")]
    recomputed = audit_check(audit_data(store) if data is None else data).to_json()
    if published is None:
        risk_check = Check("audit.risk", "fail", "the bundle publishes no audit result")
    else:
        same = _canon(published) == _canon(recomputed)
        pub = {(a["contest"], a["id"]): a for a in published.get("details", {}).get(
            "assertions", [])}
        differing = sorted(f"{a['contest']}/{a['id']}"
                           for a in recomputed["details"].get("assertions", [])
                           if pub.get((a["contest"], a["id"])) != a)
        risk_check = Check(
            "audit.risk", "pass" if same else "fail",
            f"the measured risks recomputed from the audit-board records "
            f"({len(params.contests)} contest(s)) equal the published ones"
            if same else "the audit result recomputed from the records differs from the "
            "published one" + (f" (assertions {', '.join(differing)})" if differing else ""),
            {"differing_assertions": differing},
        )
    return [sample_check, risk_check]


def _canon(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
