"""Clarity (Scytl) election-night results XML: the ``ElectionResult`` files many US states and
counties publish, at state level (votes per county) and in per-county detail (votes per precinct).

::

    <ElectionResult>
      <Timestamp>11/20/2020 3:37:06 PM EST</Timestamp>
      <ElectionName>…</ElectionName> <ElectionDate>11/3/2020</ElectionDate> <Region>GA</Region>
      <ElectionVoterTurnout totalVoters=… ballotsCast=…>
        <Counties|Precincts> <County|Precinct name=… precinctsReported=… ballotsCast=…/> …
      </ElectionVoterTurnout>
      <Contest key=… text=… voteFor=… isQuestion=…>
        <Choice key=… text=… party=… totalVotes=…>
          <VoteType name="Election Day Votes" votes=…> <County|Precinct name=… votes=…/> …
        </Choice>
        <VoteType name="Undervotes" votes=…> <County|Precinct …/> </VoteType>   (optional)
      </Contest>
    </ElectionResult>

Everything becomes one Arrow table of vote counts (contest, choice, vote type, reporting unit,
votes) plus the units' turnout, so a snapshot compares with another by a DuckDB join. The file
is parsed with ``defusedxml`` (no entity expansion, no external entities: a results file is
untrusted input). Every count is checked: a choice's ``totalVotes`` must equal the sum of its
vote types, and each vote type's ``votes`` the sum of its units, or the file contradicts itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import pyarrow as pa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ..errors import InputError
from .detect import read_bytes

#: US time zone abbreviations Clarity prints after the time.
ZONES = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
         "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "UTC": 0, "GMT": 0}
TIMESTAMP = re.compile(r"(\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M)\s+([A-Z]{2,4})")
#: Contest-level VoteType names that count ballots, not a choice's votes.
CONTEST_LEVEL = "(contest)"

VOTES_SCHEMA = pa.schema([
    ("contest_key", pa.string()), ("contest", pa.string()),
    ("choice_key", pa.string()), ("choice", pa.string()), ("party", pa.string()),
    ("vote_type", pa.string()), ("unit", pa.string()), ("votes", pa.int64()),
])


@dataclass(frozen=True)
class ClarityContest:
    key: str
    name: str
    vote_for: int
    is_question: bool
    precincts_participating: int | None
    precincts_reported: int | None


@dataclass(frozen=True)
class ClarityResults:
    """One Clarity snapshot. ``votes`` has a row per (contest, choice, vote type, unit); rows
    for contest-level counts (undervotes, overvotes) have ``choice_key`` ``"(contest)"``."""

    path: str
    sha256: str
    timestamp: str  # as printed
    timestamp_utc: str  # ISO 8601, UTC
    election_name: str
    election_date: str
    region: str
    unit_kind: str  # "county" (state-level file) or "precinct" (county detail file)
    contests: tuple[ClarityContest, ...]
    votes: pa.Table
    turnout: pa.Table  # unit, precincts_participating, precincts_reported, ballots_cast, …


def parse_timestamp(text: str, path: Path | str = "") -> str:
    """``"11/20/2020 3:37:06 PM EST"`` → ``"2020-11-20T20:37:06Z"``."""
    m = TIMESTAMP.fullmatch(text.strip())
    if not m or m[2] not in ZONES:
        raise InputError(f"timestamp {text!r} is not 'M/D/YYYY h:mm:ss AM|PM ZONE'", file=path,
                         field="Timestamp")
    local = datetime.strptime(m[1], "%m/%d/%Y %I:%M:%S %p")
    utc = (local - timedelta(hours=ZONES[m[2]])).replace(tzinfo=timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Doc:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, el: Element, where: str, message: str, attr: str | None = None) -> InputError:
        return InputError(message, file=self.path, record=where, field=attr)

    def text(self, root: Element, tag: str) -> str:
        el = root.find(tag)
        if el is None or not (el.text or "").strip():
            raise InputError(f"no <{tag}> in <ElectionResult>", file=self.path, field=tag)
        return (el.text or "").strip()

    def attr(self, el: Element, where: str, name: str) -> str:
        value = el.get(name)
        if value is None:
            raise self.fail(el, where, f"<{el.tag}> has no {name} attribute", name)
        return value

    def count(self, el: Element, where: str, name: str) -> int:
        value = self.attr(el, where, name)
        raw = value.strip().replace(",", "")
        if not re.fullmatch(r"\d+", raw):
            raise self.fail(el, where, f"{name}={value!r} is not a whole number", name)
        return int(raw)

    def opt_count(self, el: Element, where: str, name: str) -> int | None:
        return None if el.get(name) is None else self.count(el, where, name)


def read_clarity(path: Path) -> ClarityResults:
    """Read a Clarity ``ElectionResult`` XML file (state summary or county detail)."""
    path = Path(path)
    raw = read_bytes(path)
    try:
        root = fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InputError(f"refused XML construct ({type(exc).__name__}): results files carry "
                         "no DTDs or entities", file=path) from exc
    except ParseError as exc:
        line, col = exc.position
        raise InputError(f"not well-formed XML: {exc}", file=path,
                         record=f"line {line}, column {col}") from exc
    if root.tag != "ElectionResult":
        raise InputError(f"not a Clarity results file: the root element is <{root.tag}>, "
                         "not <ElectionResult>", file=path)
    d = _Doc(path)
    stamp = d.text(root, "Timestamp")
    cols: dict[str, list] = {f.name: [] for f in VOTES_SCHEMA}
    contests: list[ClarityContest] = []
    unit_tags: set[str] = set()
    seen_keys: set[str] = set()
    for ci, contest in enumerate(root.findall("Contest")):
        where = f"Contest[{ci}]"
        key = d.attr(contest, where, "key")
        if key in seen_keys:
            raise d.fail(contest, where, f"contest key {key!r} appears twice", "key")
        seen_keys.add(key)
        name = d.attr(contest, where, "text")
        vote_for = d.count(contest, where, "voteFor")
        contests.append(ClarityContest(
            key, name, vote_for, contest.get("isQuestion", "false").lower() == "true",
            d.opt_count(contest, where, "precinctsParticipating"),
            d.opt_count(contest, where, "precinctsReported")))

        def add(choice_key: str, choice: str, party: str, vt: Element, vwhere: str) -> int:
            vt_name = d.attr(vt, vwhere, "name")
            total = d.count(vt, vwhere, "votes")
            unit_sum = 0
            for ui, unit in enumerate(vt):
                uwhere = f"{vwhere}/{unit.tag}[{ui}]"
                unit_tags.add(unit.tag)
                votes = d.count(unit, uwhere, "votes")
                unit_sum += votes
                for col, value in (("contest_key", key), ("contest", name),
                                   ("choice_key", choice_key), ("choice", choice),
                                   ("party", party), ("vote_type", vt_name),
                                   ("unit", d.attr(unit, uwhere, "name")), ("votes", votes)):
                    cols[col].append(value)
            if len(vt) and unit_sum != total:
                raise d.fail(vt, vwhere, f"votes={total} but its units add up to {unit_sum}",
                             "votes")
            return total

        for hi, choice in enumerate(contest.findall("Choice")):
            cwhere = f"{where}/Choice[{hi}]"
            ckey, ctext = d.attr(choice, cwhere, "key"), d.attr(choice, cwhere, "text")
            total = d.count(choice, cwhere, "totalVotes")
            by_type = sum(add(ckey, ctext, choice.get("party", ""), vt, f"{cwhere}/VoteType[{vi}]")
                          for vi, vt in enumerate(choice.findall("VoteType")))
            if choice.findall("VoteType") and by_type != total:
                raise d.fail(choice, cwhere, f"totalVotes={total} but its vote types add up to "
                                             f"{by_type}", "totalVotes")
        for vi, vt in enumerate(contest.findall("VoteType")):
            add(CONTEST_LEVEL, CONTEST_LEVEL, "", vt, f"{where}/VoteType[{vi}]")
    if len(unit_tags) > 1:
        raise InputError(f"units of two kinds ({', '.join(sorted(unit_tags))}) in one file",
                         file=path)
    unit_kind = (unit_tags.pop() if unit_tags else "County").lower()
    return ClarityResults(
        path=str(path), sha256=hashlib.sha256(raw).hexdigest(), timestamp=stamp,
        timestamp_utc=parse_timestamp(stamp, path),
        election_name=d.text(root, "ElectionName"), election_date=d.text(root, "ElectionDate"),
        region=(root.findtext("Region") or "").strip(), unit_kind=unit_kind,
        contests=tuple(contests), votes=pa.table(cols, schema=VOTES_SCHEMA),
        turnout=_turnout(d, root))


def _turnout(d: _Doc, root: Element) -> pa.Table:
    names: list[str] = []
    fields = ("precinctsParticipating", "precinctsReported", "ballotsCast", "totalVoters")
    values: dict[str, list[int | None]] = {f: [] for f in fields}
    turnout = root.find("ElectionVoterTurnout")
    units = [] if turnout is None else [u for group in turnout for u in group]
    for ui, unit in enumerate(units):
        where = f"ElectionVoterTurnout/{unit.tag}[{ui}]"
        names.append(d.attr(unit, where, "name"))
        for f in fields:
            values[f].append(d.opt_count(unit, where, f))
    return pa.table({
        "unit": pa.array(names, pa.string()),
        "precincts_participating": pa.array(values["precinctsParticipating"], pa.int64()),
        "precincts_reported": pa.array(values["precinctsReported"], pa.int64()),
        "ballots_cast": pa.array(values["ballotsCast"], pa.int64()),
        "registered_voters": pa.array(values["totalVoters"], pa.int64()),
    })
