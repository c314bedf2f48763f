"""The voter checks of an election store: ``results/voters.json``, counts only.

``tallyproof voters check --store`` (and the county demo) writes there the document
:func:`tallyproof.voters.report.voter_evidence` returns: the four checks' counts, rates and
statistics, the rules applied, the input files' names and SHA-256, and (synthetic data) the
precision and recall of the matching. It never holds a voter's name, date of birth or
registration number, so the report and the bundle can carry it.

What ``tallyproof verify`` can and cannot re-check from it (:func:`recheck`):

- it *can* re-check each check's arithmetic (matched = explained by timing + left to explain;
  the per-county late ballots add up to the totals; the precincts over their registered count,
  from the per-precinct table), recompute each 95% range from its expected mean (Poisson) and
  each status from the check's own numbers and rules, and compare the ballots counted per
  precinct with the bundled CVRs (one card per ballot) when they were taken from the store;
- it *cannot* re-run the matching: that needs the names and dates of birth, which are never
  published. Whoever holds the voter files re-runs ``tallyproof voters check`` on them and
  compares the inputs' SHA-256 with the ones recorded here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..evidence.checks import Check
from ..fsutil import atomic_write_json
from ..store import Store
from .checks import DECEASED, DOUBLE, LATE, OVERVOTE

VOTERS_FILE = "voters.json"
#: ``ballots_source`` of a document whose ballots per precinct are the store's CVRs.
FROM_STORE = "store_cvrs"
#: The keys a document may hold: anything else is refused before it is written (privacy).
KEYS = {"rules", "inputs", "history_layout", "roll_layout", "checks", "claims",
        "method_notes", "match_list_written", "precision_recall", "ballots_source",
        "ballots_county"}


def ballots_per_precinct(store: Store, county: str | None = None) -> pa.Table:
    """Ballots counted per precinct: the store's CVRs (one card per ballot), in ``county`` as
    the voter files spell it (default: the election's jurisdiction). Cards with no precinct
    cannot be compared per precinct and are left out."""
    cvrs = store.cvrs(["precinct"])
    cvrs = cvrs.filter(pc.is_valid(cvrs.column("precinct")))
    counts = cvrs.group_by("precinct").aggregate([([], "count_all")])
    name = store.election.jurisdiction if county is None else county
    n = counts.num_rows
    return pa.table({"county": pa.array([name] * n, pa.string()),
                     "precinct": counts.column("precinct").cast(pa.string()),
                     "ballots": counts.column("count_all").cast(pa.int64())})


def record(store: Store, doc: dict[str, Any]) -> None:
    """Write the voter evidence into the store (atomically), refusing unknown keys."""
    store.check_writable("the voter evidence")
    extra = set(doc) - KEYS
    if extra:
        raise InputError(f"not a voter evidence document: unknown key(s) {sorted(extra)}")
    store.results_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(store.results_dir / VOTERS_FILE, doc)


def load(store: Store) -> dict[str, Any] | None:
    """The store's voter evidence, or None when the voter checks were not run."""
    path = store.results_dir / VOTERS_FILE
    if not path.exists():
        return None
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc}", file=path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("checks"), list):
        raise InputError("not a voter evidence document (no list of checks)", file=path)
    return doc


def checks_of(doc: dict[str, Any]) -> list[Check]:
    return [Check.from_json(c) for c in doc["checks"]]


def recheck(store: Store, doc: dict[str, Any]) -> Check:
    """The ``voters`` check of ``tallyproof verify``: what the bundled counts allow re-checking
    (module docstring); every inconsistency found is named."""
    by_name = {c.name: c for c in checks_of(doc)}
    problems: list[str] = []
    for name, fn in ((DECEASED, _deceased), (DOUBLE, _double), (LATE, _late),
                     (OVERVOTE, _overvote)):
        c = by_name.get(name)
        if c is None:
            problems.append(f"{name} is missing")
        elif c.status != "not_run" or name == DECEASED:
            problems += [f"{name}: {p}" for p in fn(c)]
    over = by_name.get(OVERVOTE)
    compared = doc.get("ballots_source") == FROM_STORE and over is not None
    if compared and over.status != "not_run":  # type: ignore[union-attr]
        problems += _ballots_match_cvrs(store, over,  # type: ignore[arg-type]
                                        doc.get("ballots_county"))
    if problems:
        return Check("voters", "fail", "the bundled voter-check results are inconsistent: "
                     + "; ".join(problems[:5]), {"problems": problems})
    return Check("voters", "pass",
                 "the bundled voter-check results are consistent: every count adds up, every "
                 "expected range and status follows from the check's own numbers"
                 + (", and the ballots counted per precinct are the bundled CVRs'"
                    if compared else "")
                 + "; the matching itself is not re-run (it needs the personal data, which is "
                   "never published)", {"ballots_compared_with_cvrs": compared})


def poisson_interval_95(mean: float) -> tuple[float, float]:
    """``scipy.stats.poisson.interval(0.95, mean)`` for ``mean > 0``, computed as SciPy
    computes it (``poisson._ppf`` of each tail, through ``scipy.special``), without importing
    ``scipy.stats``, which costs ``verify`` about a second of CPU; a test holds the two equal
    over a range of means."""
    from scipy import special

    def ppf(q: float) -> float:
        vals = float(np.ceil(special.pdtrik(q, mean)))
        below = max(vals - 1, 0.0)
        return below if special.pdtr(below, mean) >= q else vals

    return ppf((1.0 - 0.95) / 2), ppf((1.0 + 0.95) / 2)


def _range(exp: dict[str, Any]) -> list[str]:
    mean = float(exp["mean"])
    lo, hi = poisson_interval_95(mean) if mean > 0 else (0.0, 0.0)
    if [int(lo), int(hi)] != list(exp["interval_95"]):
        return [f"95% range {exp['interval_95']} is not the Poisson range of mean {mean} "
                f"([{int(lo)}, {int(hi)}])"]
    return []


def _deceased(c: Check) -> list[str]:
    d = c.details
    if "matched" not in d:  # not run for want of data: nothing to add up
        return [] if c.status == "not_run" else ["no counts"]
    out = _range(d["expected_coincidental"])
    if d["matched"] != d["explained_by_timing"] + d["left_to_explain"]:
        out.append("matched is not explained + left to explain")
    full = d["expected_coincidental"]["basis"] == "full_birth_date"
    explained = d["explained_by_timing"] if d["rules"]["ballot_cast_before_death_counts"] else 0
    want = ("fail" if d["matched"] - explained > d["expected_coincidental"]["interval_95"][1]
            else "pass") if full else "not_run"
    if c.status != want:
        out.append(f"status {c.status}, its numbers give {want}")
    return out


def _double(c: Check) -> list[str]:
    d = c.details
    out: list[str] = []
    fail = d["same_registration_credited_twice"] > 0
    if d.get("registration_pairs") is not None:
        exp = d["expected_coincidental"]
        out += _range(exp)
        if d["cross_county_pairs"] > d["registration_pairs"]:
            out.append("more pairs across counties than pairs in all")
        fail |= exp["basis"] == "full_birth_date" and d["registration_pairs"] > exp[
            "interval_95"][1]
    want = "fail" if fail else "pass"
    return [] if c.status == want else [f"status {c.status}, its numbers give {want}"]


def _late(c: Check) -> list[str]:
    d = c.details
    out = [f"{k} does not add up over the counties" for k, col in
           (("accepted", "accepted"), ("late", "late"), ("late_allowed", "late_allowed"),
            ("no_return_date", "no_return_date"))
           if d[k] != sum(r[col] for r in d["by_county"])]
    want = "fail" if d["late"] else "pass"
    return out + ([] if c.status == want else [f"status {c.status}, its numbers give {want}"])


def _overvote(c: Check) -> list[str]:
    d = c.details
    rows = d["by_precinct"]
    over = sum(1 for r in rows if (r["credited"] or 0) > r["registered"]
               or (r["ballots"] or 0) > r["registered"])
    out = []
    if d["precincts"] != len(rows):
        out.append("the number of precincts is not the table's")
    if d["precincts_over"] != over:
        out.append(f"{d['precincts_over']} precincts over, the table gives {over}")
    want = "fail" if over else "pass"
    return out + ([] if c.status == want else [f"status {c.status}, its numbers give {want}"])


def _ballots_match_cvrs(store: Store, c: Check, county: str | None) -> list[str]:
    cvrs = ballots_per_precinct(store, county)
    want = {(r["county"], r["precinct"]): r["ballots"] for r in cvrs.to_pylist()}
    got = {(r["county"], r["precinct"]): r["ballots"] for r in c.details["by_precinct"]
           if r["ballots"] is not None}
    differ = sorted(str(k[1]) for k in set(want) | set(got) if want.get(k) != got.get(k))
    return ([f"ballots counted differ from the bundled CVRs in {len(differ)} precinct(s) "
             f"({', '.join(differ[:3])})"] if differ else [])


PRIVACY_NOTE = (
    "These checks read the voter roll, the voter history, the mail-ballot file and death "
    "records. This report and its bundle carry counts, rates and the statistics behind them "
    "only, never a voter's name, date of birth or registration number; the detailed match "
    "list is written only where an official asks for it, to a separate file marked "
    "confidential. tallyproof verify re-checks that these counts add up and that each "
    "verdict follows from them, but cannot re-run the matching without the personal data.")

_PR_LABELS = {"deceased": "voters credited matched to death records",
              "double_vote": "registrations of one person credited twice"}


def _text(v: Any) -> str:
    return "—" if v is None else ("yes" if v else "no") if isinstance(v, bool) else str(v)


def report_view(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the report shows of the voter evidence besides its checks and claims: the
    privacy rule, the method notes, the rules applied, the matching's precision and recall
    against planted truth (synthetic data) and the input files' SHA-256."""
    if doc is None:
        return None
    pr = [{"kind": _PR_LABELS.get(k, k), "planted": v["planted"], "found": v["found"],
           "true_found": v["true_found"],
           "precision": "—" if v["precision"] is None else f"{v['precision']:.4f}",
           "recall": "—" if v["recall"] is None else f"{v['recall']:.4f}"}
          for k, v in sorted((doc.get("precision_recall") or {}).items())]
    rules = [f"{k.replace('_', ' ')}: {_text(v)}" for k, v in sorted(doc.get("rules", {}).items())]
    return {"privacy": PRIVACY_NOTE, "method_notes": doc.get("method_notes", ""),
            "rules": rules, "precision_recall": pr,
            "inputs": [{"kind": k, "name": v["name"], "sha256": v["sha256"]}
                       for k, v in sorted(doc.get("inputs", {}).items())],
            "ballots_from_cvrs": doc.get("ballots_source") == FROM_STORE}
