"""SHANGRLA assorters: hand-computed values (Stark 2020, §2–3)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest

from tallyproof.audit.assorters import (
    NOT_RANKED,
    Assertion,
    AssertionKind,
    Discrepancies,
    assertions_for_contest,
    assorter_margin,
    comparison_upper,
    comparison_values,
    contest_votes,
    overstatement,
    reported_winners,
    supermajority_assertion,
    votes_from_marks,
)
from tallyproof.cvr_table import MARKS_TYPE
from tallyproof.errors import AuditError
from tallyproof.model import OVERVOTE_UNKNOWN, Candidate, Contest, ContestKind


def _contest(kind: ContestKind = ContestKind.PLURALITY, n: int = 3, vote_for: int = 1,
             seats: int = 1) -> Contest:
    return Contest("c", "C", kind, seats=seats, vote_for=vote_for,
                   candidates=tuple(Candidate(x, x) for x in "ABCDE"[:n]),
                   max_rankings=n if kind in (ContestKind.IRV, ContestKind.STV) else None)


def test_plurality_assorter_values_and_overvotes() -> None:
    c = _contest()
    v = votes_from_marks(c, [[[0]], [[1]], [[2]], [[]], [[0, 1]], None, [[OVERVOTE_UNKNOWN]]])
    a = Assertion("c", AssertionKind.PAIRWISE, 0, 1)
    # A: 1 (for w), 0 (for l), 1/2 (other), 1/2 (blank), 1/2 (overvote), 1/2 (absent), 1/2
    np.testing.assert_array_equal(a.assort(v), [1, 0, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert a.upper == 1.0


def test_vote_for_two_counts_two_marks_but_not_three() -> None:
    c = _contest(n=4, vote_for=2, seats=2)
    v = votes_from_marks(c, [[[0, 2]], [[0, 1, 2]], [[1, 3]]])
    assert v.marks.tolist() == [[True, False, True, False], [False] * 4,
                                [False, True, False, True]]


def test_reported_winners_and_pairwise_assertions() -> None:
    c = _contest(n=4, vote_for=2, seats=2)
    v = votes_from_marks(c, [[[0, 1]]] * 5 + [[[2]]] * 3 + [[[3, 0]]] * 2)
    assert reported_winners(v) == (0, 1)
    got = assertions_for_contest(v)
    assert sorted((a.winner, a.loser) for a in got) == [(0, 2), (0, 3), (1, 2), (1, 3)]
    # A beats C: mean assorter = (1 + (7 − 3)/10)/2 = 0.7, margin 0.4
    a = next(a for a in got if (a.winner, a.loser) == (0, 2))
    assert assorter_margin(a.assort(v)) == pytest.approx(0.4)


def test_tie_for_last_seat_refused() -> None:
    c = _contest(n=2)
    with pytest.raises(AuditError, match="tie"):
        reported_winners(votes_from_marks(c, [[[0]], [[1]]]))


def test_supermajority_assorter() -> None:
    # SHANGRLA §2.3 with f = 2/3: u = 1/(2f) = 3/4; vote for w → 3/4, other valid → 0
    c = _contest()
    a = supermajority_assertion(c, 0, Fraction(2, 3))
    v = votes_from_marks(c, [[[0]], [[1]], [[]], [[0, 1]]])
    np.testing.assert_allclose(a.assort(v), [0.75, 0.0, 0.5, 0.5])
    assert a.upper == pytest.approx(0.75)
    # 3 of 4 valid votes for A (> 2/3): mean = (3·3/4)/4 = 0.5625 > 1/2
    v2 = votes_from_marks(c, [[[0]], [[0]], [[0]], [[1]]])
    assert a.assort(v2).mean() == pytest.approx(0.5625)
    with pytest.raises(AuditError):
        supermajority_assertion(c, 0, Fraction(3, 2))


def test_irv_ranks_overvote_ends_ballot_and_skips_pass() -> None:
    c = _contest(ContestKind.IRV, n=4)
    v = votes_from_marks(c, [[[1], [], [0]], [[2], [0, 1], [3]], [[3], [3], [1]]])
    r = v.ranks
    assert r[0].tolist() == [2, 0, NOT_RANKED, NOT_RANKED]
    assert r[1].tolist() == [NOT_RANKED, NOT_RANKED, 0, NOT_RANKED]  # ranks after overvote dropped
    assert r[2].tolist() == [NOT_RANKED, 2, NOT_RANKED, 0]  # duplicate counts at first position


def test_neb_and_nen_assorters() -> None:
    c = _contest(ContestKind.IRV, n=3)
    cards = [[[0], [1]], [[1], [0]], [[2], [1]], [[2]], [[1]], None]
    v = votes_from_marks(c, cards)
    neb = Assertion("c", AssertionKind.NEB, 0, 1)  # A NEB B
    np.testing.assert_array_equal(neb.assort(v), [1, 0, 0, 0.5, 0, 0.5])
    nen = Assertion("c", AssertionKind.NEN, 0, 1, continuing=(0, 1))  # {A,B}: A > B
    np.testing.assert_array_equal(nen.assort(v), [1, 0, 0, 0.5, 0, 0.5])
    nen3 = Assertion("c", AssertionKind.NEN, 2, 1, continuing=(0, 1, 2))
    np.testing.assert_array_equal(nen3.assort(v), [0.5, 0, 1, 1, 0, 0.5])


def test_comparison_assorter_matches_shangrla_formula() -> None:
    # v = 0.2, u = 1: no error → 1/(2 − v) = 0.5556; 1-vote over → 0.5/1.8; 2-vote → 0
    omega = np.array([0.0, 0.5, 1.0, -0.5, -1.0])
    b = comparison_values(omega, 1.0, 0.2)
    np.testing.assert_allclose(b, [1 / 1.8, 0.5 / 1.8, 0.0, 1.5 / 1.8, 2 / 1.8])
    assert comparison_upper(1.0, 0.2) == pytest.approx(2 / 1.8)
    assert Discrepancies.from_omega(omega, 1.0) == Discrepancies(o1=1, o2=1, u1=1, u2=1)
    with pytest.raises(AuditError, match="not positive"):
        comparison_values(omega, 1.0, 0.0)


def test_overstatement_cvr_vs_paper() -> None:
    c = _contest()
    a = Assertion("c", AssertionKind.PAIRWISE, 0, 1)
    cvr = votes_from_marks(c, [[[0]], [[0]], [[]], [[1]]])
    mvr = votes_from_marks(c, [[[0]], [[1]], [[1]], [[0]]])
    np.testing.assert_array_equal(overstatement(a, cvr, mvr), [0, 1, 0.5, -1])


def test_diluted_margin_counts_cards_without_cvr_as_half() -> None:
    assert assorter_margin(np.array([1.0, 1.0, 0.0, 0.5]), n_cards=8) == pytest.approx(0.125)


def test_contest_votes_reads_chunked_columns() -> None:
    c = _contest()
    col = pa.chunked_array([pa.array([[[0]], None], type=MARKS_TYPE),
                            pa.array([[[2]]], type=MARKS_TYPE)])
    v = contest_votes(c, col)
    assert v.present.tolist() == [True, False, True]
    assert v.marks[:, 2].tolist() == [False, False, True]


def test_stv_is_refused_clearly() -> None:
    c = _contest(ContestKind.STV, n=3, seats=2)
    with pytest.raises(AuditError, match="STV"):
        assertions_for_contest(votes_from_marks(c, [[[0]]]))


def test_assertion_json_round_trip() -> None:
    a = Assertion("c", AssertionKind.NEN, 2, 0, continuing=(2, 0, 1))
    assert Assertion.from_json(a.to_json()) == a
    s = Assertion("c", AssertionKind.SUPERMAJORITY, 1, share=Fraction(3, 5))
    assert Assertion.from_json(s.to_json()) == s


def _reference_ranks(cards, n_cand):
    """Per-card reference for ContestVotes.ranks (ranked contests), written plainly."""
    out = []
    for card in cards:
        row = [NOT_RANKED] * n_cand
        if card is not None:
            for pos, rank in enumerate(card):
                if len(rank) > 1 or OVERVOTE_UNKNOWN in rank:
                    break
                for c in rank:
                    row[c] = min(row[c], pos)
        out.append(row)
    return out


def test_vectorised_ranks_match_reference() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    n = 4
    rank = st.one_of(
        st.lists(st.integers(0, n - 1), min_size=0, max_size=2),
        st.just([OVERVOTE_UNKNOWN]),
    )
    card = st.one_of(st.none(), st.lists(rank, min_size=0, max_size=4))

    @settings(max_examples=80, deadline=None)
    @given(st.lists(card, min_size=1, max_size=12))
    def check(cards) -> None:
        v = votes_from_marks(_contest(ContestKind.IRV, n=n), cards)
        assert v.ranks.tolist() == _reference_ranks(cards, n)
        assert v.present.tolist() == [c is not None for c in cards]

    check()
