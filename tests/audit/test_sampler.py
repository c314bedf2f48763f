"""Rivest's consistent sampler: published vectors from the reference package's docs."""

from __future__ import annotations

import pytest

from tallyproof.audit.sampler import (
    Draw,
    extend_sample,
    first_ticket,
    iter_sample,
    next_ticket,
    sample,
)
from tallyproof.errors import UsageError

SIX = ["A-1", "A-2", "A-3", "B-1", "B-2", "B-3"]


def test_published_without_replacement() -> None:
    # issue #4 / consistent_sampler README: seed 314159, sample of 4
    assert [d.id for d in sample(SIX, "314159", 4)] == ["B-2", "B-3", "A-3", "A-2"]


def test_published_first_ticket_and_next_ticket() -> None:
    # consistent_sampler docstrings (first_fraction / next_fraction examples)
    assert first_ticket("AB-130", "01382438112797316654") == (
        "0.26299714122838008416507544297546663599715395525154425586041245287750224561854"
    )
    assert next_ticket("0.25471") == (
        "0.642853261655004694691182528114375607701032283189922170593838029306715548381901"
    )
    assert next_ticket(first_ticket("AB-130", "01382438112797316654")) == (
        "0.8232357229934205790595761924514048157652891124687533667363938813600770093316"
    )


def test_published_with_replacement() -> None:
    draws = sample(["A#2", "B#7", "C#1", "D#4"], "314159", 8, with_replacement=True)
    assert [d.id for d in draws] == ["D#4", "C#1", "C#1", "B#7", "A#2", "C#1", "D#4", "B#7"]
    assert [d.generation for d in draws] == [1, 1, 2, 1, 1, 3, 2, 2]


def test_published_tickets_trimmed() -> None:
    draws = sample(["ab-1", "ab-2", "cd-1", "ef-3"], "314159", 4)
    assert [(d.ticket, d.id, d.generation) for d in draws] == [
        ("0.317685817", "cd-1", 1),
        ("0.832984519", "ef-3", 1),
        ("0.9098039269", "ab-1", 1),  # leading 9s do not count toward the 9 digits
        ("0.9231549043", "ab-2", 1),
    ]


def test_published_heap_tickets() -> None:
    # make_ticket_heap example, seed 'xy()134!g2n'
    assert first_ticket("cat", "xy()134!g2n").startswith("0.24866413894129579898796850445568")
    assert first_ticket("goat", "xy()134!g2n").startswith("0.49599842072022713663423753308080")


def test_consistency_under_subsetting() -> None:
    full = [d.id for d in sample(SIX, "314159", 6)]
    sub = [d.id for d in sample(["B-1", "B-2", "B-3"], "314159", 3)]
    assert [i for i in full if i.startswith("B")] == sub


def test_later_round_extends_first() -> None:
    ids = [f"ballot-{i}" for i in range(200)]
    first = sample(ids, "12345678901234567890", 10)
    more = extend_sample(ids, "12345678901234567890", first, 15)
    assert first + more == sample(ids, "12345678901234567890", 25)
    assert sample(ids, "12345678901234567890", 15, start=10) == more
    with pytest.raises(UsageError):
        extend_sample(ids, "12345678901234567890", first[1:], 5)


def test_with_replacement_extends_and_streams() -> None:
    ids = ["a", "b", "c"]
    stream = iter_sample(ids, "7", with_replacement=True)
    streamed = [next(stream) for _ in range(12)]
    assert streamed == sample(ids, "7", 12, with_replacement=True)
    assert sample(ids, "7", 5, with_replacement=True, start=7) == streamed[7:]
    assert all(isinstance(d, Draw) for d in streamed)


def test_bad_input() -> None:
    with pytest.raises(UsageError, match="duplicate"):
        sample(["a", "a", "b"], "1", 2)
    with pytest.raises(UsageError):
        sample(["a", "b"], "1", 3)
    with pytest.raises(UsageError):
        sample(["a", "b"], "1", 1, output="bogus")
