"""NIST SP 1500-103 Cast Vote Record CDF in XML: decoded safely into the shape of the JSON form,
so that one reader (:mod:`tallyproof.formats.nist_cdf`) applies the same rules to both.

Why apart from the JSON reader: XML needs its own decoding (namespaces, attributes, which
elements repeat, typed text) and its own safety rules; everything after decoding is shared.

The mapping (SP 1500-103's XML and JSON schemas describe the same model):

* an element becomes the JSON property of its local name (namespace prefixes dropped);
  ``ObjectId`` becomes ``@id`` and ``xsi:type`` becomes ``@type``; other attributes are ignored;
* elements the model allows to repeat (:data:`ARRAY_KEYS`) become arrays; any other element
  appearing twice in one parent is refused;
* ``IDREFS`` elements (``CandidateIds``, ``PartyIds``, ``ReportGeneratingDeviceIds``) are split on
  whitespace into arrays of ids; integer elements (:data:`INT_KEYS`) become integers and
  ``xsd:boolean`` elements (:data:`BOOL_KEYS`) booleans; anything else is its stripped text.

Safety: parsed by ``defusedxml`` with document type declarations forbidden (so no entity
expansion, internal or external, and no network access); a CDF file never needs a DTD.
Errors name the file, the line and column for malformed XML, and the element path
(``CVR[3].CVRSnapshot[0]...``, as the JSON reader's messages do) for bad values.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from ..errors import InputError

ROOT = "CastVoteRecordReport"
#: elements that may repeat in the SP 1500-103 model (arrays in the JSON form)
ARRAY_KEYS = frozenset({
    "CVR", "Election", "GpUnit", "Party", "ReportingDevice", "ReportType", "Code", "Candidate",
    "Contest", "ContestSelection", "CVRSnapshot", "CVRContest", "CVRContestSelection",
    "SelectionPosition", "Status", "BallotImage", "Annotation", "AdjudicatorName", "Hash",
    "Image", "ReportingUnitIds", "OtherStatus",
})
#: ``xsd:IDREFS`` elements: whitespace-separated ids
IDREFS_KEYS = frozenset({"CandidateIds", "PartyIds", "ReportGeneratingDeviceIds",
                         "ComposingGpUnitIds"})
INT_KEYS = frozenset({
    "NumberVotes", "Rank", "Overvotes", "Undervotes", "VotesAllowed", "NumberElected",
    "BatchSequenceId", "Selections", "WriteIns", "OptionPosition", "TotalNumberVotes",
    "SequenceOrder",
})
BOOL_KEYS = frozenset({"IsWriteIn"})
_XML_HEAD = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<")
_SNIFF = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?CastVoteRecordReport[\s>/]")


def looks_like_xml(head: bytes) -> bool:
    """The bytes start an XML document (after an optional byte-order mark and blanks)."""
    return _XML_HEAD.match(head) is not None


def sniff_head(head: bytes) -> bool:
    """The head of a file is an XML CDF report (its root element is CastVoteRecordReport)."""
    return looks_like_xml(head) and _SNIFF.search(head) is not None


#: key :func:`load_xml` sets on the decoded report, so the reader can tell XML from JSON
XML_MARK = "#xml"


def is_xml_report(report: Any) -> bool:
    return isinstance(report, dict) and report.get(XML_MARK) is True


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def load_xml(path: Path) -> dict[str, Any]:
    """Decode an XML CDF report into the JSON form's objects (rules in the module docstring)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=path) from exc
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except DefusedXmlException as exc:
        raise InputError(f"XML with a document type declaration or entities is refused "
                         f"(a CDF file needs neither): {exc}", file=path) from exc
    except ET.ParseError as exc:
        line, column = exc.position
        raise InputError(f"not well-formed XML ({exc})", file=path, record=f"line {line}, column {column + 1}") from exc
    if _local(root.tag) != ROOT:
        raise InputError(f"the root element is {_local(root.tag)!r}, not {ROOT!r}: not a NIST "
                         "SP 1500-103 cast vote record report", file=path, record=ROOT)
    report = _element(root, path, ROOT)
    if not isinstance(report, dict):
        raise InputError("the report element is empty", file=path, record=ROOT)
    report[XML_MARK] = True
    return report


def _element(el: ET.Element, path: Path, rec: str) -> Any:
    children = list(el)
    out: dict[str, Any] = {}
    for attr, value in el.attrib.items():
        name = _local(attr)
        if name == "ObjectId":
            out["@id"] = value
        elif name == "type":
            out["@type"] = value
    if not children:
        if not out:
            return (el.text or "").strip()
        text = (el.text or "").strip()
        if text:
            out["#text"] = text
        return out
    seen: Counter[str] = Counter()
    for child in children:
        key = _local(child.tag)
        if key in ARRAY_KEYS:
            crec = f"{rec}.{key}[{seen[key]}]"
        else:
            crec = f"{rec}.{key}"
            if seen[key]:
                raise InputError(f"element {key} appears more than once", file=path, record=rec,
                                 field=key)
        seen[key] += 1
        value = _typed(key, _element(child, path, crec), path, rec)
        if key in IDREFS_KEYS:
            out.setdefault(key, []).extend(value)
        elif key in ARRAY_KEYS:
            out.setdefault(key, []).append(value)
        else:
            out[key] = value
    return out


def _typed(key: str, value: Any, path: Path, rec: str) -> Any:
    if key in IDREFS_KEYS:
        if not isinstance(value, str):
            raise InputError(f"{key} must hold ids separated by spaces", file=path, record=rec,
                             field=key)
        return value.split()
    if key in INT_KEYS:
        if not isinstance(value, str) or not re.fullmatch(r"[+-]?\d+", value):
            raise InputError(f"expected an integer, found {value!r}", file=path, record=rec,
                             field=key)
        return int(value)
    if key in BOOL_KEYS:
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise InputError(f"expected true or false, found {value!r}", file=path, record=rec,
                         field=key)
    return value
