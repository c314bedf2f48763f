"""Plots drawn in another process are taken only for equal arguments (evidence/plots.py), the
verifier's results cross the pipe only when JSON gives them back unchanged (verify._travels),
and Cards.find, now scanning the column against the few ids asked for, finds what
``index_in`` over the whole column found (first row of a repeated id, -1 for an unknown)."""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa

from tallyproof.audit.frames import Cards
from tallyproof.evidence import plots
from tallyproof.evidence.checks import Check
from tallyproof.verify import _travels


def test_recorded_plot_is_reused_only_for_equal_arguments(monkeypatch) -> None:
    with plots.recording() as drawn:
        first = plots.margins(["Mayor", "Council"], [12.5, 3.25])
    assert len(drawn) == 1
    drawn = orjson.loads(orjson.dumps(drawn))  # as it crosses the pipe
    calls: list[int] = []
    real = plots.Plot.__init__

    def counting(self, *a, **k):  # every real drawing goes through Plot.__init__
        calls.append(1)
        real(self, *a, **k)

    monkeypatch.setattr(plots.Plot, "__init__", counting)
    with plots.reusing(drawn):
        same = plots.margins(["Mayor", "Council"], [12.5, 3.25])
        assert calls == []  # taken, not drawn
        assert (same.svg, same.alt, same.title, same.key) == (first.svg, first.alt,
                                                                first.title, first.key)
        other = plots.margins(["Mayor", "Council"], [12.5, 3.5])  # one number differs
        assert calls == [1]
        assert other.svg != first.svg and "3.50%" in other.alt
        as_tuple = plots.margins(("Mayor", "Council"), [12.5, 3.25])  # another type: drawn
        assert calls == [1, 1] and as_tuple.svg == first.svg
    assert same.png[:8] == b"\x89PNG\r\n\x1a\n"  # a taken plot still draws its PNG on demand


def test_outside_the_blocks_nothing_is_recorded_or_reused() -> None:
    with plots.recording() as drawn:
        pass
    plots.margins(["A"], [1.0])
    assert drawn == {}


def test_only_what_json_gives_back_unchanged_travels() -> None:
    assert _travels(Check("x", "pass", "ok", {"n": 1, "f": 1.0, "b": True, "l": [1, [2]]}))
    assert not _travels(Check("x", "pass", "ok", {"t": (1, 2)}))
    assert not _travels({"n": np.int64(3)})
    assert _travels({"a": None, "b": [{"c": "d"}]}) and _travels(None)


def test_cards_find_first_row_of_repeated_ids_and_minus_one_for_unknown() -> None:
    cards = Cards(pa.table({"ballot_id": ["a", "b", "c", "b", "d"]}))
    assert cards.find(["b", "x", "d", "a", "b"]).tolist() == [1, -1, 4, 0, 1]
    assert cards.find(["c"]).tolist() == [2]  # found anew, with the remembered ones kept
    assert cards.find([]).tolist() == []
