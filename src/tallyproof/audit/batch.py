"""Batch-level comparison audits: reported batch tallies against hand counts of whole batches.

SHANGRLA (Stark 2020) §3.3 extends the comparison assorter from cards to batches. For an
assertion with assorter A ∈ [0, u] over N cards in B batches, let S_b^c be the sum of A over
batch b's cards as reported and S_b as hand counted. With batches drawn uniformly (without
replacement) define the batch overstatement

    ω_b = (B/N) · (S_b^c − S_b),        τ = u · B · max_b n_b / N ≥ max_b ω_b,

so that mean_b ω_b = Ā^c − Ā, and the batch comparison assorter

    x_b = (1 − ω_b/τ) / (2 − v/τ) ∈ [0, 2/(2 − v/τ)],   v = 2Ā^c − 1,

has mean > 1/2 exactly when the true assorter mean Ā > 1/2 (the card-level derivation of
SHANGRLA eq. 6 with batches as the sampling unit). Its risk is measured with ALPHA (Stark
2023) like any other SHANGRLA assorter. A batch that cannot be found is scored as its worst
case, S_b = 0.

Only tallies are needed, so this works for plurality, approval and super-majority contests
(assorter sums are functions of the batch's candidate tallies and card count); IRV needs the
ballots and is refused. MACRO with PPEB sampling (Stark 2008/2009) is in
:mod:`tallyproof.audit.macro` for compatibility with deployed tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import AuditError
from .assorters import Assertion, AssertionKind, ContestVotes, Discrepancies
from .comparison import AssertionRisk
from .risk import measure_risk


@dataclass(frozen=True)
class BatchFrame:
    """Reported tallies of one contest by batch: ``tallies[b, c]`` valid votes for candidate c,
    ``cards[b]`` every card in the batch (cards without the contest count as 1/2 in A)."""

    keys: tuple[str, ...]
    cards: np.ndarray
    tallies: np.ndarray

    @property
    def n_cards(self) -> int:
        return int(self.cards.sum())

    @cached_property
    def _row_of(self) -> dict[str, int]:
        """Each key's first row, built once: :meth:`row` is asked once per sampled batch,
        and a scan of the keys per ask made measuring a round O(sample × batches)."""
        out: dict[str, int] = {}
        for i, k in enumerate(self.keys):
            out.setdefault(k, i)
        return out

    def row(self, key: str) -> int:
        try:
            return self._row_of[key]
        except KeyError as exc:
            raise AuditError(f"no batch {key!r} in the frame") from exc


def batch_key(tabulator: str | None, batch: str | None) -> str:
    """Identifier of a batch in a batch audit's frame: ``tabulator/batch``."""
    return f"{tabulator or ''}/{batch or ''}"


def batch_frame(votes: ContestVotes, tabulators: list[str | None],
                batches: list[str | None]) -> BatchFrame:
    """Reported tallies by (tabulator, batch) from the CVRs (vectorised group-by)."""
    keys = np.array([batch_key(t, b) for t, b in zip(tabulators, batches, strict=True)])
    uniq, inv = np.unique(keys, return_inverse=True)
    tallies = np.zeros((len(uniq), votes.marks.shape[1]), dtype=np.int64)
    np.add.at(tallies, inv, votes.marks.astype(np.int64))
    cards = np.bincount(inv, minlength=len(uniq)).astype(np.int64)
    return BatchFrame(tuple(str(k) for k in uniq), cards, tallies)


def assorter_sums(assertion: Assertion, tallies: np.ndarray, cards: np.ndarray,
                  vote_for: int = 1) -> np.ndarray:
    """Σ A over each batch's cards from its tallies (SHANGRLA §2.1, §2.3)."""
    tallies = np.atleast_2d(tallies).astype(float)
    cards = np.asarray(cards, dtype=float)
    if assertion.kind is AssertionKind.PAIRWISE:
        lo = assertion.loser if assertion.loser is not None else -1
        return (cards + tallies[:, assertion.winner] - tallies[:, lo]) / 2.0
    if assertion.kind is AssertionKind.SUPERMAJORITY:
        if vote_for != 1:
            raise AuditError("batch super-majority assertions need a vote-for-1 contest")
        valid = tallies.sum(axis=1)
        return assertion.upper * tallies[:, assertion.winner] + 0.5 * (cards - valid)
    raise AuditError(f"{assertion.kind.value} assertions need ballots, not batch tallies; "
                     "batch comparison audits cover plurality, approval and super-majority")


def batch_comparison_risk(
    assertion: Assertion,
    frame: BatchFrame,
    sampled: list[str],
    audited: np.ndarray,
    *,
    not_found: np.ndarray | None = None,
    method: str = "alpha",
    vote_for: int = 1,
    **params: object,
) -> AssertionRisk:
    """Risk of ``assertion`` after hand counting the ``sampled`` batches (draw order), whose
    hand-count tallies are the rows of ``audited``."""
    n_batches = len(frame.keys)
    n_cards = frame.n_cards
    u = assertion.upper
    reported_sums = assorter_sums(assertion, frame.tallies, frame.cards, vote_for)
    margin = 2.0 * float(reported_sums.sum()) / n_cards - 1.0
    if margin <= 0:
        raise AuditError(f"assertion {assertion.id}: the reported batch tallies give no "
                         "positive margin")
    tau = u * n_batches * float(frame.cards.max()) / n_cards
    rows = np.array([frame.row(k) for k in sampled], dtype=np.int64)
    audited = np.asarray(audited, dtype=np.int64).reshape(len(rows), frame.tallies.shape[1])
    bad = (audited < 0).any(axis=1) | (audited.sum(axis=1) > frame.cards[rows] * vote_for)
    if bad.any():
        raise AuditError(f"hand count of batch {sampled[int(np.argmax(bad))]!r} has more votes "
                         "than the batch's cards allow (or a negative count)")
    got = assorter_sums(assertion, audited, frame.cards[rows], vote_for)
    if not_found is not None:
        got = np.where(not_found, 0.0, got)
    omega = (n_batches / n_cards) * (reported_sums[rows] - got)
    x = (1.0 - omega / tau) / (2.0 - margin / tau)
    res = measure_risk(x, upper=2.0 / (2.0 - margin / tau), N=n_batches,
                       method=method, **params)
    return AssertionRisk(
        assertion_id=assertion.id,
        examined=len(rows),
        # batches, not cards: o1 = batches whose count overstated the margin, u1 = understated
        discrepancies=Discrepancies(o1=int(np.sum(omega > 1e-12)), u1=int(np.sum(omega < -1e-12))),
        p_value=res.p_value,
        p_history=tuple(float(p) for p in res.p_history),
        margin=margin,
        method=res.method,
    )
