"""Rivest's consistent sampler: published vectors from the reference package's docs."""

from __future__ import annotations

import hashlib
import heapq
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyproof.audit import sampler
from tallyproof.audit.sampler import (
    Draw,
    extend_sample,
    first_ticket,
    iter_sample,
    next_ticket,
    sample,
    sample_until,
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


def test_sample_until_is_the_shortest_doubling_prefix_of_sample() -> None:
    ids = [f"ballot-{i}" for i in range(500)]
    seed = "12345678901234567890"
    whole = sample(ids, seed, len(ids))
    wanted = {"ballot-7", "ballot-300"}  # stop once both are drawn
    index, draws = sample_until(ids, seed, lambda ix: wanted <= {ids[i] for i in ix}, start=3)
    last = max(k for k, d in enumerate(whole) if d.id in wanted) + 1
    assert len(draws) >= last and len(draws) // 2 < last  # doublings of 3: 3, 6, 12, ...
    assert len(draws) in {*(3 * 2**k for k in range(8)), len(ids)}  # capped at the frame
    assert draws == whole[: len(draws)]
    assert [ids[i] for i in index.tolist()] == [d.id for d in draws]
    # never enough: the whole order; nothing to draw: nothing
    assert sample_until(ids, seed, lambda ix: False, start=100)[1] == whole
    assert sample_until([], seed, lambda ix: False)[1] == []
    # the ids as an Arrow array: the same draws
    import pyarrow as pa

    from tallyproof.audit.sampler import ArrowIds

    arrow = ArrowIds(pa.chunked_array([ids[:123], ids[123:]]))
    assert len(arrow) == len(ids) and arrow[5] == ids[5] and arrow[10:20] == ids[10:20]
    assert sample_until(arrow, seed, lambda ix: len(ix) >= 40)[1] == whole[:64]  # 1, 2, .., 64


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


def _reference_sample(ids: list[str], seed: str, n: int, start: int,
                      with_replacement: bool) -> list[tuple[str, str, int]]:
    """A straightforward reading of Rivest's algorithm (module docstring): every id's full
    ticket as a decimal string, ordered as (ticket, id, generation) tuples, with a heap of
    next tickets when sampling with replacement."""
    def uniform(text: str) -> str:
        h = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16)
        return "0." + f"{h:064d}"[::-1]

    seed_hex = hashlib.sha256(seed.encode("utf-8")).hexdigest()
    heap = sorted((uniform(seed_hex + i), i, 1) for i in ids)
    out = []
    while heap and len(out) < start + n:
        t, i, g = heapq.heappop(heap)
        out.append((t, i, g))
        if with_replacement:
            heapq.heappush(heap, (next_ticket(t), i, g + 1))
    return out[start:]


def _ids_strategy(rng: random.Random, count: int) -> list[str]:
    alphabet = "AB-_ #é0123456789xyzΩ\t"
    ids = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
           for _ in range(count)}
    return sorted(ids, key=lambda _: rng.random())


@pytest.mark.parametrize("digits", [9, 78])
@pytest.mark.parametrize("trial", range(12))
def test_identical_to_a_straightforward_reference(trial: int, digits: int) -> None:
    rng = random.Random(trial)
    ids = _ids_strategy(rng, rng.randint(1, 400))
    seed = "".join(rng.choice("0123456789") for _ in range(20))
    with_replacement = trial % 3 == 0
    n = rng.randint(0, len(ids))
    start = rng.randint(0, len(ids) - n)
    got = sample(ids, seed, n, start=start, with_replacement=with_replacement, digits=digits)
    want = _reference_sample(ids, seed, n, start, with_replacement)
    assert [(d.ticket, d.id, d.generation) for d in got] == [
        (sampler._trim(t, digits), i, g) for t, i, g in want]


def test_ties_in_the_ticket_prefix_are_broken_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    # keep only each prefix's first two digits: most ids tie at the cut, and the full tickets
    # must still decide the order exactly as the reference does
    coarse = sampler._ticket_prefixes
    monkeypatch.setattr(sampler, "_ticket_prefixes",
                        lambda ids, seed: coarse(ids, seed) // np.uint64(10**16))
    ids = [f"b-{k}" for k in range(2000)]
    for n, start, wr in [(50, 0, False), (30, 25, False), (40, 10, True)]:
        got = sample(ids, "8675309", n, start=start, with_replacement=wr)
        want = _reference_sample(ids, "8675309", n, start, wr)
        assert [(d.id, d.generation) for d in got] == [(i, g) for _, i, g in want]
    whole = sample(ids, "8675309", len(ids))  # the whole frame's order, every tie resolved
    assert [d.id for d in whole] == [i for _, i, _ in _reference_sample(ids, "8675309",
                                                                        len(ids), 0, False)]


def test_split_between_two_processes_gives_the_same_tickets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a large frame is ticketed by this process and a forked child: the same prefixes, in order
    from tallyproof.ledger import parallel

    ids = [f"{t}-{b}-{r}" for t in range(3) for b in range(40) for r in range(50)]
    alone = sampler._ticket_prefixes(ids, "20261107")
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ITEMS", 100)
    if parallel.PROCESSES < 2:
        pytest.skip("this machine cannot fork a second hashing process")
    assert sampler.processes_for(len(ids)) == 2
    split = sampler._ticket_prefixes(ids, "20261107")
    assert split.tolist() == alone.tolist()
    assert [d.id for d in sample(ids, "20261107", 25)] == [
        i for _, i, _ in _reference_sample(ids, "20261107", 25, 0, False)]


def test_an_arrow_frame_is_ticketed_once_per_seed_and_content(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    calls: list[tuple[int, int]] = []
    real = sampler._prefixes_of

    def counting(ids: list[str], seed: str, lo: int, hi: int) -> np.ndarray:
        calls.append((lo, hi))
        return real(ids, seed, lo, hi)

    monkeypatch.setattr(sampler, "_prefixes_of", counting)
    monkeypatch.setattr(sampler, "_PREFIX_CACHE", {})
    names = [f"card-{k}" for k in range(500)]
    frame = sampler.ArrowIds(pa.array(names))
    first = sampler._ticket_prefixes(frame, "1")
    hashed = len(calls)
    # the same ids in another array (a later round re-reads the table): not hashed again
    again = sampler._ticket_prefixes(sampler.ArrowIds(pa.array(list(names))), "1")
    assert len(calls) == hashed and again.tolist() == first.tolist()
    assert not again.flags.writeable  # nobody can change what the cache hands out
    # another seed, one id changed, one id moved between two neighbours: hashed afresh
    for seed, changed in [("2", names), ("1", [*names[:-1], "card-X"]),
                          ("1", ["card-0card-1", "", *names[2:]])]:
        before = len(calls)
        got = sampler._ticket_prefixes(sampler.ArrowIds(pa.array(changed)), seed)
        assert len(calls) > before
        assert got.tolist() == sampler._ticket_prefixes(changed, seed).tolist()
    # a slice of a bigger array is fingerprinted by its own ids only
    sliced = sampler.ArrowIds(pa.array(["zz", *names]).slice(1))
    assert sliced.fingerprint("1") == frame.fingerprint("1")
    # a frame with a null id is never cached (the sampler refuses it elsewhere)
    assert sampler.ArrowIds(pa.array(["a", None])).fingerprint("1") is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
def test_digest_prefixes_are_the_tickets_first_18_digits(digests: list[bytes]) -> None:
    """The NumPy arithmetic gives, for any digest (all-0xFF ones included, where every limb
    product is largest), the ticket's first 18 digits: int(digest) mod 10^18, reversed."""
    digests = [*digests, b"\xff" * 32, b"\x00" * 32]
    got = sampler._digest_prefixes(b"".join(digests)).tolist()
    for d, p in zip(digests, got, strict=True):
        assert p == int(f"{int.from_bytes(d, 'big') % 10**18:018d}"[::-1])
