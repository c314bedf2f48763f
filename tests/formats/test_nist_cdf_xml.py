"""NIST SP 1500-103 CDF in XML: the same report read from XML and from JSON gives the same rows;
hostile or malformed XML is refused with an error naming the file and the place."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from tallyproof.errors import InputError
from tallyproof.formats import nist_cdf
from tallyproof.formats.nist_cdf_xml import ARRAY_KEYS, IDREFS_KEYS
from tests.formats.test_nist_cdf import cvr, position, report, rows, selection, write

NS = "http://itl.nist.gov/ns/voting/1500-103/v1"


def to_xml(doc: Any, tag: str = "CastVoteRecordReport") -> str:
    """The JSON form of a report as SP 1500-103 XML (ObjectId attributes, repeated elements)."""
    attrs = ""
    if tag == "CastVoteRecordReport":
        attrs += f' xmlns="{NS}"'
    if isinstance(doc, dict):
        if "@id" in doc:
            attrs += f' ObjectId="{escape(doc["@id"])}"'
        inner = "".join(_member(k, v) for k, v in doc.items() if not k.startswith("@"))
        return f"<{tag}{attrs}>{inner}</{tag}>"
    if isinstance(doc, bool):
        return f"<{tag}>{'true' if doc else 'false'}</{tag}>"
    return f"<{tag}>{escape(str(doc))}</{tag}>"


def _member(key: str, value: Any) -> str:
    if key in IDREFS_KEYS:
        return f"<{key}>{' '.join(value)}</{key}>"
    if isinstance(value, list):
        assert key in ARRAY_KEYS, key
        return "".join(to_xml(v, key) for v in value)
    return to_xml(value, key)


def _doc() -> dict[str, Any]:
    return report([
        cvr("b1", [{"ContestId": "mayor", "CVRContestSelection": [selection("s-b")]},
                   {"ContestId": "rcv", "CVRContestSelection": [
                       selection("r-c", position(rank=1)), selection("r-a", position(rank=2))]}],
            BallotStyleUnitId="p1", BatchId="7", BatchSequenceId=3),
        cvr("b2", [{"ContestId": "rcv", "Overvotes": 1, "CVRContestSelection": [
            selection("r-a", position(rank=1)), selection("r-b", position(rank=1))]}]),
        cvr("b3", [{"ContestId": "mayor", "CVRContestSelection": [
            selection("s-wi"), {**selection("s-a"), "Status": ["needs-adjudication"]}]}]),
    ])


def test_xml_and_json_give_the_same_rows(tmp_path: Path) -> None:
    doc = _doc()
    json_path = write(tmp_path, doc)
    xml_path = tmp_path / "cvr.xml"
    xml_path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + to_xml(doc))
    e_json, r_json = rows(json_path)
    e_xml, r_xml = rows(xml_path)
    assert e_xml == e_json
    drop = ("source_file",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in r_xml] == \
        [{k: v for k, v in r.items() if k not in drop} for r in r_json]
    assert r_xml[0]["contest:rcv"] == [[2], [0]] and r_xml[0]["precinct"] == "p1"
    # the selection that needs adjudication is skipped: only the write-in (code 2) counts
    assert r_xml[2]["contest:mayor"] == [[2]]
    assert nist_cdf.sniff(xml_path)


def test_xml_without_ids_gets_rctab_positional_ids(tmp_path: Path) -> None:
    doc = _doc()
    for c in doc["CVR"]:
        del c["UniqueId"]
    path = tmp_path / "r.xml"
    path.write_text(to_xml(doc))
    _, got = rows(path)
    assert [r["ballot_id"] for r in got] == ["r.xml(1)", "r.xml(2)", "r.xml(3)"]
    with pytest.raises(InputError, match="no UniqueId"):  # JSON stays strict
        rows(write(tmp_path, doc))


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<CastVoteRecordReport><Notes>&lol3;</Notes></CastVoteRecordReport>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<CastVoteRecordReport><Notes>&x;</Notes></CastVoteRecordReport>"""


@pytest.mark.parametrize("text", [BOMB, EXTERNAL])
def test_entities_and_dtds_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "evil.xml"
    path.write_text(text)
    with pytest.raises(InputError, match="document type declaration") as info:
        nist_cdf.read(path, {})
    assert "evil.xml" in str(info.value)


@pytest.mark.parametrize(("text", "match"), [
    ("<CastVoteRecordReport><CVR></CastVoteRecordReport>", "line 1, column"),
    ("<Other/>", "root element is 'Other'"),
    ("<CastVoteRecordReport><Version>1</Version><Version>2</Version></CastVoteRecordReport>",
     "Version appears more than once"),
])
def test_malformed_xml_names_the_place(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        nist_cdf.read(path, {})


def test_bad_value_names_the_element(tmp_path: Path) -> None:
    doc = _doc()
    doc["CVR"][0]["CVRSnapshot"][0]["CVRContest"][0]["CVRContestSelection"][0][
        "SelectionPosition"][0]["NumberVotes"] = "one"
    path = tmp_path / "bad.xml"
    path.write_text(to_xml(doc))
    with pytest.raises(InputError, match="expected an integer") as info:
        nist_cdf.read(path, {})
    text = str(info.value)
    assert "CVR[0].CVRSnapshot[0].CVRContest[0].CVRContestSelection[0].SelectionPosition[0]" \
        in text and "NumberVotes" in text


def test_error_names_the_format_not_json(tmp_path: Path) -> None:
    path = tmp_path / "cvr.xml"
    path.write_text("<CastVoteRecordReport><CVR>")
    with pytest.raises(InputError) as info:
        nist_cdf.read(path, {})
    assert "JSON" not in str(info.value) and "XML" in str(info.value)
