"""Dominion export files read straight into arrays: a compiled scanner instead of msgspec
structs for large exports.

Why: decoding a file into typed structs and flattening them level by level costs about as much
again as decoding alone (a million cards make some 20 million mark objects, each built, read
once through ``attrgetter`` and freed). :mod:`.dominion_scan_kernels` reads the bytes once and
writes the fields the reader uses into flat arrays, so no per-mark object is built at all.

Same rows, same errors: the scanner handles a strict subset of JSON (see its module). A file
outside it — a ``\\u`` escape, an integer beyond 18 digits, a missing field, anything malformed
— is *given up* and decoded by msgspec as before, which either reads it the same way or names
the fault. Where the scanner does read a file, the reader's rules (:mod:`.dominion_rows`) are
applied to its arrays by the same code as to msgspec's, and any error they find is reported
from those arrays with the same message and JSON path.

When: for exports of at least :data:`MIN_EXPORT_BYTES` (the per-process start — importing
numba and loading the compiled scanner from its cache, ~0.9 s measured; compiling it the first
time on a machine, 30-40 s — is then repaid many times over: the scanner saves ~5 CPU seconds
per million cards). ``TALLYPROOF_DOMINION_SCAN=off`` keeps
every file on msgspec: what the tests compare the scanner against.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..compiled import CompiledLoops

#: Exports (all their ``CvrExport*.json`` together) at least this large are scanned.
MIN_EXPORT_BYTES = 32 << 20
#: ``TALLYPROOF_DOMINION_SCAN``: ``off`` to decode every file with msgspec.
ENV = "TALLYPROOF_DOMINION_SCAN"

# The fewest bytes each object can be written in (with the comma after it), which bounds how
# many of them a file of n bytes holds; the arrays are sized from these before the pass.
_SESSION_BYTES = len(b'{"TabulatorId":0,"BatchId":0,"RecordId":0,"Original":{"IsCurrent":true,'
                     b'"Cards":[]}},')
_CARD_BYTES = len(b'{"Contests":[]},')
_CONTEST_BYTES = len(b'{"Id":0,"Marks":[]},')
_MARK_BYTES = len(b'{"CandidateId":0,"Rank":0,"IsAmbiguous":true},')

_LOOPS = CompiledLoops(f"{__package__}.dominion_scan_kernels", lambda k: _warm_up(k))


def wanted(export_bytes: int) -> bool:
    """Whether an export of this many bytes of CVR JSON is to be scanned: large enough, not
    turned off, and the scanner can be loaded here."""
    if os.environ.get(ENV, "").strip().lower() == "off" or export_bytes < MIN_EXPORT_BYTES:
        return False
    return _LOOPS.get() is not None


def unavailable_reason() -> str | None:
    """Why the scanner cannot be used in this process (``None`` if it can or was not tried):
    then msgspec decodes every file."""
    return _LOOPS.unavailable


#: A file every reader must read as one session with one card, one contest and one mark.
_WARM_UP = (b'{"Sessions":[{"TabulatorId":1,"BatchId":2,"RecordId":3,"Original":{"IsCurrent":'
            b'true,"Cards":[{"Contests":[{"Id":4,"Marks":[{"CandidateId":5,"Rank":1,'
            b'"IsAmbiguous":false}]}]}]}}]}')


def _warm_up(kernels: ModuleType) -> None:
    """Load (or, the first time on a machine, compile) the scanner now, in the process that
    starts the decoding workers, so that forked workers find it loaded rather than each
    loading it; and check it reads a known file as it should."""
    got = _scan_with(kernels, _WARM_UP, 7)
    if got is None or got.keys.tolist() != [[1, 2, 3]] or got.candidate.tolist() != [5]:
        raise RuntimeError("the compiled Dominion scanner misread its warm-up file")


@dataclass(frozen=True)
class Scanned:
    """One file as the scanner read it: every session, and the cards, contests and marks of
    each session's *current* version (Original, or Modified where Original is not current),
    in document order.

    Versions are chosen here only where the choice is sound: a session whose Original is not
    current and whose Modified is missing or not current keeps its Original's cards, and the
    reader reports it from ``original_current`` / ``modified_present`` / ``modified_current``
    before any card is used."""

    keys: np.ndarray  # (sessions, 3) int64: TabulatorId, BatchId, RecordId
    group: np.ndarray  # int64 CountingGroupId, where given
    group_given: np.ndarray  # bool
    original_current: np.ndarray  # bool
    modified_present: np.ndarray  # bool
    modified_current: np.ndarray  # bool
    precinct: np.ndarray  # int64 PrecinctPortionId of the current version, where given
    precinct_given: np.ndarray
    style: np.ndarray  # int64 BallotTypeId, likewise
    style_given: np.ndarray
    n_cards: np.ndarray  # int64 per session: cards of its current version
    n_contests: np.ndarray  # int64 per card
    contest_id: np.ndarray  # int64 per contest
    flagged: np.ndarray  # bool per contest: some outstack condition listed
    partly_read: np.ndarray  # bool per contest: the "InvalidContest" condition listed
    n_marks: np.ndarray  # int64 per contest
    candidate: np.ndarray  # int64 per mark
    rank: np.ndarray  # int64 per mark
    ambiguous: np.ndarray  # bool per mark


def scan(data: bytes, invalid_condition: int) -> Scanned | None:
    """The file's bytes read into arrays, or ``None`` when the scanner gives the file up
    (outside the JSON it handles: decode it with msgspec) or is not available."""
    kernels = _LOOPS.get()
    return None if kernels is None else _scan_with(kernels, data, invalid_condition)


def _scan_with(kernels: ModuleType, data: bytes, invalid_condition: int) -> Scanned | None:
    b = np.frombuffer(data, dtype=np.uint8)
    n = len(b)
    cap_s, cap_c = n // _SESSION_BYTES + 1, n // _CARD_BYTES + 1
    cap_k, cap_m = n // _CONTEST_BYTES + 1, n // _MARK_BYTES + 1
    s_keys = np.empty((cap_s, 3), dtype=np.int64)
    s_group = np.empty((cap_s, 2), dtype=np.int64)  # value, given
    # per session and version (0 Original, 1 Modified): present, current, precinct, style,
    # precinct given, style given; and the version's cards [first, end)
    v_facts = np.empty((cap_s, 2, 6), dtype=np.int64)
    v_cards = np.empty((cap_s, 2, 2), dtype=np.int64)
    c_contests_end = np.empty(cap_c, dtype=np.int64)
    k_id, k_marks_end = np.empty(cap_k, dtype=np.int64), np.empty(cap_k, dtype=np.int64)
    k_flagged, k_partly = np.empty(cap_k, dtype=np.bool_), np.empty(cap_k, dtype=np.bool_)
    m_cand, m_rank = np.empty(cap_m, dtype=np.int64), np.empty(cap_m, dtype=np.int64)
    m_ambiguous = np.empty(cap_m, dtype=np.bool_)
    stack = np.empty(kernels.MAX_DEPTH, dtype=np.uint8)
    status, ns, nc, nk, nm = kernels.scan(
        b, invalid_condition, stack, s_keys, s_group, v_facts, v_cards, c_contests_end, k_id,
        k_flagged, k_partly, k_marks_end, m_cand, m_rank, m_ambiguous)
    if status != kernels.READ:
        return None
    facts, cards = v_facts[:ns], v_cards[:ns]
    original_current = facts[:, 0, 1] == 1
    modified_present, modified_current = facts[:, 1, 0] == 1, facts[:, 1, 1] == 1
    version = (~original_current & modified_present & modified_current).astype(np.int64)
    rows = np.arange(ns)
    chosen = facts[rows, version]
    first, end = cards[rows, version, 0], cards[rows, version, 1]
    contests_end = c_contests_end[:nc]
    contests_start = np.concatenate(([0], contests_end[:-1])) if nc else contests_end
    marks_end = k_marks_end[:nk]
    marks_start = np.concatenate(([0], marks_end[:-1])) if nk else marks_end
    card_idx = _in_order(first, end, nc)
    contest_idx = _in_order(contests_start[card_idx], contests_end[card_idx], nk)
    mark_idx = _in_order(marks_start[contest_idx], marks_end[contest_idx], nm)
    return Scanned(
        keys=s_keys[:ns], group=s_group[:ns, 0], group_given=s_group[:ns, 1] == 1,
        original_current=original_current, modified_present=modified_present,
        modified_current=modified_current,
        precinct=chosen[:, 2], precinct_given=chosen[:, 4] == 1,
        style=chosen[:, 3], style_given=chosen[:, 5] == 1,
        n_cards=end - first,
        n_contests=(contests_end - contests_start)[card_idx],
        contest_id=k_id[:nk][contest_idx], flagged=k_flagged[:nk][contest_idx],
        partly_read=k_partly[:nk][contest_idx],
        n_marks=(marks_end - marks_start)[contest_idx],
        candidate=m_cand[:nm][mark_idx], rank=m_rank[:nm][mark_idx],
        ambiguous=m_ambiguous[:nm][mark_idx],
    )  # fmt: skip


def _in_order(starts: np.ndarray, ends: np.ndarray, total: int) -> np.ndarray | slice:
    """:func:`ranges`, as a plain slice when they are every position from 0 to ``total`` in
    order (no version left out: the usual file)."""
    if not len(starts):
        return slice(0, 0)
    if starts[0] == 0 and ends[-1] == total and np.array_equal(starts[1:], ends[:-1]):
        return slice(0, total)
    return ranges(starts, ends)


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The positions ``starts[i]:ends[i]``, one range after another."""
    lengths = ends - starts
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def take(
    s: Scanned, sessions: np.ndarray, cards: np.ndarray, contests: np.ndarray, marks: np.ndarray
) -> Scanned:
    """Some sessions of a scanned file, with their cards, contests and marks (the positions
    of each at its own level)."""
    return Scanned(
        keys=s.keys[sessions], group=s.group[sessions], group_given=s.group_given[sessions],
        original_current=s.original_current[sessions],
        modified_present=s.modified_present[sessions],
        modified_current=s.modified_current[sessions],
        precinct=s.precinct[sessions], precinct_given=s.precinct_given[sessions],
        style=s.style[sessions], style_given=s.style_given[sessions],
        n_cards=s.n_cards[sessions], n_contests=s.n_contests[cards],
        contest_id=s.contest_id[contests], flagged=s.flagged[contests],
        partly_read=s.partly_read[contests], n_marks=s.n_marks[contests],
        candidate=s.candidate[marks], rank=s.rank[marks], ambiguous=s.ambiguous[marks],
    )  # fmt: skip
