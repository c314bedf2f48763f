"""The column-wise round path of the ranked-choice engine (:mod:`.rcv`).

Why apart from the engine: it is a second implementation of one round's per-ballot decisions,
written in numpy over a dense (distinct rankings × rank positions) matrix, used only for the
common single-seat case; the engine in :mod:`.rcv` stays the reference and chooses this path
when it applies. Both must make the same decisions, which the IRV tests and the RCTab
conformance cases check on both paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UsageError
from ..model import OVERVOTE_UNKNOWN
from .rcv import EXHAUSTED, EXHAUSTED_CHOICES, NO_RANKINGS, OVERVOTES, REPEATED, SKIPPED
from .rules import UNLIMITED, OvervoteRule

if TYPE_CHECKING:
    from .rcv import _Engine


class ColumnwiseRounds:
    """Column-wise round processing for the common case — one seat, every distinct ranking with
    at most one mark per rank, no slices — so a million-ballot IRV costs a few numpy passes per
    round. It makes exactly the per-ballot decisions of :meth:`_Engine.process`: at each rank,
    in order, a skipped-rank gap, a repeated candidate, an unnamed overvote, or a continuing
    candidate ends the walk (integer arithmetic throughout; totals become ``Decimal`` per round).
    """

    def __init__(self, eng: _Engine, dense: np.ndarray) -> None:
        self.eng = eng
        self.d = dense  # (groups, positions): code + 1, 0 = no mark
        self.w = np.asarray(eng.b.weights, dtype=np.int64)
        self.rec = np.full(len(dense), -1, dtype=np.int64)
        marked = dense > 0
        width = dense.shape[1]
        rules = eng.rules
        pos1 = np.arange(1, width + 1, dtype=np.int64)[None, :]
        # a gap needs an unmarked position followed by a marked one somewhere
        holes = width > 1 and bool((marked[:, 1:] & ~marked[:, :-1]).any())
        if rules.max_skipped_ranks_allowed != UNLIMITED and holes:
            at = np.where(marked, pos1, 0)
            prev = np.maximum.accumulate(at, axis=1)
            prev = np.concatenate([np.zeros((len(dense), 1), np.int64), prev[:, :-1]], axis=1)
            self.gap = marked & (pos1 - prev > rules.max_skipped_ranks_allowed + 1)
        else:
            self.gap = np.zeros(dense.shape, bool)
        self.dup = np.zeros(dense.shape, bool)
        if rules.exhaust_on_duplicate_candidate:
            for p in range(width):
                for q in range(p):
                    self.dup[:, p] |= marked[:, p] & (dense[:, p] == dense[:, q])
        explicit = dense == OVERVOTE_UNKNOWN + 1
        # an unnamed overvote cannot be judged under exhaustIfMultipleContinuing: an error, but
        # only for a ballot whose walk reaches it (as in the per-group walk)
        self.unnamed = explicit if explicit.any() and \
            rules.overvote_rule == OvervoteRule.EXHAUST_IF_MULTIPLE_CONTINUING else \
            np.zeros(dense.shape, bool)
        self.over = explicit if rules.overvote_rule == OvervoteRule.EXHAUST_IMMEDIATELY else \
            np.zeros(dense.shape, bool)
        self.lut_index = np.where(explicit, 0, dense)
        self.any_mark = marked.any(axis=1)
        # rank events that do not depend on the round; most elections have none at all
        static = self.gap | self.dup | self.over | self.unnamed
        self.static: np.ndarray | None = static if static.any() else None

    @staticmethod
    def build(eng: _Engine) -> ColumnwiseRounds | None:
        if eng.b.dense is not None:
            return ColumnwiseRounds(eng, eng.b.dense)
        items = eng.b.items
        if not items or not all(isinstance(x, list) for x in items):
            return None
        width = max(len(x) for x in items)  # type: ignore[arg-type]
        dense = np.zeros((len(items), width), dtype=np.int64)
        for i, row in enumerate(items):
            if row:
                dense[i, : len(row)] = row  # type: ignore[arg-type]
        return ColumnwiseRounds(eng, dense)

    def leaving(self, gone: list[int]) -> np.ndarray:
        """Rows whose current candidate is in ``gone`` (ascending)."""
        if not gone:
            return np.zeros(0, dtype=np.intp)
        is_gone = np.zeros(self.eng.k + 1, dtype=bool)  # the last slot: rec -1, not counting
        is_gone[gone] = True
        return np.flatnonzero(is_gone[self.rec])

    def process(self, idx: Sequence[int] | np.ndarray, tally: dict[int, Decimal],
                inactive: dict[str, Decimal], transfers: dict[int, dict[str, Decimal]]) -> None:
        if len(idx) == 0:
            return
        eng = self.eng
        k = eng.k
        ix = np.asarray(idx, dtype=np.intp)
        # ascending distinct indices as many as the rows are all rows in order (the first
        # round): plain slices then, not gathered copies
        sel: slice | np.ndarray = slice(None) if len(ix) == len(self.rec) else ix
        lut = np.zeros(k + 1, dtype=bool)
        lut[1:] = eng.cont
        cont = lut[self.lut_index[sel]] if self.d.shape[1] else np.zeros((len(ix), 0), bool)
        events = cont if self.static is None else cont | self.static[sel]
        first = events.argmax(axis=1) if events.shape[1] else np.zeros(len(ix), np.int64)
        # the first event's cell is True exactly when the row has an event (argmax gives 0 for
        # a row without one); one gather instead of a row-wise ``any``
        has = np.take_along_axis(events, first[:, None], axis=1)[:, 0] if events.shape[1] \
            else np.zeros(len(ix), bool)
        # outcome code: 0..k-1 a candidate; k+j the j-th inactive kind
        kinds = [SKIPPED, REPEATED, OVERVOTES, EXHAUSTED_CHOICES, NO_RANKINGS]
        out = np.where(self.any_mark[sel], k + 3, k + 4)
        if events.shape[1]:
            decided = self.d[ix, first] - 1
            if self.static is not None:
                f_gap, f_dup = self.gap[ix, first], self.dup[ix, first]
                # the walk checks the skip limit, then duplicates, then the overvote
                if (self.unnamed[ix, first] & has & ~f_gap & ~f_dup).any():
                    raise UsageError("overvote rule exhaustIfMultipleContinuing needs the "
                                     "overvoted candidates, but this export only says 'overvote'")
                f_over = self.over[ix, first]
                decided = np.where(f_gap, k, np.where(f_dup, k + 1,
                                                      np.where(f_over, k + 2, decided)))
            out = np.where(has, decided, out)
        w = self.w[sel]
        counts = np.zeros(k + len(kinds), dtype=np.int64)
        np.add.at(counts, out, w)
        for c in range(k):
            if counts[c]:
                tally[c] = tally[c] + Decimal(int(counts[c]))
        for j, kind in enumerate(kinds):
            n = int(counts[k + j])
            if n:
                inactive[kind] = inactive.get(kind, Decimal(0)) + Decimal(n)
        src = self.rec[sel]
        moved = src >= 0
        if moved.any():
            dst = np.where(out < k, out, k)  # every inactive outcome is "exhausted"
            pair = np.zeros(k * (k + 1), dtype=np.int64)
            np.add.at(pair, src[moved] * (k + 1) + dst[moved], w[moved])
            for flat in np.flatnonzero(pair).tolist():
                s_, d_ = divmod(flat, k + 1)
                target = eng.names[d_] if d_ < k else EXHAUSTED
                dd = transfers.setdefault(s_, {})
                dd[target] = dd.get(target, Decimal(0)) + Decimal(int(pair[flat]))
        self.rec[sel] = np.where(out < k, out, -1)
