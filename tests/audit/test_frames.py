"""Column-wise sample frames (audit/frames.py) give exactly what the per-ballot Python code they
replaced gave: same frames, same draws, and byte-identical audit.json, round JSON, retrieval
list and worksheets. The reference implementation below is a verbatim copy of that code."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tallyproof.audit import workflow as wf
from tallyproof.audit.assorters import contest_votes
from tallyproof.audit.batch import BatchFrame, batch_frame, batch_key
from tallyproof.audit.frames import (
    Cards,
    batch_keys,
    contest_batch_frame,
    frame_ids,
    frame_size,
    load_cards,
    no_cvr_slots,
)
from tallyproof.audit.sampler import sample
from tallyproof.store import Store

from .workflow_helpers import build_store

SEED = "31415926535897932384"


# ---------------------------------------------------------------- the reference (old code)
def ref_contest_rows(cards: Cards, contest) -> np.ndarray:
    present = pa.compute.is_valid(cards.table.column(contest.column))
    return np.flatnonzero(np.asarray(present.to_numpy(zero_copy_only=False), dtype=bool))


def ref_manifest_slots(store: Store) -> list[tuple[str, str, str, int]] | None:
    m = store.manifest()
    if m is None:
        return None
    out = []
    for row in m.to_pylist():
        for pos in range(1, int(row["ballots"]) + 1):
            out.append((row["container"] or "", row["tabulator"] or "", row["batch"] or "", pos))
    return out


def ref_batch_keys(cards: Cards) -> np.ndarray:
    return np.array([batch_key(t, b) for t, b in zip(cards.table.column("tabulator").to_pylist(),
                                                      cards.table.column("batch").to_pylist(),
                                                      strict=True)], dtype=object)


def ref_contest_batch_frame(cards: Cards, contest) -> BatchFrame:
    keys = ref_batch_keys(cards)
    with_contest = set(keys[ref_contest_rows(cards, contest)].tolist())
    rows = np.flatnonzero(np.fromiter((k in with_contest for k in keys), dtype=bool,
                                      count=len(keys)))
    votes = contest_votes(contest, cards.table.column(contest.column).take(pa.array(rows)))
    t = cards.table.take(pa.array(rows))
    return batch_frame(votes, t.column("tabulator").to_pylist(), t.column("batch").to_pylist())


def ref_no_cvr_slots(store: Store, cards: Cards) -> list[str]:
    slots = ref_manifest_slots(store) or []
    with_cvrs = set(zip(cards.table.column("tabulator").to_pylist(),
                        cards.table.column("batch").to_pylist(), strict=True))
    return [f"{t}/{b}/{p}" for _, t, b, p in slots
            if (t, b) not in with_cvrs and (t or None, b or None) not in with_cvrs]


def ref_frame_ids(store: Store, params_kind: str, cards: Cards, contest) -> list[str]:
    if params_kind == "batch":
        return list(ref_contest_batch_frame(cards, contest).keys)
    if params_kind == "stratified":
        return [str(cards.ids[i]) for i in ref_contest_rows(cards, contest)] + \
            ref_no_cvr_slots(store, cards)
    if params_kind == "polling":
        slots = ref_manifest_slots(store)
        if slots is not None:
            return [f"{t}/{b}/{p}" for _, t, b, p in slots]
    return [str(cards.ids[i]) for i in ref_contest_rows(cards, contest)]


def ref_draw_all(store, params, cards, contests, targets):
    frames = {c.id: ref_frame_ids(store, params.kind, cards, c) for c in contests}
    union = list(dict.fromkeys(i for f in frames.values() for i in f))
    needed = {cid: n for cid, n in targets.items() if n > 0}
    order = sample(union, params.seed, len(union)) if needed else []
    draws: dict[str, list[dict[str, str]]] = {c.id: [] for c in contests}
    for cid, n in needed.items():
        members = set(frames[cid])
        out = draws[cid]
        for d in order:
            if d.id in members:
                out.append({"id": d.id, "ticket": d.ticket})
                if len(out) == n:
                    break
    return draws


# ---------------------------------------------------------------- stores of every kind
KINDS = {  # kind -> (build options, contests audited, drop the manifest)
    "comparison": ({}, None, False),
    "polling": ({}, None, False),
    "polling-no-manifest": ({}, None, True),
    "batch": ({}, ["mayor", "council"], False),
    "stratified": ({"no_cvr_batches": 3}, ["mayor", "council"], False),
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, (opts, _, drop) in KINDS.items():
        s = build_store(tmp_path_factory.mktemp(name) / "store", **opts)
        if drop:
            s.manifest_path.unlink()
        out[name] = s.root
    return out


def _copy(stores: dict[str, Path], name: str, to: Path) -> Store:
    shutil.copytree(stores[name], to)
    return Store.open(to)


def _start(s: Store, name: str) -> wf.AuditParams:
    kind = name.split("-")[0]
    return wf.start_audit(s, risk_limit=0.1, seed=SEED, kind=kind, contests=KINDS[name][1],
                          now="2026-11-10T16:00:00Z")


@pytest.mark.parametrize("name", list(KINDS))
def test_frames_and_draws_equal_the_per_ballot_reference(stores, tmp_path: Path,
                                                         name: str) -> None:
    s = _copy(stores, name, tmp_path / "s")
    params = _start(s, name)
    contests = [s.election.contest(c) for c in params.contests]
    cards = load_cards(s, contests)
    assert batch_keys(cards).tolist() == ref_batch_keys(cards).tolist()
    assert no_cvr_slots(s, cards) == ref_no_cvr_slots(s, cards)
    sizes = []
    for c in contests:
        want = ref_frame_ids(s, params.kind, cards, c)
        assert frame_ids(s, params.kind, cards, c) == want
        assert frame_size(s, params.kind, cards, c) == len(want) == params.frame_sizes[c.id]
        sizes.append(len(want))
        got_b, want_b = contest_batch_frame(cards, c), ref_contest_batch_frame(cards, c)
        assert got_b.keys == want_b.keys
        assert np.array_equal(got_b.cards, want_b.cards)
        assert np.array_equal(got_b.tallies, want_b.tallies)
    for k in (1, 7, 40, max(sizes)):
        targets = {c.id: min(k, n) for c, n in zip(contests, sizes, strict=True)}
        targets[contests[0].id] = 0 if k == 7 else targets[contests[0].id]
        got = wf._draw_all(s, params, cards, contests, targets)
        assert got == ref_draw_all(s, params, cards, contests, targets)
        assert sum(len(v) for v in got.values()) == sum(targets.values())


@pytest.mark.parametrize("name", list(KINDS))
def test_round_files_are_byte_identical_to_the_reference(stores, tmp_path: Path, name: str,
                                                         monkeypatch) -> None:
    new = _copy(stores, name, tmp_path / "new")
    _start(new, name)
    wf.next_round(new, boards=2)
    with monkeypatch.context() as m:
        m.setattr(wf, "_draw_all", ref_draw_all)
        m.setattr(wf, "frame_size", lambda *a: len(ref_frame_ids(*a)))
        old = _copy(stores, name, tmp_path / "old")
        _start(old, name)
        wf.next_round(old, boards=2)
    files = sorted(p.relative_to(old.audit_dir) for p in old.audit_dir.rglob("*") if p.is_file())
    assert any(p.name == "round-1-retrieval.csv" for p in files)
    assert files == sorted(p.relative_to(new.audit_dir) for p in new.audit_dir.rglob("*")
                           if p.is_file())
    for p in files:
        assert (new.audit_dir / p).read_bytes() == (old.audit_dir / p).read_bytes(), p


def test_rows_of_unknown_ballot_is_a_key_error(stores, tmp_path: Path) -> None:
    s = _copy(stores, "comparison", tmp_path / "s")
    cards = load_cards(s, list(s.election.contests))
    assert cards.rows(["T1-B1-2", "T2-B3-1"]).tolist() == [cards.index["T1-B1-2"],
                                                          cards.index["T2-B3-1"]]
    with pytest.raises(KeyError, match="NOPE"):
        cards.rows(["T1-B1-2", "NOPE"])
