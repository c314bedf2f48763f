"""Precision and recall of the matching against planted truth (synthetic data only).

Precision = true matches found / matches found; recall = true matches found / true cases
planted. A found match that is not planted is a coincidence between different people (or a
planted case of another kind), which is what the expected-coincidental figure predicts.
"""

from __future__ import annotations

from typing import Any


def _pr(found: set[str], truth: set[str]) -> dict[str, Any]:
    hit = len(found & truth)
    return {"found": len(found), "planted": len(truth), "true_found": hit,
            "false_found": len(found) - hit,
            "precision": round(hit / len(found), 4) if found else None,
            "recall": round(hit / len(truth), 4) if truth else None}


def score(con: Any, truth: dict[str, Any]) -> dict[str, Any]:
    """Score the ``death_matches`` and ``double_matches`` tables left in ``con`` by
    :func:`tallyproof.voters.checks.run_all` against ``truth.json``'s planted voter ids."""
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    out: dict[str, Any] = {}
    if "death_matches" in tables:
        found = {r[0] for r in con.execute("SELECT voter_id FROM death_matches").fetchall()}
        out["deceased"] = _pr(found, set(truth["dead_voter"]) | set(truth["died_after"]))
    if "double_matches" in tables:
        rows = con.execute("SELECT voter_id_a, voter_id_b FROM double_matches").fetchall()
        planted = set(truth["double_vote"])
        # a pair is found for the planted voter whichever side of the pair it is on
        found = {a if a in planted else b if b in planted else a for a, b in rows}
        out["double_vote"] = _pr(found, planted)
    return out
