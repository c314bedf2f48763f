"""Write a card table as a Dominion Democracy Suite CVR export folder.

The layout and fields follow real Democracy Suite 5.17 exports (the Alaska 2024 sample in
RCTab's regression data): ``CvrExport_<n>.json`` files (one per batch, as with the
``SplitFilesPerBatch`` export option) holding ``Sessions`` → ``Original`` → ``Cards`` →
``Contests`` → ``Marks``, plus the manifests that name contests, candidates, precinct portions,
tabulators, counting groups, ballot types, districts and parties. Marks are written the way the
tabulator reports them: an overvoted vote-for-N contest has its marks with ``IsVote: false`` and
outstack condition 5 (Overvote); an overvoted rank keeps ``IsVote: true`` with condition 9
(OvervotedRanking); a faint mark is ``IsAmbiguous: true`` and does not count; write-in marks
carry ``WriteinIndex`` instead of ``PartyId``.

JSON is assembled from cached fragments rather than per-card dicts: a contest's JSON depends
only on the ballot style and the pattern of marks, and there are few distinct patterns, so
100,000 cards are written in about a second. Output is byte-for-byte deterministic.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from ..model import ContestKind
from .county import (
    COUNTING_GROUPS,
    ELECTION_DATE,
    ELECTION_NAME,
    JURISDICTION,
    CardTable,
    County,
    Precinct,
    on_geo,
)

VERSION = "5.17.18.1"

# Outstack condition ids, as in Democracy Suite's OutstackConditionManifest.
AMBIGUOUS, OVERVOTE, UNDERVOTE, BLANK_CONTEST = 0, 5, 4, 6
OVERVOTED_RANKING, SKIPPED_RANKING, UNVOTED_RCV, UNUSED_RANKING = 9, 11, 13, 14

OUTSTACK_CONDITIONS = [
    (0, "Ambiguous"),
    (1, "Writein"),
    (2, "BlankBallot"),
    (5, "Overvote"),
    (4, "Undervote"),
    (6, "BlankContest"),
    (9, "OvervotedRanking"),
    (10, "InconsistentRcvOrdering"),
    (11, "SkippedRanking"),
    (12, "DuplicatedRcvCandidate"),
    (13, "UnvotedRcvContest"),
    (14, "UnusedRanking"),
    (7, "InvalidContest"),
]
PARTIES = {
    "D": (7, "Democratic"),
    "R": (15, "Republican"),
    "L": (10, "Libertarian"),
    "G": (9, "Green"),
    "N": (1, "Nonpartisan"),
}
#: Share of cards with a faint (ambiguous) mark next to a plurality contest's choices.
AMBIGUOUS_RATE = 0.003


@dataclass(frozen=True)
class DominionExport:
    folder: Path
    cvr_files: tuple[Path, ...]
    cards: int


def write_dominion(county: County, cards: CardTable, folder: Path) -> DominionExport:
    """Write ``cards`` (the county's paper, or a faulty reported copy) as an export folder.

    The folder is built beside its final name and renamed into place, so a crash never leaves
    a half-written export that could be ingested by mistake.
    """
    folder = Path(folder)
    staging = folder.with_name(folder.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    rng = np.random.Generator(np.random.PCG64([county.seed, 0xD0]))
    fragments = _contest_fragments(county, cards, rng)
    headers = _session_headers(cards)
    # One file per (tabulator, batch), in scan order.
    key = cards.tabulator.astype(np.int64) * 1_000_000 + cards.batch
    order = np.lexsort((cards.record, key))
    keys_sorted = key[order]
    bounds = np.flatnonzero(np.diff(keys_sorted)) + 1
    files: list[Path] = []
    prefix = f'{{"Version":"{VERSION}","ElectionId":{_js(ELECTION_NAME)},"Sessions":['.encode()
    for n, idx in enumerate(np.split(order, bounds), start=1):
        sessions = []
        for i in idx.tolist():
            body = ",".join(f for f in (col[i] for col in fragments) if f)
            sessions.append(
                f'{headers[i]}"Cards":[{{"Id":{1000 + int(cards.style[i]) + 1},'
                f'"KeyInId":{1000 + int(cards.style[i]) + 1},"PaperIndex":0,'
                f'"Contests":[{body}],"OutstackConditionIds":[]}}]}}}}'
            )
        path = staging / f"CvrExport_{n}.json"
        path.write_bytes(prefix + ",".join(sessions).encode() + b"]}")
        files.append(folder / path.name)
    _write_manifests(county, staging)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)
    return DominionExport(folder=folder, cvr_files=tuple(files), cards=len(cards))


# ---------------------------------------------------------------------------- sessions
def _js(value: str) -> str:
    return orjson.dumps(value).decode()


def _session_headers(cards: CardTable) -> list[str]:
    root = f"D:\\\\NAS\\\\{ELECTION_NAME}\\\\Results"
    out = []
    for t, b, r, g, p, s in zip(
        cards.tabulator.tolist(),
        cards.batch.tolist(),
        cards.record.tolist(),
        cards.counting_group.tolist(),
        cards.precinct.tolist(),
        cards.style.tolist(),
        strict=True,
    ):
        out.append(
            f'{{"TabulatorId":{t},"BatchId":{b},"RecordId":{r},"CountingGroupId":{g},'
            f'"ImageMask":"{root}\\\\Tabulator{t:05d}\\\\Batch{b:03d}\\\\Images\\\\'
            f'{t:05d}_{b:05d}_{r:06d}*.*","SessionType":"ScannedVote",'
            f'"VotingSessionIdentifier":"","UniqueVotingIdentifier":"",'
            f'"Original":{{"PrecinctPortionId":{p + 1},"BallotTypeId":{s + 1},"IsCurrent":true,'
        )
    return out


def _manifestation(style: int, contest: int, rank: int = 0, cand: int | None = None) -> int:
    """Layout ids (ManifestationId) of a contest or a mark position on a ballot style."""
    base = (style + 1) * 10_000 + (contest + 1) * 500
    return base if cand is None else base + 100 + rank * 10 + cand


def _contest_fragments(
    county: County, cards: CardTable, rng: np.random.Generator
) -> list[np.ndarray]:
    """Per contest, an object array of each card's contest JSON ("" if not on the card)."""
    out = []
    n = len(cards)
    for c, contest in enumerate(county.contests):
        marks = cards.marks[c]
        ranks, k = marks.shape[1], marks.shape[2]
        bits = marks.reshape(n, ranks * k).astype(np.int64) @ (
            1 << np.arange(ranks * k, dtype=np.int64)
        )
        amb = np.full(n, -1, dtype=np.int64)
        if contest.kind == ContestKind.PLURALITY:
            faint = rng.random(n) < AMBIGUOUS_RATE
            amb[faint] = rng.integers(0, k, size=int(faint.sum()))
            amb[
                faint & marks[:, 0, :].any(axis=1) & (marks[np.arange(n), 0, np.maximum(amb, 0)])
            ] = -1
        present = cards.on_card[:, c]
        key = np.stack([cards.style.astype(np.int64), bits, amb], axis=1)
        uniq, inverse = np.unique(key[present], axis=0, return_inverse=True)
        rendered = np.array(
            [_render_contest(county, c, int(s), int(b), int(a)) for s, b, a in uniq.tolist()],
            dtype=object,
        )
        frag = np.full(n, "", dtype=object)
        frag[present] = rendered[inverse.ravel()]
        out.append(frag)
    return out


def _mark(
    county: County,
    c: int,
    style: int,
    rank: int,
    cand: int,
    *,
    is_vote: bool,
    ambiguous: bool,
    conditions: list[int],
) -> str:
    cd = county.contests[c].candidates[cand]
    head = f'{{"CandidateId":{cd.id},"ManifestationId":{_manifestation(style, c, rank, cand)},'
    density = 10 if ambiguous else 100
    if cd.write_in:
        who = (
            f'"Rank":{rank + 1},"WriteinIndex":0,"MarkDensity":{density},'
            f'"WriteinDensity":{density},'
        )
    else:
        party = PARTIES[cd.party][0] if cd.party in PARTIES else 0
        who = f'"PartyId":{party},"Rank":{rank + 1},"MarkDensity":{density},'
    flags = (
        f'"IsAmbiguous":{"true" if ambiguous else "false"},'
        f'"IsVote":{"true" if is_vote else "false"},'
        f'"OutstackConditionIds":{str(conditions).replace(" ", "")}}}'
    )
    return head + who + flags


def _render_contest(county: County, c: int, style: int, bits: int, amb: int) -> str:
    contest = county.contests[c]
    k = len(contest.candidates)
    ranks = max(contest.ranks, 1)
    grid = [[bool(bits >> (r * k + j) & 1) for j in range(k)] for r in range(ranks)]
    marks: list[str] = []
    if contest.ranks:  # ranked contest
        used = [r for r in range(ranks) if any(grid[r])]
        conditions = []
        if not used:
            conditions = [UNVOTED_RCV]
        elif used != list(range(len(used))):
            conditions = [SKIPPED_RANKING]
        elif len(used) < ranks:
            conditions = [UNUSED_RANKING]
        for r in range(ranks):
            over = sum(grid[r]) > 1
            for j in range(k):
                if grid[r][j]:
                    marks.append(
                        _mark(
                            county,
                            c,
                            style,
                            r,
                            j,
                            is_vote=True,
                            ambiguous=False,
                            conditions=[OVERVOTED_RANKING] if over else [],
                        )
                    )
        under, over_n = (1 if not used else 0), 0
    else:
        chosen = [j for j in range(k) if grid[0][j]]
        over = len(chosen) > contest.vote_for and contest.kind != ContestKind.APPROVAL
        under = 0 if over else max(contest.vote_for - len(chosen), 0)
        over_n = contest.vote_for if over else 0
        conditions = (
            [OVERVOTE]
            if over
            else ([UNDERVOTE, BLANK_CONTEST] if not chosen else ([UNDERVOTE] if under else []))
        )
        if contest.kind == ContestKind.APPROVAL:
            conditions = [UNDERVOTE, BLANK_CONTEST] if not chosen else []
            under = 0
        for j in chosen:
            marks.append(
                _mark(
                    county,
                    c,
                    style,
                    0,
                    j,
                    is_vote=not over,
                    ambiguous=False,
                    conditions=[OVERVOTE] if over else [],
                )
            )
        if amb >= 0:
            marks.append(
                _mark(
                    county, c, style, 0, amb, is_vote=False, ambiguous=True, conditions=[AMBIGUOUS]
                )
            )
    return (
        f'{{"Id":{contest.id},"ManifestationId":{_manifestation(style, c)},"Undervotes":{under},'
        f'"Overvotes":{over_n},"OutstackConditionIds":{str(conditions).replace(" ", "")},'
        f'"Marks":[{",".join(marks)}]}}'
    )


# ---------------------------------------------------------------------------- manifests
def _manifest(folder: Path, name: str, items: list[dict[str, object]]) -> None:
    (folder / f"{name}.json").write_bytes(orjson.dumps({"Version": VERSION, "List": items}))


def _district_ids(county: County) -> dict[tuple[str, int], int]:
    geos = sorted({c.geo for c in county.contests})
    return {g: i + 1 for i, g in enumerate(geos)}


def _district_name(geo: tuple[str, int]) -> str:
    kind, v = geo
    return {
        "county": JURISDICTION,
        "cd": f"Congressional District {v}",
        "sd": f"State Senate District {10 + v}",
        "city": "City of Riverton",
    }[kind]


def _write_manifests(county: County, folder: Path) -> None:
    districts = _district_ids(county)
    _manifest(
        folder,
        "ElectionEventManifest",
        [
            {
                "Description": ELECTION_NAME,
                "Id": 1,
                "ExternalId": "",
                "Jurisdiction": JURISDICTION,
                "ElectionDate": ELECTION_DATE.replace("-", ""),
                "ElectionSignature": list(range(33, 65)),
            }
        ],
    )
    _manifest(
        folder,
        "ContestManifest",
        [
            {
                "Description": c.name,
                "Id": c.id,
                "ExternalId": "",
                "DistrictId": districts[c.geo],
                "VoteFor": c.vote_for,
                "NumOfRanks": c.ranks,
                "NumOfWriteins": sum(1 for x in c.candidates if x.write_in),
                "Disabled": 0,
                "Type": "Measure" if c.measure else "Candidacy",
            }
            for c in county.contests
        ],
    )
    _manifest(
        folder,
        "CandidateManifest",
        [
            {
                "Description": x.name,
                "Id": x.id,
                "ExternalId": "",
                "ContestId": c.id,
                "Type": "WriteIn" if x.write_in else "Regular",
                "Disabled": 0,
                "Affiliations": [PARTIES[x.party][0]] if x.party in PARTIES else [],
            }
            for c in county.contests
            for x in c.candidates
        ],
    )
    _manifest(
        folder,
        "PartyManifest",
        [
            {"Description": name, "Id": pid, "ExternalId": ""}
            for pid, name in sorted(PARTIES.values())
        ],
    )
    _manifest(
        folder,
        "CountingGroupManifest",
        [
            {"Description": desc, "Id": gid, "ExternalId": ""}
            for gid, (desc, _) in sorted(COUNTING_GROUPS.items())
        ],
    )
    _manifest(
        folder,
        "PrecinctManifest",
        [
            {"Description": p.name, "Id": p.id, "ExternalId": p.external_id}
            for p in county.precincts
        ],
    )
    _manifest(
        folder,
        "PrecinctPortionManifest",
        [
            {"Description": p.name, "Id": p.id, "ExternalId": p.external_id, "PrecinctId": p.id}
            for p in county.precincts
        ],
    )
    _manifest(
        folder,
        "DistrictTypeManifest",
        [
            {"Description": d, "Id": f"00000000-0000-4000-8000-00000000000{i}", "ExternalId": ""}
            for i, d in enumerate(("County", "Congressional", "State Senate", "Municipal"), start=1)
        ],
    )
    type_of = {"county": 1, "cd": 2, "sd": 3, "city": 4}
    _manifest(
        folder,
        "DistrictManifest",
        [
            {
                "Description": _district_name(g),
                "Id": i,
                "DistrictTypeId": f"00000000-0000-4000-8000-00000000000{type_of[g[0]]}",
                "ExternalId": "",
            }
            for g, i in sorted(districts.items(), key=lambda kv: kv[1])
        ],
    )
    _manifest(
        folder,
        "DistrictPrecinctPortionManifest",
        [
            {"DistrictId": i, "PrecinctPortionId": p.id}
            for g, i in sorted(districts.items(), key=lambda kv: kv[1])
            for p in county.precincts
            if _in_district(g, p)
        ],
    )
    _manifest(
        folder,
        "BallotTypeManifest",
        [
            {"Description": f"Ballot {s.id} - Type {s.id}", "Id": s.id, "ExternalId": ""}
            for s in county.styles
        ],
    )
    _manifest(
        folder,
        "BallotTypeContestManifest",
        [
            {"BallotTypeId": s.id, "ContestId": county.contests[c].id}
            for s in county.styles
            for c in s.contests
        ],
    )
    _manifest(
        folder,
        "TabulatorManifest",
        [
            {
                "Description": t.name,
                "Id": t.id,
                "VotingLocationNumber": t.location_number,
                "VotingLocationName": t.location,
                "ExternalId": "",
                "Type": t.kind,
                "ThresholdMin": 5 if t.kind == "ImagecastCentral" else 0,
                "ThresholdMax": 25 if t.kind == "ImagecastCentral" else 0,
                "WriteThresholdMin": 5 if t.kind == "ImagecastCentral" else 0,
                "WriteThresholdMax": 25 if t.kind == "ImagecastCentral" else 0,
            }
            for t in county.tabulators
        ],
    )
    _manifest(
        folder,
        "OutstackConditionManifest",
        [{"Description": d, "Id": i} for i, d in OUTSTACK_CONDITIONS],
    )
    (folder / "Configuration.json").write_bytes(
        orjson.dumps(
            {
                "IncludeTabulatorFilter": False,
                "TabulatorFilterValue": 0,
                "IncludeResultContainerFilter": False,
                "ResultContainerFilterValue": 0,
                "IncludeBallotTypeFilter": False,
                "BallotTypeFilterValue": 0,
                "ContestFilter": [],
                "PrecinctPortionFilter": [],
                "SplitFilesPerBatch": True,
                "IncludeOnlyPublishedResultContainers": True,
                "UseTabulatorFormat": False,
                "IncludeSessionDetails": True,
                "IncludeMarkDensity": True,
                "CvrType": 0,
                "CvrTurnoutTest": 0,
                "CvrSuppressionType": 0,
                "TurnoutThreshold": 0,
                "OutstackConditions": [],
            }
        )
    )


def _in_district(geo: tuple[str, int], p: Precinct) -> bool:
    return on_geo(geo, p)
