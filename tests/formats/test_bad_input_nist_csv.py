"""Bad input never escapes as anything but InputError (or parses, when it is still valid).

Property-based: random bytes, truncations of valid files at random offsets, bytes that break
UTF-8, and JSON fields replaced by values of the wrong type, fed to every reader this group
owns (NIST CVR JSON, tallyproof CSV, RCTab generic CSV, ballot manifest, official results).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tallyproof.errors import InputError
from tallyproof.formats import csv as csv_reader
from tallyproof.formats import nist_cdf
from tallyproof.formats.manifest import read_manifest
from tallyproof.formats.results import read_official_results

from .test_nist_cdf import cvr, position, report, selection

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _consume_cdf(path: Path) -> None:
    for _ in nist_cdf.read(path, {}).batches:
        pass


def _consume_csv(path: Path) -> None:
    for _ in csv_reader.read_tallyproof_csv(path, {}).batches:
        pass


def _consume_generic(path: Path) -> None:
    options = {"firstVoteColumnIndex": "2", "idColumnIndex": "1"}
    for _ in csv_reader.read_generic_csv(path, options).batches:
        pass


def _results(path: Path) -> None:
    read_official_results(path)


def _manifest(path: Path) -> None:
    read_manifest(path)


VALID_CDF = json.dumps(
    report(
        [
            cvr(
                "b1",
                [
                    {"ContestId": "mayor", "CVRContestSelection": [selection("s-a")]},
                    {
                        "ContestId": "rcv",
                        "CVRContestSelection": [
                            selection("r-b", position(rank=1)),
                            selection("r-a", position(rank=2)),
                        ],
                    },
                ],
                BallotStyleUnitId="p1",
                BatchId="1",
                BatchSequenceId=1,
            ),
            cvr("b2", [{"ContestId": "prop", "CVRContestSelection": [selection("yes")]}]),
        ]
    )
).encode()
VALID_CSV = b"ballot_id,batch,Mayor,Chair [rank 1],Chair [rank 2]\nb1,1,Ann,Bo,\nb2,1,Bo|Ann,,Cy\n"
VALID_GENERIC = b"id,A,B,C\nr1,1,2,\nr2,2,1,1\n"
VALID_MANIFEST = b"Container,Tabulator,Batch Name,Number of Ballots\nC,T,B1,10\nC,T,B2,12\n"
VALID_RESULTS_CSV = b"contest,candidate,reporting_unit,votes\nmayor,can-a,ALL,3\nmayor,can-b,p1,2\n"
VALID_ERR = json.dumps(
    {
        "Election": [
            {
                "ElectionScopeId": "c",
                "Contest": [
                    {
                        "@id": "mayor",
                        "ContestSelection": [
                            {
                                "@id": "s",
                                "CandidateIds": ["can-a"],
                                "VoteCounts": [{"GpUnitId": "c", "Count": 3, "Type": "total"}],
                            }
                        ],
                        "OtherCounts": [{"GpUnitId": "c", "Overvotes": 1}],
                    }
                ],
            }
        ]
    }
).encode()

READERS: list[tuple[str, Callable[[Path], None], bytes]] = [
    ("cdf", _consume_cdf, VALID_CDF),
    ("csv", _consume_csv, VALID_CSV),
    ("generic", _consume_generic, VALID_GENERIC),
    ("manifest", _manifest, VALID_MANIFEST),
    ("results-csv", _results, VALID_RESULTS_CSV),
    ("results-err", _results, VALID_ERR),
]
IDS = [r[0] for r in READERS]


def _only_input_error(read: Callable[[Path], None], path: Path) -> None:
    """Either the input still parses, or the reader says why with an InputError naming the file."""
    try:
        read(path)
    except InputError as exc:
        assert exc.file == str(path)


@pytest.mark.parametrize("name, read, valid", READERS, ids=IDS)
def test_valid_samples_parse(
    tmp_path: Path, name: str, read: Callable[[Path], None], valid: bytes
) -> None:
    path = tmp_path / "input"
    path.write_bytes(valid)
    read(path)  # the baseline the properties below perturb really is valid


@pytest.mark.parametrize("name, read, valid", READERS, ids=IDS)
@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(
    tmp_path: Path, name: str, read: Callable[[Path], None], valid: bytes, data: bytes
) -> None:
    path = tmp_path / "input"
    path.write_bytes(data)
    _only_input_error(read, path)


@pytest.mark.parametrize("name, read, valid", READERS, ids=IDS)
@SETTINGS
@given(cut=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_truncated(
    tmp_path: Path, name: str, read: Callable[[Path], None], valid: bytes, cut: float
) -> None:
    path = tmp_path / "input"
    path.write_bytes(valid[: int(len(valid) * cut)])
    _only_input_error(read, path)


@pytest.mark.parametrize("name, read, valid", READERS, ids=IDS)
@SETTINGS
@given(
    where=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    junk=st.sampled_from([b"\xff", b"\xc3", b"\xe9t\xe9", b"\x80\x80"]),
)
def test_not_utf8(
    tmp_path: Path, name: str, read: Callable[[Path], None], valid: bytes, where: float, junk: bytes
) -> None:
    at = int(len(valid) * where)
    path = tmp_path / "input"
    path.write_bytes(valid[:at] + junk + valid[at:])
    with pytest.raises(InputError) as info:
        read(path)
    assert info.value.file == str(path)
    assert "UTF-8" in str(info.value)
    line = valid[:at].count(b"\n") + 1
    assert info.value.record == f"line {line}"  # where the bad byte is


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in a decoded JSON document (objects' keys and arrays' indices)."""
    out: list[tuple[Any, ...]] = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.just([]),
    st.just({}),
    st.just([1, "x"]),
    st.just({"a": 1}),
)


@pytest.mark.parametrize(
    "name, read, valid",
    [r for r in READERS if r[0] in ("cdf", "results-err")],
    ids=["cdf", "results-err"],
)
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_json_fields_of_wrong_type(
    tmp_path: Path, name: str, read: Callable[[Path], None], valid: bytes, data: st.DataObject
) -> None:
    doc = json.loads(valid)
    where = data.draw(st.sampled_from(_paths(doc)))
    value = data.draw(WRONG)
    mutated = copy.deepcopy(doc)
    node = mutated
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path = tmp_path / "input.json"
    try:
        path.write_text(json.dumps(mutated))
    except ValueError:  # integers beyond what json can write as text are not an input case
        return
    _only_input_error(read, path)


def test_wrong_type_error_names_json_path(tmp_path: Path) -> None:
    doc = json.loads(VALID_CDF)
    doc["CVR"][1]["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0]["SelectionPosition"][
        0
    ]["NumberVotes"] = "1"
    path = tmp_path / "cvr.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as info:
        _consume_cdf(path)
    assert (
        info.value.record
        == "CVR[1].CVRSnapshot[0].CVRContest[0].CVRContestSelection[0].SelectionPosition[0]"
    )
    assert info.value.field == "NumberVotes"
    assert str(path) in str(info.value)
