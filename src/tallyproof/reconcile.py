"""Ballot accounting: does every count of the same ballots agree?

Compares, per precinct and per batch, pollbook check-ins, ballots issued, mail received =
counted + rejected, the ballot manifest's counts, the CVRs in the store and the committed log's
leaf count; lists duplicate ballot ids, manifest batches with no CVRs and CVRs in no manifest
batch. Every difference is listed with its size and its place and none is absorbed: a report
with any difference fails. Counting is done by DuckDB over the store's Parquet files, so the
work is columnar and independent of the number of cards; only the (small) per-precinct and
per-batch summaries are handled in Python.

A CVR is one ballot *card*; pollbook check-ins count voters. The comparison assumes one card
per ballot (true of most US ballots); multi-card elections will show the extra cards as
differences, which is the honest answer until the card count per ballot style is an input.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import InputError, StoreError
from .evidence.checks import Check, status_of
from .fsutil import transaction
from .reconcile_inputs import PollbookRow, read_pollbooks
from .store import Store, sha256_file

RECONCILIATION_SCHEMA_VERSION = 1
RECONCILIATION_FILE = "reconciliation.json"
INPUTS_DIR = "inputs"
#: Most ballot ids / differences written out in full per check (the counts are always exact).
LIST_LIMIT = 1000


@dataclass(frozen=True)
class ReconcileReport:
    """Every reconciliation check, plus the per-precinct and per-batch tables behind them."""

    cards: int
    checks: list[Check]
    by_precinct: list[dict[str, Any]]
    by_batch: list[dict[str, Any]]
    inputs: dict[str, dict[str, str] | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": RECONCILIATION_SCHEMA_VERSION,
            "ok": self.ok,
            "cards": self.cards,
            "inputs": self.inputs,
            "checks": [c.to_json() for c in self.checks],
            "by_precinct": self.by_precinct,
            "by_batch": self.by_batch,
        }


# ---------------------------------------------------------------------------- public API
def reconcile_store(
    store: Store, pollbooks: Path | None = None, results: Path | None = None
) -> ReconcileReport:
    """Reconcile and write ``DIR/results/reconciliation.json``.

    The pollbook and official-results files are copied into ``DIR/results/inputs/`` (as
    ``pollbooks.<ext>`` and ``results.<ext>``) so the store, and a bundle made from it, holds
    everything needed to recompute this report. The copies are read from a staging folder
    first: bad input (exit 2) leaves the store's previous reconciliation and its inputs as
    they were; the copies and the report are then committed together in one transaction.
    """
    store.check_writable("the reconciliation")
    sources = {"pollbooks": pollbooks, "results": results}
    for src in sources.values():
        if src is not None and not Path(src).is_file():
            raise InputError("no such file", file=src)
    with tempfile.TemporaryDirectory(prefix="tallyproof-reconcile-") as tmp:
        staged: dict[str, Path | None] = {}
        for key, src in sources.items():
            if src is None:
                staged[key] = None
                continue
            dst = Path(tmp) / f"{key}{Path(src).suffix.lower() or '.dat'}"
            shutil.copyfile(src, dst)
            staged[key] = dst
        report = compute_reconciliation(store, staged["pollbooks"], staged["results"])
        inputs_dir = store.results_dir / INPUTS_DIR
        with transaction(store.root) as tx:
            for key, path in staged.items():
                if path is not None:
                    tx.write_bytes(inputs_dir / path.name, path.read_bytes())
            tx.write_json(store.results_dir / RECONCILIATION_FILE, report.to_json())
        keep = {p.name for p in staged.values() if p is not None}
        for stale in sorted(inputs_dir.glob("*")) if inputs_dir.is_dir() else []:
            if stale.name.split(".")[0] in sources and stale.name not in keep:
                stale.unlink()
    return report


def bundled_inputs(store: Store) -> tuple[Path | None, Path | None]:
    """The pollbook and results copies a previous :func:`reconcile_store` used, if any."""
    path = store.results_dir / RECONCILIATION_FILE
    if not path.exists():
        return None, None
    data = orjson.loads(path.read_bytes())
    found: list[Path | None] = []
    for key in ("pollbooks", "results"):
        entry = (data.get("inputs") or {}).get(key)
        if entry is None:
            found.append(None)
            continue
        p = store.results_dir / INPUTS_DIR / str(entry["file"])
        if Path(entry["file"]).name != entry["file"]:
            raise StoreError(f"{path}: input file name {entry['file']!r} is not a plain name")
        found.append(p)
    return found[0], found[1]


def compute_reconciliation(
    store: Store,
    pollbooks: Path | None = None,
    results: Path | None = None,
) -> ReconcileReport:
    """Run every check without writing anything (the verifier calls this on a bundle)."""
    return with_results(store_checks(store, pollbooks), store, results)


def store_checks(store: Store, pollbooks: Path | None = None) -> ReconcileReport:
    """Every check but the comparison with the certified results, which
    :func:`with_results` adds: the verifier has its other process make that comparison
    meanwhile (it counts every contest by precinct, the recount's work too)."""
    con = store.duckdb()
    try:
        cards = store.cvr_count()
        checks: list[Check] = []
        paired = ids_paired(store, cards)
        duplicates = _duplicates(con, cards, paired)
        checks.append(duplicates)
        manifest_check, by_batch = _manifest(con, store, cards)
        checks.append(manifest_check)
        pb_rows = read_pollbooks(pollbooks) if pollbooks is not None else None
        counts = _cards_by_precinct(con)  # one count for the pollbook and mail checks both
        pb_check, by_precinct = _pollbooks(counts, cards, pb_rows)
        checks.append(pb_check)
        checks.append(_mail(counts, pb_rows))
        checks.append(_log(store, cards, distinct=duplicates.details.get("duplicated_ids") == 0,
                           paired=paired))
    finally:
        con.close()
    return ReconcileReport(cards=cards, checks=checks, by_precinct=by_precinct,
                           by_batch=by_batch, inputs={"pollbooks": _input_entry(pollbooks)})


def official_results_check(store: Store, results: Path | None) -> Check:
    """The ``official_results`` check: the store's count against the certified ``results``
    (``not_run`` without them)."""
    if results is None:
        return Check("official_results", "not_run", "no certified results were given")
    from .evidence.results_check import check_official_results

    return check_official_results(store, results).to_check()


def with_results(report: ReconcileReport, store: Store, results: Path | None,
                 official: Check | None = None) -> ReconcileReport:
    """:func:`store_checks`' ``report`` completed with the ``official_results`` check, the
    given one (:func:`official_results_check` of the same store and ``results``, made
    elsewhere) or one made here."""
    check = official if official is not None else official_results_check(store, results)
    return replace(report, checks=[*report.checks, check],
                   inputs={**report.inputs, "results": _input_entry(results)})


# ---------------------------------------------------------------------------- checks
def _input_entry(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    return {"file": Path(path).name, "sha256": sha256_file(Path(path))}


def _has_cvrs(con: Any) -> bool:
    names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    return "cvrs" in names


def ids_paired(store: Store, cards: int) -> bool:
    """True when the ledger check of this command found the store's ``cards`` ballot ids and
    the log's card leaves paired one to one (left in :meth:`Store.derived_memo` by
    :func:`tallyproof.ledger.verify_store.verify_store`, keyed by the log segments' identity;
    the memo is the current table's): then no id is repeated and the committed and stored ids
    are the same sets, which is what :func:`_duplicates` and :func:`_log` would find by
    comparing every id again. False means only "not known this way"."""
    memo = store.derived_memo()
    if memo is None or cards <= 0:
        return False
    from .ledger.log import segments_identity
    from .ledger.verify_store import IDS_PAIRED

    return bool(memo.get((IDS_PAIRED, segments_identity(store.log_dir))) == cards)


def _duplicates(con: Any, cards: int, paired: bool = False) -> Check:
    """Ballot ids the CVR table holds more than once (``paired``: :func:`ids_paired`)."""
    if not _has_cvrs(con):
        return Check("reconciliation.duplicates", "pass", "the store holds no CVRs", {"cards": 0})
    rows = [] if paired else con.execute(
        "SELECT ballot_id, count(*) AS n FROM cvrs GROUP BY ballot_id HAVING n > 1 "
        "ORDER BY ballot_id"
    ).fetchall()
    extra = sum(n - 1 for _, n in rows)
    listed = [{"ballot_id": b, "copies": int(n)} for b, n in rows[:LIST_LIMIT]]
    summary = (
        f"all {cards:,} ballot ids are distinct"
        if not rows
        else f"{len(rows):,} ballot id(s) appear more than once ({extra:,} extra card(s))"
    )
    return Check(
        "reconciliation.duplicates",
        status_of(bool(rows)),
        summary,
        {"cards": cards, "duplicated_ids": len(rows), "extra_cards": extra, "duplicates": listed},
    )


def _manifest(con: Any, store: Store, cards: int) -> tuple[Check, list[dict[str, Any]]]:
    if store.manifest() is None:
        return Check("reconciliation.manifest", "not_run", "the store has no ballot manifest"), []
    cvr_side = (
        "SELECT tabulator, batch, count(*) AS cards FROM cvrs GROUP BY tabulator, batch"
        if _has_cvrs(con)
        else "SELECT NULL::VARCHAR AS tabulator, NULL::VARCHAR AS batch, 0::BIGINT AS cards "
        "WHERE false"
    )
    rows = con.execute(
        f"""
        WITH m AS (
            SELECT tabulator, batch, string_agg(DISTINCT container, ';' ORDER BY container)
                   AS container, sum(ballots)::BIGINT AS ballots
            FROM manifest GROUP BY tabulator, batch
        ), c AS ({cvr_side})
        SELECT coalesce(m.tabulator, c.tabulator) AS tabulator,
               coalesce(m.batch, c.batch) AS batch,
               m.container, m.ballots, coalesce(c.cards, 0) AS cards,
               m.batch IS NULL AND m.tabulator IS NULL AS not_in_manifest
        FROM m FULL OUTER JOIN c
          ON m.tabulator IS NOT DISTINCT FROM c.tabulator AND m.batch IS NOT DISTINCT FROM c.batch
        ORDER BY tabulator NULLS FIRST, batch NULLS FIRST
        """
    ).fetchall()
    by_batch: list[dict[str, Any]] = []
    differences: list[dict[str, Any]] = []
    manifest_total = 0
    for tab, batch, container, ballots, n_cards, not_in_manifest in rows:
        place = {"tabulator": tab, "batch": batch, "container": container}
        by_batch.append({**place, "manifest_ballots": ballots, "cvrs": int(n_cards)})
        if not_in_manifest:
            kind = "cvrs_in_no_manifest_batch"
            expected = 0
        else:
            manifest_total += int(ballots)
            expected = int(ballots)
            if n_cards == 0:
                kind = "manifest_batch_without_cvrs"
            elif n_cards != expected:
                kind = "batch_count_differs"
            else:
                continue
        differences.append(
            {"kind": kind, "place": place, "manifest": expected, "cvrs": int(n_cards),
             "difference": int(n_cards) - expected}
        )
    kinds: dict[str, int] = {}
    for d in differences:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    if differences:
        parts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(kinds.items()))
        summary = (
            f"{len(differences)} batch(es) differ ({parts}); manifest {manifest_total:,} "
            f"ballots, store {cards:,} CVRs"
        )
    else:
        summary = f"all {len(by_batch):,} manifest batches match: {cards:,} CVRs"
    return (
        Check(
            "reconciliation.manifest",
            status_of(bool(differences)),
            summary,
            {
                "manifest_ballots": manifest_total,
                "cvrs": cards,
                "batches": len(by_batch),
                "differences_by_kind": kinds,
                "differences": differences[:LIST_LIMIT],
                "differences_total": len(differences),
            },
        ),
        by_batch,
    )


def _cards_by_precinct(con: Any) -> dict[tuple[str | None, str | None], int]:
    if not _has_cvrs(con):
        return {}
    rows = con.execute(
        "SELECT precinct, vote_type, count(*) FROM cvrs GROUP BY ALL"
    ).fetchall()
    return {(p, v): int(n) for p, v, n in rows}


def _pollbooks(
    counts: dict[tuple[str | None, str | None], int], cards: int, rows: list[PollbookRow] | None
) -> tuple[Check, list[dict[str, Any]]]:
    """Pollbook check-ins against ``counts`` (:func:`_cards_by_precinct`)."""
    per_precinct: dict[str | None, int] = {}
    for (p, _), n in counts.items():
        per_precinct[p] = per_precinct.get(p, 0) + n
    if rows is None:
        table = [
            {"precinct": p, "cvrs": n, "checkins": None, "ballots_issued": None}
            for p, n in sorted(per_precinct.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))
        ]
        return Check("reconciliation.pollbooks", "not_run", "no pollbook counts were given"), table
    differences: list[dict[str, Any]] = []
    checkins: dict[str, int] = {}
    issued: dict[str, int | None] = {}
    for r in rows:
        checkins[r.precinct] = checkins.get(r.precinct, 0) + r.checkins
        if r.ballots_issued is not None:
            issued[r.precinct] = (issued.get(r.precinct) or 0) + r.ballots_issued
            if r.ballots_issued != r.checkins:
                differences.append(_diff("ballots_issued_differs_from_checkins", r, r.checkins,
                                         r.ballots_issued, "checkins", "ballots_issued"))
        if r.vote_type is not None:
            found = counts.get((r.precinct, r.vote_type), 0)
            if found != r.checkins:
                differences.append(_diff("cvrs_differ_from_checkins", r, r.checkins, found,
                                         "checkins", "cvrs"))
    typed = {r.precinct for r in rows if r.vote_type is not None}
    for r in rows:
        if r.vote_type is None:
            found = per_precinct.get(r.precinct, 0)
            if found != r.checkins:
                differences.append(_diff("cvrs_differ_from_checkins", r, r.checkins, found,
                                         "checkins", "cvrs"))
    for (p, v), n in sorted(counts.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        if p not in checkins:
            continue
        if p in typed and not any(r.precinct == p and r.vote_type == v for r in rows):
            differences.append({"kind": "cvrs_of_a_vote_type_with_no_checkins",
                                "place": {"precinct": p, "vote_type": v},
                                "checkins": 0, "cvrs": n, "difference": n})
    for p, n in sorted(per_precinct.items(), key=lambda kv: str(kv[0])):
        if p not in checkins:
            differences.append({"kind": "cvrs_in_precinct_with_no_pollbook",
                                "place": {"precinct": p}, "checkins": 0, "cvrs": n,
                                "difference": n})
    precincts = sorted(set(checkins) | {p for p in per_precinct if p is not None}) + (
        [None] if None in per_precinct else []
    )
    table = [
        {"precinct": p, "cvrs": per_precinct.get(p, 0),
         "checkins": checkins.get(p) if p is not None else None,
         "ballots_issued": issued.get(p) if p is not None else None}
        for p in precincts
    ]
    total_checkins = sum(checkins.values())
    summary = (
        f"{len(differences)} difference(s) between pollbooks and CVRs; check-ins "
        f"{total_checkins:,}, CVRs {cards:,}"
        if differences
        else f"check-ins match CVRs in all {len(checkins):,} precincts ({total_checkins:,})"
    )
    return (
        Check(
            "reconciliation.pollbooks",
            status_of(bool(differences)),
            summary,
            {"checkins": total_checkins, "cvrs": cards, "precincts": len(checkins),
             "differences": differences[:LIST_LIMIT], "differences_total": len(differences)},
        ),
        table,
    )


def _diff(kind: str, r: PollbookRow, expected: int, found: int, a: str, b: str) -> dict[str, Any]:
    place: dict[str, Any] = {"precinct": r.precinct, "pollbook_line": r.line}
    if r.vote_type is not None:
        place["vote_type"] = r.vote_type
    return {"kind": kind, "place": place, a: expected, b: found, "difference": found - expected}


def _mail(counts: dict[tuple[str | None, str | None], int],
          rows: list[PollbookRow] | None) -> Check:
    """Mail ballots received, counted and rejected, and the mail CVRs of ``counts``
    (:func:`_cards_by_precinct`)."""
    if rows is None or not any(
        r.mail_received is not None or r.mail_counted is not None for r in rows
    ):
        return Check("reconciliation.mail", "not_run", "no mail ballot counts were given")
    differences: list[dict[str, Any]] = []
    received = counted = rejected = 0
    for r in rows:
        received += r.mail_received or 0
        counted += r.mail_counted or 0
        rejected += r.mail_rejected or 0
        place = {"precinct": r.precinct, "pollbook_line": r.line}
        if (
            r.mail_received is not None
            and r.mail_counted is not None
            and r.mail_rejected is not None
        ):
            total = r.mail_counted + r.mail_rejected
            if total != r.mail_received:
                differences.append({"kind": "mail_received_not_counted_plus_rejected",
                                    "place": place, "received": r.mail_received,
                                    "counted_plus_rejected": total,
                                    "difference": total - r.mail_received})
        if r.mail_counted is not None and r.vote_type in (None, "mail"):
            found = counts.get((r.precinct, "mail"), 0)
            if found != r.mail_counted:
                differences.append({"kind": "mail_cvrs_differ_from_mail_counted",
                                    "place": place, "mail_counted": r.mail_counted,
                                    "cvrs": found, "difference": found - r.mail_counted})
    summary = (
        f"{len(differences)} mail ballot difference(s)"
        if differences
        else f"mail ballots add up: received {received:,} = counted {counted:,} + rejected "
        f"{rejected:,}"
    )
    return Check(
        "reconciliation.mail",
        status_of(bool(differences)),
        summary,
        {"received": received, "counted": counted, "rejected": rejected,
         "differences": differences[:LIST_LIMIT], "differences_total": len(differences)},
    )


def log_exists(store: Store) -> bool:
    return store.log_dir.is_dir() and any(store.log_dir.iterdir())


def _sorted_ids(ids: pa.Array) -> list[str]:
    """Ids in byte order (the order SQL's ORDER BY gave them), as Python strings."""
    return ids.take(pc.sort_indices(ids)).to_pylist()


def _log(store: Store, cards: int, distinct: bool = False, paired: bool = False) -> Check:
    """Ballot ids committed to the log (latest CVR/supersede leaf per id) against the store's:
    ids committed but gone from the store were deleted or lost after the commitment, ids in
    the store but never committed were added after it. Column operations over the log's id
    column and the (shared, :meth:`Store.reading_cvrs_once`) CVR table's.

    ``distinct``: the store's ids are known to be distinct (the duplicates check found none),
    which lets :func:`_same_ids` settle the common case without hashing every id;
    ``paired``: :func:`ids_paired` settled it already."""
    if not log_exists(store):
        return Check("reconciliation.log", "not_run", "the CVRs have not been committed")
    if paired:
        return _log_check(cards, cards, [], [])
    from .ledger import canonical as cn
    from .ledger.log import SEGMENTS

    segments = sorted((store.log_dir / SEGMENTS).glob("[0-9]*.parquet"))
    if not segments:
        raise StoreError(f"{store.log_dir}: the log has no segments")
    hinted = all("table_row" in pq.read_schema(p).names for p in segments)
    columns = ["ballot_id", "leaf_type", *(["table_row"] if hinted else [])]
    leaves = pa.concat_tables([pq.read_table(p, columns=columns) for p in segments])
    card_leaf = pc.is_in(leaves.column("leaf_type"),
                         value_set=pa.array([int(cn.CVR), int(cn.SUPERSEDE)], pa.uint8()))
    card_leaves = leaves.filter(card_leaf)
    stored = (store.cvrs(columns=["ballot_id"]).column("ballot_id").combine_chunks()
              .cast(pa.string()) if store.has_cvrs() else pa.array([], pa.string()))
    if distinct and hinted and _same_ids(card_leaves, stored):  # no set differs
        n_committed, gone_ids, new_ids = len(stored), [], []
    else:
        committed = pc.unique(card_leaves.column("ballot_id").combine_chunks()
                              .cast(pa.string()))
        n_committed = len(committed)
        gone_ids, new_ids = _id_differences(committed, stored)
    return _log_check(cards, n_committed, gone_ids, new_ids)


def _log_check(cards: int, n_committed: int, gone_ids: list[str], new_ids: list[str]) -> Check:
    """The ``reconciliation.log`` check from the committed and stored ids' differences."""
    diff = cards - n_committed
    failed = bool(gone_ids or new_ids or diff)
    summary = f"the log commits {n_committed:,} ballot ids and the store holds {cards:,} CVRs"
    if gone_ids:
        summary += f"; {len(gone_ids):,} committed id(s) are missing from the store"
    if new_ids:
        summary += f"; {len(new_ids):,} stored id(s) were never committed"
    differences = [{"kind": "committed_cvr_missing", "place": {"ballot_id": b}, "log": 1,
                    "cvrs": 0, "difference": -1} for b in gone_ids[:LIST_LIMIT]]
    differences += [{"kind": "cvr_never_committed", "place": {"ballot_id": b}, "log": 0,
                     "cvrs": 1, "difference": 1} for b in new_ids[:LIST_LIMIT]]
    return Check(
        "reconciliation.log",
        status_of(failed),
        summary,
        {"log_ballot_ids": n_committed, "cvrs": cards, "missing_from_store": len(gone_ids),
         "never_committed": len(new_ids), "differences": differences,
         "differences_total": len(gone_ids) + len(new_ids)},
    )


def _id_differences(committed: pa.Array, stored: pa.Array) -> tuple[list[str], list[str]]:
    """(committed ids missing from ``stored``, stored ids never committed), each sorted;
    ``committed`` holds distinct ids."""
    if committed.equals(stored):  # the same distinct ids in the same order: no set differs
        return [], []
    gone = _sorted_ids(committed.filter(pc.invert(pc.is_in(committed, value_set=stored))))
    new = _sorted_ids(pc.unique(stored.filter(pc.invert(pc.is_in(stored, value_set=committed)))))
    return gone, new


def _same_ids(card_leaves: pa.Table, stored: pa.Array) -> bool:
    """True when the log's card leaves (no corrections among them) are one leaf per stored
    id: their ``table_row`` columns are a permutation of the stored rows and each leaf's id is
    the id at its row. Then the committed ids are exactly the stored ones, which costs one
    string comparison per id instead of hashing both sides. False only means "not shown this
    way"; the caller then compares the id sets by hashing."""
    n = len(stored)
    if card_leaves.num_rows != n or n == 0:
        return False
    from .ledger import canonical as cn
    from .ledger.log import in_order

    types = card_leaves.column("leaf_type")
    rows_col = card_leaves.column("table_row")
    if rows_col.null_count or pc.any(pc.not_equal(types, int(cn.CVR))).as_py():
        return False
    rows = rows_col.combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64)
    ids = card_leaves.column("ballot_id").combine_chunks().cast(pa.string())
    if in_order(rows, n):  # leaf i is row i (the usual case): no gather
        return ids.null_count == 0 and ids.equals(stored)
    if rows.min() < 0 or rows.max() >= n or np.bincount(rows, minlength=n).max() != 1:
        return False
    same = pc.equal(stored.take(pa.array(rows)), ids)
    return same.null_count == 0 and bool(pc.all(same).as_py())
