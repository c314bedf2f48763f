"""Small synthetic vendor exports, written on the fly by the tests (never committed).

Each writer follows the real layout of the samples in ../shared/data/rctab closely enough that
the readers take the same code paths, and returns what it wrote so tests can check the reader's
output against the writer's intent.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

# --------------------------------------------------------------------------------------------
# Dominion


DOMINION_CANDIDATES = {
    # contest id → [(candidate id, name, type)]
    1: [(1, "Alice Adams", "Regular"), (2, "Bob Brown", "Regular"), (3, "Cy Chu", "Regular"), (9, "Write-in", "WriteIn")],
    2: [(4, "Yes", "Regular"), (5, "No", "Regular")],
    3: [(6, "Dee Diaz", "Regular"), (7, "Eve Eng", "Regular"), (8, "Fay Fox", "Regular")],
}


def dominion_manifests(folder: Path) -> None:
    """Write the manifests of a three-contest election: 1 = IRV (3 ranks), 2 = vote for 1,
    3 = vote for 2."""
    folder.mkdir(parents=True, exist_ok=True)

    def put(name: str, rows: list[dict[str, Any]]) -> None:
        (folder / f"{name}.json").write_bytes(orjson.dumps({"Version": "5.17.18.1", "List": rows}))

    put(
        "ContestManifest",
        [
            {"Description": "Mayor", "Id": 1, "ExternalId": "", "DistrictId": 1, "VoteFor": 1, "NumOfRanks": 3},
            {"Description": "Measure A", "Id": 2, "ExternalId": "", "DistrictId": 1, "VoteFor": 1, "NumOfRanks": 0},
            {"Description": "Council", "Id": 3, "ExternalId": "", "DistrictId": 1, "VoteFor": 2, "NumOfRanks": 0},
        ],
    )
    put(
        "CandidateManifest",
        [
            {"Description": n, "Id": cid, "ExternalId": "", "ContestId": ct, "Type": t}
            for ct, cands in DOMINION_CANDIDATES.items()
            for cid, n, t in cands
        ],
    )
    put("PrecinctPortionManifest", [{"Description": "P-1", "Id": 1, "ExternalId": "", "PrecinctId": 1},
                                    {"Description": "P-2", "Id": 2, "ExternalId": "", "PrecinctId": 2}])  # fmt: skip
    put("BallotTypeManifest", [{"Description": "Style 1", "Id": 1, "ExternalId": ""}])
    put("CountingGroupManifest", [{"Description": "Election Day", "Id": 1, "ExternalId": ""},
                                  {"Description": "Absentee", "Id": 2, "ExternalId": ""}])  # fmt: skip
    put("OutstackConditionManifest", [{"Description": "Ambiguous", "Id": 0}, {"Description": "InvalidContest", "Id": 7}])
    put("ElectionEventManifest", [{"Description": "Test Election", "Id": 1, "ExternalId": "",
                                   "Jurisdiction": "Test County", "ElectionDate": "20241105"}])  # fmt: skip


def _mark(cid: int, rank: int, ambiguous: bool = False) -> dict[str, Any]:
    return {"CandidateId": cid, "ManifestationId": cid, "PartyId": 0, "Rank": rank, "MarkDensity": 100,
            "IsAmbiguous": ambiguous, "IsVote": not ambiguous, "OutstackConditionIds": []}  # fmt: skip


def _contest(cid: int, marks: list[dict[str, Any]], conds: list[int] | None = None) -> dict[str, Any]:
    return {"Id": cid, "ManifestationId": cid, "Undervotes": 0, "Overvotes": 0,
            "OutstackConditionIds": conds or [], "Marks": marks}  # fmt: skip


def dominion_session(
    tab: int, batch: int, rec: int, cards: list[list[dict[str, Any]]], *, group: int = 1, portion: int = 1,
    modified: list[list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A session; ``cards`` is a list of cards, each a list of contest objects (see
    :func:`_contest`). With ``modified`` the Original is not current and Modified holds those."""

    def version(cs: list[list[dict[str, Any]]], current: bool) -> dict[str, Any]:
        return {"PrecinctPortionId": portion, "BallotTypeId": 1, "IsCurrent": current,
                "Cards": [{"Id": 1000 + k, "KeyInId": 1000 + k, "PaperIndex": k, "Contests": c,
                           "OutstackConditionIds": []} for k, c in enumerate(cs)]}  # fmt: skip

    s: dict[str, Any] = {"TabulatorId": tab, "BatchId": batch, "RecordId": rec, "CountingGroupId": group,
                         "ImageMask": "x", "SessionType": "ScannedVote", "VotingSessionIdentifier": "",
                         "UniqueVotingIdentifier": "", "Original": version(cards, modified is None)}  # fmt: skip
    if modified is not None:
        s["Modified"] = version(modified, True)
    return s


def write_dominion_export(folder: Path, files: dict[str, list[dict[str, Any]]]) -> Path:
    """Manifests plus one CvrExport file per entry of ``files`` (name → sessions)."""
    dominion_manifests(folder)
    for name, sessions in files.items():
        doc = {"Version": "5.17.18.1", "ElectionId": "Test Election", "Sessions": sessions}
        (folder / name).write_bytes(orjson.dumps(doc))
    return folder


def small_dominion(folder: Path) -> Path:
    """A hand-made export exercising every rule; expected rows are in test_dominion.py."""
    c1 = 1
    sessions_a = [
        # ranked: Alice 1st, Bob 2nd; Measure A Yes
        dominion_session(10, 1, 1, [[_contest(c1, [_mark(1, 1), _mark(2, 2)]), _contest(2, [_mark(4, 1)])]]),
        # overvote at rank 1 (Alice + Bob), ambiguous Cy at rank 2 (not a vote)
        dominion_session(10, 1, 2, [[_contest(c1, [_mark(1, 1), _mark(2, 1), _mark(3, 2, ambiguous=True)])]]),
        # adjudicated: Original not current; Modified says Cy 1st; absentee group, precinct 2
        dominion_session(10, 1, 3, [[_contest(c1, [_mark(1, 1)])]], group=2, portion=2,
                         modified=[[_contest(c1, [_mark(3, 1)])]]),  # fmt: skip
        # two cards: card 1 mayor (skips rank 1), card 2 council vote-for-2
        dominion_session(10, 1, 4, [[_contest(c1, [_mark(2, 2)])], [_contest(3, [_mark(6, 1), _mark(8, 1)])]]),
    ]
    sessions_b = [
        # partial ballot: the mayor contest carries InvalidContest (7) → left off; Measure A kept
        dominion_session(11, 2, 1, [[_contest(c1, [_mark(1, 1)], [7]), _contest(2, [_mark(5, 1)])]]),
        # write-in at rank 3
        dominion_session(11, 2, 2, [[_contest(c1, [_mark(9, 3)])]]),
    ]
    return write_dominion_export(folder, {"CvrExport_3.json": sessions_a, "CvrExport_17.json": sessions_b})


def big_dominion(folder: Path, cards: int, per_file: int = 5_000, seed: int = 1) -> Path:
    """A synthetic export of ``cards`` single-card sessions (for the throughput benchmark),
    written one file at a time so the writer's memory stays small too."""
    rng = random.Random(seed)
    dominion_manifests(folder)
    n = 0
    f = 0
    while n < cards:
        sessions = []
        for _ in range(min(per_file, cards - n)):
            n += 1
            order = rng.sample([1, 2, 3, 9], 3)
            sessions.append(
                dominion_session(
                    100 + f % 7, f, n,
                    [[_contest(1, [_mark(c, r + 1) for r, c in enumerate(order)]),
                      _contest(2, [_mark(rng.choice((4, 5)), 1)]),
                      _contest(3, [_mark(6, 1), _mark(rng.choice((7, 8)), 1)])]],
                    group=rng.choice((1, 2)), portion=rng.choice((1, 2)),
                )
            )  # fmt: skip
        doc = {"Version": "5.17.18.1", "ElectionId": "Test Election", "Sessions": sessions}
        (folder / f"CvrExport_{f * 3}.json").write_bytes(orjson.dumps(doc))
        f += 1
    return folder


# --------------------------------------------------------------------------------------------
# ES&S


@dataclass(frozen=True)
class EssSample:
    path: Path
    rows: list[list[str]]  # the rank cells of each data row


ESS_ROWS = [
    ["Ann", "Ben", "undervote"],
    ["overvote", "Ann", "Cat"],
    ["undervote", "UWI", "Ben"],
    ["Cat", "", "Ann"],
    ["Ben|Cat", "Ann", "undervote"],
]


def write_ess_xlsx(path: Path, rows: list[list[str]] = ESS_ROWS, with_count: bool = True) -> EssSample:
    """A minimal ES&S-style workbook (header row, Precinct, 3 choices, Count), written as raw
    Office Open XML so the tests need no spreadsheet writer."""
    import zipfile
    from xml.sax.saxutils import escape

    header = ["Cast Vote Record", "Precinct", "1st Choice", "2nd Choice", "3rd Choice"] + (["Count"] if with_count else [])
    table: list[list[Any]] = [header]
    for i, r in enumerate(rows, start=1):
        table.append([i, f"P-{i % 2}", *r] + ([1] if with_count else []))

    def cell(ref: str, v: Any) -> str:
        if isinstance(v, int):
            return f'<c r="{ref}"><v>{v}</v></c>'
        if v == "":
            return ""
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'

    def col(i: int) -> str:
        return chr(ord("A") + i)

    sheet_rows = "".join(
        f'<row r="{n}">' + "".join(cell(f"{col(i)}{n}", v) for i, v in enumerate(r)) + "</row>"
        for n, r in enumerate(table, start=1)
    )
    files = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Marked Sheet" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{sheet_rows}</sheetData></worksheet>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), files[name])
    return EssSample(path, rows)


# --------------------------------------------------------------------------------------------
# Hart

HART_NS = "http://tempuri.org/CVRDesign.xsd"
HART_RCV = "b651b997-0000-0000-0000-000000000001"
HART_PLU = "b651b997-0000-0000-0000-000000000002"
HART_UWI = "99cefa84-0000-0000-0000-000000000009"
HART_CANDS = {"c1": "Ann Hart", "c2": "Ben Hart", "c3": "Cat Hart"}


def hart_sheet(guid: str, rcv: dict[str, str] | None, plu: list[str] | None, *, batch: int = 1, seq: int = 1,
               precinct: str = "101") -> str:  # fmt: skip
    """One sheet: ``rcv`` maps option id → bit-string (``HART_UWI`` = undeclared write-in),
    ``plu`` lists option ids marked in the vote-for-1 contest; None = contest not on the sheet."""
    contests = ""
    if rcv is not None:
        opts = "".join(
            (f"<Option><Id>{oid}</Id><Value>{bits}</Value><WriteInData><Text/><ImageId>x</ImageId>"
             f"<WriteInDataStatus>Unresolved</WriteInDataStatus></WriteInData></Option>")
            if oid == HART_UWI
            else f"<Option><Name>{HART_CANDS[oid]}</Name><Id>{oid}</Id><Value>{bits}</Value></Option>"
            for oid, bits in rcv.items()
        )  # fmt: skip
        contests += f"<Contest><Name>SCHOOL BOARD</Name><Id>{HART_RCV}</Id><Options>{opts}</Options></Contest>"
    if plu is not None:
        opts = "".join(f"<Option><Name>{HART_CANDS[o]}</Name><Id>{o}</Id><Value>1</Value></Option>" for o in plu)
        contests += f"<Contest><Name>SHERIFF</Name><Id>{HART_PLU}</Id><Options>{opts}</Options></Contest>"
    return (
        '\ufeff<?xml version="1.0" encoding="utf-8"?>'
        f'<Cvr xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="{HART_NS}">'
        f"<Contests>{contests}</Contests><BatchSequence>{seq}</BatchSequence><SheetNumber>1</SheetNumber>"
        f"<PrecinctSplit><Name>{precinct}</Name><Id>p-{precinct}</Id></PrecinctSplit>"
        f"<BatchNumber>{batch}</BatchNumber><CvrGuid>{guid}</CvrGuid></Cvr>"
    )


def write_hart_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sheets = {
        "g1": ({"c1": "100", "c2": "010"}, ["c3"]),
        "g2": ({"c1": "110", "c3": "001"}, ["c1", "c2"]),  # overvote at rank 1; sheriff overvote
        "g3": ({HART_UWI: "001", "c2": "100"}, []),
        "g4": (None, ["c2"]),
        "g5": ({}, None),  # contest on the sheet, no marks
    }
    for k, (guid, (rcv, plu)) in enumerate(sheets.items(), start=1):
        (folder / f"1_{guid}.xml").write_text(hart_sheet(guid, rcv, plu, seq=k), encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------
# Clear Ballot

CB_FIXED = ["RowNumber", "BoxID", "BoxPosition", "BallotID", "PrecinctID", "BallotStyleID",
            "PrecinctStyleName", "ScanComputerName", "Status", "Remade"]  # fmt: skip
CB_RCV = ["Ann", "Ben", "Cat"]


def write_clearballot_csv(path: Path, ballots: list[tuple[list[list[str]], str | None]]) -> Path:
    """``ballots``: (ranked choices per rank (names), plurality choice or None for "not on the
    card"). The ranked contest has 3 ranks, the plurality contest ("Sheriff") is vote for 1."""
    header = list(CB_FIXED)
    for r in range(1, 4):
        for i, c in enumerate(CB_RCV):
            header.append(f"Choice_{(r - 1) * 3 + i + 1}_1:Mayor:{r}:Vote For 1:{c}:NP")
    for i, c in enumerate(["Dee", "Eve"]):
        header.append(f"Choice_{10 + i}_1:Sheriff:1:Vote For 1:{c}:NP")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for n, (ranks, sheriff) in enumerate(ballots, start=1):
            row = [str(n), "BOX-1", str(n), f"BOX-1+{n}", "7", "3", "Precinct", "SCAN-1", "0", "0"]
            for r in range(3):
                row += ["1" if c in (ranks[r] if r < len(ranks) else []) else "0" for c in CB_RCV]
            if sheriff is None:
                row += ["", ""]
            else:
                row += ["1" if sheriff == c else "0" for c in ["Dee", "Eve"]]
            w.writerow(row)
    return path


# --------------------------------------------------------------------------------------------
# RCTab regression cases (../shared/data/rctab)

PROVIDER_FORMAT = {"ess": "ess", "dominion": "dominion", "hart": "hart", "clearBallot": "clearballot"}


@dataclass(frozen=True)
class RctabCase:
    config: dict[str, Any]
    source: dict[str, Any]  # the cvrFileSource, with the config's candidates added
    path: Path
    fmt: str

    def expected_report(self, folder: Path) -> dict[str, Any] | None:
        name = folder / f"{folder.name}_expected_detailed_report.json"
        return orjson.loads(name.read_bytes()) if name.exists() else None


def rctab_case(rctab_data: Path, case: str) -> RctabCase:
    folder = rctab_data / case
    config = orjson.loads((folder / f"{case}_config.json").read_bytes())
    source = dict(config["cvrFileSources"][0])
    source["candidates"] = config["candidates"]
    return RctabCase(config, source, folder / source["filePath"], PROVIDER_FORMAT[source["provider"]])


def rctab_first_round(marks_column: list[Any], names: list[str], rules: dict[str, Any]) -> dict[str, int]:
    """Round-1 tally the way RCTab counts it (its overvote rule and maximum skipped ranks), with
    the inactive reasons under keys in parentheses. An independent few lines, so the test checks
    the reader against RCTab's published numbers, not against the tabulator being built."""
    from tallyproof.model import OVERVOTE_UNKNOWN

    max_skip_text = str(rules.get("maxSkippedRanksAllowed", "unlimited"))
    max_skip = 10**9 if max_skip_text in ("unlimited", "") else int(max_skip_text)
    tally: dict[str, int] = {}

    def bump(key: str) -> None:
        tally[key] = tally.get(key, 0) + 1

    for marks in marks_column:
        if marks is None:
            continue
        last = 0
        for rank, cell in enumerate(marks, start=1):
            if not cell:
                continue
            if rank - last - 1 > max_skip:
                bump("(skipped)")
                break
            if len(cell) > 1 or cell[0] == OVERVOTE_UNKNOWN:
                if rules["overvoteRule"] == "exhaustImmediately":
                    bump("(overvote)")
                    break
                last = rank
                continue
            bump(names[cell[0]])
            break
        else:
            bump("(undervote)")
    return tally


# --------------------------------------------------------------------------------------------
# Dominion's CSV export, written from a JSON export (the same cards, the CSV layout)

from tallyproof.demo.dominion_csv_writer import (  # noqa: E402,F401 - re-exported
    DOMINION_CSV_TITLES,
    dominion_csv_from_json,
)


def needs_zip_version(path: Path, member: str, version: int = 64) -> None:
    """Set ``member``'s "version needed to extract" in the zip's central directory (APPNOTE
    4.3.12; 64 means 6.4): Python's zipfile then refuses to open it with
    ``NotImplementedError``, as it does for a damaged header asking for that version."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        n, extra, comment = (int.from_bytes(data[at + k:at + k + 2], "little") for k in (28, 30, 32))
        if bytes(data[at + 46:at + 46 + n]) == name:
            data[at + 6:at + 8] = version.to_bytes(2, "little")
            path.write_bytes(bytes(data))
            return
        at = data.find(b"PK\x01\x02", at + 46 + n + extra + comment)
    raise ValueError(f"{member} is not in {path}")
