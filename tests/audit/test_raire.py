"""RAIRE assertion generation (Blom, Stuckey, Teague 2019) on small IRV contests."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from tallyproof.audit.assorters import AssertionKind, votes_from_marks
from tallyproof.audit.raire import (
    estimated_sample_size,
    irv_elimination_order,
    raire_assertions,
    rules_out,
)
from tallyproof.errors import AuditError
from tallyproof.model import Candidate, Contest, ContestKind


def _irv(n: int) -> Contest:
    return Contest("irv", "IRV", ContestKind.IRV,
                   candidates=tuple(Candidate(x, x) for x in "ABCDEF"[:n]), max_rankings=n)


def _cards(spec: dict[tuple[int, ...], int]) -> list:
    cards: list = []
    for ranking, k in spec.items():
        cards += [[[x] for x in ranking]] * k
    return cards


def _implies_winner(assertions, winner: int, n: int) -> bool:
    return all(
        any(rules_out(a, order) for a in assertions)
        for order in permutations(range(n)) if order[-1] != winner
    )


def _random_contests(rng: np.random.Generator, per_size: int, *, skewed: bool):
    """(candidates, votes, elimination order) of random 3-, 4- and 5-candidate contests of
    300 ballots (rankings drawn with Dirichlet-weighted preferences if ``skewed``); contests
    whose count needs a tie-break are skipped."""
    for n in (3, 4, 5):
        c = _irv(n)
        for _ in range(per_size):
            pref = rng.dirichlet(np.ones(n) * 2) if skewed else None
            cards = []
            for _ in range(300):
                k = int(rng.integers(1, n + 1))
                cards.append([[int(x)] for x in rng.choice(n, size=k, replace=False, p=pref)])
            v = votes_from_marks(c, cards)
            try:
                order = irv_elimination_order(v)
            except AuditError:
                continue
            yield n, v, order


def test_four_candidate_contest_hand_checked() -> None:
    # D (2500) out first; then A 5000, B 4500, C 5500 → B out; then A 9000 vs C 5500.
    spec = {(0, 1, 2): 5000, (1, 0): 4000, (2, 1): 3000, (3, 2, 0): 2500, (1,): 500}
    c = _irv(4)
    v = votes_from_marks(c, _cards(spec))
    assert irv_elimination_order(v) == (3, 1, 2, 0)
    res = raire_assertions(v, risk_limit=0.05)
    assert res.auditable and res.winner == 0
    assert _implies_winner(res.assertions, 0, 4)
    margins = {a.id: a.notes["margin"] for a in res.assertions}
    for a in res.assertions:  # every chosen assertion is true on the CVRs
        assert a.assort(v).mean() == pytest.approx((1 + margins[a.id]) / 2)
        assert margins[a.id] > 0
    # the hardest assertion here is A vs B with {A, B, C} left: (5000 − 4500)/15000
    assert min(margins.values()) == pytest.approx(500 / 15000)
    assert res.difficulty == estimated_sample_size(500 / 15000, 0.05, N=15000)
    # sampling without replacement from the 15,000 cards: the with-replacement bound is not
    # the floor there
    assert res.difficulty <= estimated_sample_size(500 / 15000, 0.05)


def test_two_candidates_single_nen_or_neb() -> None:
    c = _irv(2)
    v = votes_from_marks(c, _cards({(0,): 60, (1,): 40}))
    res = raire_assertions(v)
    assert len(res.assertions) == 1
    assert res.assertions[0].notes["margin"] == pytest.approx(0.2)


def test_winner_by_elimination_uses_neb_when_first_prefs_dominate() -> None:
    # A has a majority of first preferences: "A NEB x" for each x is cheapest
    spec = {(0,): 600, (1, 2): 200, (2, 1): 150, (3, 1): 50}
    v = votes_from_marks(_irv(4), _cards(spec))
    res = raire_assertions(v)
    assert {a.kind for a in res.assertions} == {AssertionKind.NEB}
    assert _implies_winner(res.assertions, 0, 4)


def test_wrong_reported_winner_cannot_be_audited() -> None:
    spec = {(0, 1): 60, (1, 0): 40}
    v = votes_from_marks(_irv(2), _cards(spec))
    res = raire_assertions(v, winner=1)
    assert not res.auditable
    assert "cannot" not in res.reason or res.reason  # reason is a sentence
    assert "do not support" in res.reason


def test_tie_refused() -> None:
    v = votes_from_marks(_irv(2), _cards({(0,): 5, (1,): 5}))
    with pytest.raises(AuditError, match="tie"):
        raire_assertions(v)


def test_random_contests_assertions_always_imply_winner() -> None:
    rng = np.random.default_rng(7)
    for n, v, order in _random_contests(rng, 6, skewed=False):
        res = raire_assertions(v)
        if res.auditable:
            assert _implies_winner(res.assertions, order[-1], n)
            assert all(a.notes["margin"] > 0 for a in res.assertions)


def _full_order_difficulty(v, order, risk_limit: float) -> float:
    """Cost of the naive assertion set that pins the whole elimination order: at each stage,
    every continuing candidate out-polls the one eliminated (NEN), which implies the winner."""
    from tallyproof.audit.raire import _Ballots

    b = _Ballots(v)
    worst = 0.0
    remaining = list(order)
    for e in order[:-1]:
        t = b.tallies(frozenset(remaining))
        for x in remaining:
            if x != e:
                worst = max(worst, estimated_sample_size((t[x] - t[e]) / b.n_cards, risk_limit))
        remaining.remove(e)
    return worst


def test_raire_is_never_harder_than_pinning_the_elimination_order() -> None:
    rng = np.random.default_rng(17)
    for _ in range(12):
        n = int(rng.integers(3, 6))
        c = _irv(n)
        pref = rng.dirichlet(np.ones(n) * 2)
        cards = []
        for _ in range(400):
            k = int(rng.integers(1, n + 1))
            perm = rng.choice(n, size=k, replace=False, p=pref)
            cards.append([[int(x)] for x in perm])
        v = votes_from_marks(c, cards)
        try:
            order = irv_elimination_order(v)
        except AuditError:
            continue
        res = raire_assertions(v, risk_limit=0.05)
        assert res.auditable
        assert res.difficulty <= _full_order_difficulty(v, order, 0.05)


@pytest.mark.realdata
def test_minneapolis_2017_mayor_real_cvrs(rctab_data) -> None:
    """19 candidates, 105,928 cards (RCTab regression data): RAIRE finds assertions for the
    winner RCTab's expected report names, every one true on the CVRs, in seconds."""
    import json

    import pyarrow as pa

    from tallyproof.audit.assorters import contest_votes
    from tallyproof.ingest import read_export

    folder = rctab_data / "2017_minneapolis_mayor"
    expected = json.loads((folder / "2017_minneapolis_mayor_expected_detailed_report.json")
                          .read_text())
    elected = {t["elected"] for r in expected["results"] for t in r.get("tallyResults", [])
               if "elected" in t}
    px = read_export(folder / "2017_minneapolis_mayor_cvr.xlsx", "auto", {})
    table = pa.Table.from_batches(list(px.batches))
    contest = px.election.contests[0]
    v = contest_votes(contest, table.column(contest.column))
    res = raire_assertions(v, risk_limit=0.05)
    assert res.auditable
    assert {contest.candidates[res.winner].name} == elected == {"Jacob Frey"}
    for a in res.assertions:
        assert a.assort(v).mean() == pytest.approx((1 + a.notes["margin"]) / 2)
        assert a.notes["margin"] > 0
    rng = np.random.default_rng(0)
    n = len(contest.candidates)
    for _ in range(3000):  # random complete orders with another winner are all ruled out
        order = tuple(int(x) for x in rng.permutation(n))
        if order[-1] != res.winner:
            assert any(rules_out(a, order) for a in res.assertions)


def test_tied_last_places_that_cannot_matter_are_eliminated_together() -> None:
    # D and E have no first preferences (a tie), but together they are below C: both go
    spec = {(0,): 50, (1, 0): 30, (2, 0): 20}
    v = votes_from_marks(_irv(5), _cards(spec))
    order = irv_elimination_order(v)
    assert set(order[:2]) == {3, 4} and order[2:] == (2, 1, 0)
    res = raire_assertions(v)
    assert res.auditable and _implies_winner(res.assertions, 0, 5)
    # a tie that decides who goes next cannot be resolved: B 30 = C 30
    with pytest.raises(AuditError, match="tie"):
        irv_elimination_order(votes_from_marks(_irv(3), _cards({(0,): 50, (1,): 30, (2,): 30})))


def test_no_chosen_assertion_is_implied_by_the_others() -> None:
    # as SHANGRLA does: an assertion the others imply only costs audit work
    checked = 0
    for n, v, order in _random_contests(np.random.default_rng(7), 12, skewed=True):
        res = raire_assertions(v)
        if not res.auditable:
            continue
        checked += 1
        chosen = list(res.assertions)
        assert _implies_winner(chosen, order[-1], n)
        for a in chosen:
            assert not _implies_winner([b for b in chosen if b is not a], order[-1], n), a.id
    assert checked >= 10


def test_distinct_rankings_match_numpy_unique_rows() -> None:
    from tallyproof.audit.raire import NOT_RANKED, _distinct_rows

    rng = np.random.default_rng(3)
    for n, c in [(1, 1), (2000, 4), (3000, 7), (50, 30)]:  # 30 columns: too wide for one key
        r = rng.integers(0, 6, size=(n, c)).astype(np.int32)
        r[rng.random((n, c)) < 0.4] = NOT_RANKED
        want_rows, want_counts = np.unique(r, axis=0, return_counts=True)
        rows, counts = _distinct_rows(r)
        assert np.array_equal(rows, want_rows) and np.array_equal(counts, want_counts)
