"""The compiled Dominion scanner against msgspec: it reads every file msgspec reads the same
way, or gives it up; it never reads a file msgspec refuses.

The reader-level behaviour (rows and errors with the scanner on and off) is in
test_dominion.py, whose every test runs both ways; here the scanner's arrays are compared with
a plain loop over msgspec's structs, on generated exports, mutated bytes and real files."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallyproof.formats import dominion, dominion_rows, dominion_scan

from ..conftest import require_shared_data
from . import vendor_fixtures as vf

INVALID = dominion_rows.INVALID_CONTEST_CONDITION


def reference(data: bytes) -> dict[str, list[Any]] | None:
    """What the scanner must give, computed from msgspec's structs one object at a time
    (``None``: msgspec refuses the file, or an integer is beyond what the scanner reads)."""
    try:
        export = dominion_rows._DECODER.decode(data)
    except msgspec.DecodeError:
        return None
    out: dict[str, list[Any]] = {k: [] for k in (
        "keys", "group", "original_current", "modified_present", "modified_current",
        "precinct", "style", "n_cards", "n_contests", "contest_id", "flagged", "partly_read",
        "n_marks", "candidate", "rank", "ambiguous")}  # fmt: skip
    for s in export.Sessions:
        mod = s.Modified
        use_modified = not s.Original.IsCurrent and mod is not None and mod.IsCurrent
        version = mod if use_modified and mod is not None else s.Original
        out["keys"].append([s.TabulatorId, s.BatchId, s.RecordId])
        out["group"].append(s.CountingGroupId)
        out["original_current"].append(s.Original.IsCurrent)
        out["modified_present"].append(mod is not None)
        out["modified_current"].append(mod is not None and mod.IsCurrent)
        out["precinct"].append(version.PrecinctPortionId)
        out["style"].append(version.BallotTypeId)
        out["n_cards"].append(len(version.Cards))
        for card in version.Cards:
            out["n_contests"].append(len(card.Contests))
            for c in card.Contests:
                out["contest_id"].append(c.Id)
                out["flagged"].append(bool(c.OutstackConditionIds))
                out["partly_read"].append(INVALID in c.OutstackConditionIds)
                out["n_marks"].append(len(c.Marks))
                for m in c.Marks:
                    out["candidate"].append(m.CandidateId)
                    out["rank"].append(m.Rank)
                    out["ambiguous"].append(m.IsAmbiguous)
    # every integer the scanner reads, in either version
    ints = [v for key in out["keys"] for v in key] + [v for v in out["group"] if v is not None]
    for s in export.Sessions:
        for v in (s.Original, s.Modified):
            if v is None:
                continue
            ints += [x for x in (v.PrecinctPortionId, v.BallotTypeId) if x is not None]
            for card in v.Cards:
                for c in card.Contests:
                    ints += [c.Id, *c.OutstackConditionIds]
                    ints += [x for m in c.Marks for x in (m.CandidateId, m.Rank)]
    if any(len(str(abs(v))) > 18 for v in ints):
        return None  # a valid file the scanner leaves to msgspec
    return out


def scanned(data: bytes) -> dict[str, list[Any]] | None:
    got = dominion_scan.scan(data, INVALID)
    if got is None:
        return None

    def given(values: np.ndarray, mask: np.ndarray) -> list[int | None]:
        return [int(v) if g else None for v, g in zip(values, mask, strict=True)]

    return {
        "keys": got.keys.tolist(), "group": given(got.group, got.group_given),
        "original_current": got.original_current.tolist(),
        "modified_present": got.modified_present.tolist(),
        "modified_current": got.modified_current.tolist(),
        "precinct": given(got.precinct, got.precinct_given),
        "style": given(got.style, got.style_given),
        **{k: getattr(got, k).tolist() for k in (
            "n_cards", "n_contests", "contest_id", "flagged", "partly_read", "n_marks",
            "candidate", "rank", "ambiguous")},
    }  # fmt: skip


def agree(data: bytes) -> str:
    """Check the one rule, and say which way it went: ``read`` (both read it, the same way),
    ``given up`` (msgspec reads it, the scanner leaves it to msgspec) or ``refused``."""
    want, got = reference(data), scanned(data)
    if want is None:  # refused by msgspec, or beyond the scanner's integers: not read
        assert got is None, data[:300]
        try:
            dominion_rows._DECODER.decode(data)
        except msgspec.DecodeError:
            return "refused"
        return "given up"
    if got is None:
        return "given up"
    assert got == want
    return "read"


# ---------------------------------------------------------------------------------------------
# generated exports


def _mark(draw: st.DrawFn) -> dict[str, Any]:
    m = {"CandidateId": draw(st.integers(-3, 40)), "Rank": draw(st.integers(-1, 5)),
         "IsAmbiguous": draw(st.booleans())}  # fmt: skip
    if draw(st.booleans()):
        m.update({"ManifestationId": draw(st.integers(0, 10**12)), "PartyId": 0,
                  "MarkDensity": draw(st.floats(0, 100, allow_nan=False)), "IsVote": True,
                  "OutstackConditionIds": draw(st.lists(st.integers(0, 20), max_size=2))})
    return m


@st.composite
def _contest(draw: st.DrawFn) -> dict[str, Any]:
    c: dict[str, Any] = {"Id": draw(st.integers(0, 6)),
                         "Marks": draw(st.lists(st.builds(dict), max_size=3))}
    c["Marks"] = [_mark(draw) for _ in c["Marks"]]
    if draw(st.booleans()):
        c["OutstackConditionIds"] = draw(st.lists(st.sampled_from([0, 1, 2, 7, 9]), max_size=3))
    if draw(st.booleans()):
        c.update({"ManifestationId": 5, "Undervotes": 0, "Overvotes": draw(st.integers(0, 2)),
                  "Note": draw(st.text(max_size=5)), "Nested": {"a": [1, {"b": None}, []]}})
    return c


@st.composite
def _version(draw: st.DrawFn) -> dict[str, Any]:
    v: dict[str, Any] = {"IsCurrent": draw(st.booleans()),
                         "Cards": [{"Id": 1, "Contests": draw(st.lists(_contest(), max_size=3))}
                                   for _ in range(draw(st.integers(0, 2)))]}
    for key in ("PrecinctPortionId", "BallotTypeId"):
        choice = draw(st.sampled_from(["absent", "null", "value"]))
        if choice != "absent":
            v[key] = None if choice == "null" else draw(st.integers(-5, 10**15))
    return v


@st.composite
def _session(draw: st.DrawFn) -> dict[str, Any]:
    s: dict[str, Any] = {"TabulatorId": draw(st.integers(0, 99)), "BatchId": draw(st.integers(0, 9)),
                         "RecordId": draw(st.integers(0, 10**9)), "Original": draw(_version())}
    choice = draw(st.sampled_from(["absent", "null", "value"]))
    if choice != "absent":
        s["Modified"] = None if choice == "null" else draw(_version())
    choice = draw(st.sampled_from(["absent", "null", "value"]))
    if choice != "absent":
        s["CountingGroupId"] = None if choice == "null" else draw(st.integers(0, 3))
    if draw(st.booleans()):
        s["ImageMask"] = draw(st.sampled_from(["D:\\NAS\\x\\*.*", "é/ü", "tab\there", "q\"uote"]))
    return s


@st.composite
def _document(draw: st.DrawFn) -> bytes:
    sessions = draw(st.lists(_session(), max_size=4))
    doc: dict[str, Any] = {"Version": "5.10.50.85", "Sessions": sessions}
    if draw(st.booleans()):
        doc = {"Sessions": sessions, "ElectionId": draw(st.text(max_size=8))}
    rng = random.Random(draw(st.integers(0, 2**32)))

    def shuffled(obj: Any) -> Any:  # key order is free in JSON
        if isinstance(obj, dict):
            items = [(k, shuffled(v)) for k, v in obj.items()]
            rng.shuffle(items)
            return dict(items)
        if isinstance(obj, list):
            return [shuffled(v) for v in obj]
        return obj

    doc = shuffled(doc)
    style = draw(st.sampled_from(["orjson", "indent", "spaces", "ascii"]))
    if style == "orjson":
        return orjson.dumps(doc)
    if style == "indent":
        indent = draw(st.sampled_from([1, 2, "\t"]))
        return json.dumps(doc, indent=indent, ensure_ascii=False).encode()
    if style == "spaces":
        text = json.dumps(doc, separators=(" , ", " : "), ensure_ascii=False)
        return (" \r\n" + text + "\n").encode()
    return json.dumps(doc, ensure_ascii=True).encode()  # \u escapes in strings: given up


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_document())
def test_a_generated_export_is_read_as_msgspec_reads_it(data: bytes) -> None:
    agree(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_mutated_file_is_never_read_differently(data: st.DataObject) -> None:
    """Bytes changed, inserted or deleted anywhere in a real-layout file: whatever msgspec
    makes of the result, the scanner either agrees or gives the file up."""
    doc = data.draw(_document())
    edits = data.draw(st.lists(st.tuples(
        st.sampled_from(["set", "insert", "delete"]), st.integers(0, 10**6),
        st.sampled_from(list(b'{}[]:,"\\ 0-1.9eEtfnul\x00\x1f\x7f\xc3') + [ord("u")])),
        min_size=1, max_size=3))  # fmt: skip
    mutated = bytearray(doc)
    for kind, at, byte in edits:
        if not mutated:
            break
        at %= len(mutated)
        if kind == "set":
            mutated[at] = byte
        elif kind == "insert":
            mutated.insert(at, byte)
        else:
            del mutated[at]
    agree(bytes(mutated))


# ---------------------------------------------------------------------------------------------
# what the scanner gives up, one case each

VALID = vf.dominion_session(10, 1, 1, [[{"Id": 1, "Marks": [
    {"CandidateId": 1, "Rank": 1, "IsAmbiguous": False}]}]])  # fmt: skip


def _doc(**changes: Any) -> bytes:
    return orjson.dumps({"Sessions": [{**VALID, **changes}]})


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_doc().replace(b'"TabulatorId"', b'"\\u0054abulatorId"'), "escape in a key"),
        (_doc(RecordId=10**19), "integer beyond 18 digits"),
        (_doc(RecordId=1.0), "float for an integer"),
        (_doc().replace(b'"RecordId":1', b'"RecordId":1,"RecordId":2'), "field named twice"),
        (_doc().replace(b'"BatchId":1,', b""), "required field missing"),
        (_doc(CountingGroupId=True), "boolean for an integer"),
        (_doc(Original=None), "null Original"),
        (_doc().replace(b"]}]}", b",]}]}", 1), "trailing comma"),
        (b"\xef\xbb\xbf" + _doc(), "byte-order mark"),
        (_doc() + b" x", "bytes after the document"),
        (b'{"Sessions":[]', "truncated"),
        (_doc(ImageMask="\x01"), "control character in a string"),
        (b'{"Sessions":[], "x": ' + b"[" * 100 + b"]" * 100 + b"}", "nesting deeper than 64"),
    ],
)
def test_the_scanner_gives_up(data: bytes, why: str) -> None:
    assert data != _doc()  # the case was made
    assert dominion_scan.scan(data, INVALID) is None, why
    assert dominion_scan.scan(_doc(), INVALID) is not None


def test_modified_before_original_and_nulls_are_read() -> None:
    session = {"Modified": VALID["Original"] | {"IsCurrent": True, "PrecinctPortionId": None},
               **VALID, "CountingGroupId": None}  # fmt: skip
    session["Original"] = VALID["Original"] | {"IsCurrent": False}
    data = orjson.dumps({"Sessions": [session, VALID]})
    assert agree(data) == "read"
    got = dominion_scan.scan(data, INVALID)
    assert got is not None and got.n_cards.tolist() == [1, 1]
    assert got.original_current.tolist() == [False, True]


# ---------------------------------------------------------------------------------------------
# real files


def test_san_francisco_2020_is_read_as_msgspec_reads_it() -> None:
    folder = require_shared_data("dominion-sf-2020")
    outcomes = {agree(p.read_bytes()) for p in dominion.export_files(folder)}
    assert outcomes == {"read"}


def test_off_switch_and_size_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not dominion_scan.wanted(dominion_scan.MIN_EXPORT_BYTES - 1)
    monkeypatch.setenv(dominion_scan.ENV, "off")
    assert not dominion_scan.wanted(dominion_scan.MIN_EXPORT_BYTES)
    monkeypatch.delenv(dominion_scan.ENV)
    assert dominion_scan.wanted(dominion_scan.MIN_EXPORT_BYTES) is (
        dominion_scan.unavailable_reason() is None)
