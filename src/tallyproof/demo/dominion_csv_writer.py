"""Dominion's CSV export (``CvrExport.csv``) written from a Dominion JSON export folder.

The demo uses it to give a synthetic state counties that export CSV, as Arlo and ColoradoRLA
read it; the reader tests use it to check that both exports of the same cards read alike. It
is written independently of the readers (:mod:`tallyproof.formats.dominion_csv`): the layout
is taken from Dominion's documentation of the export, not from the reader's code.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import orjson

DOMINION_CSV_TITLES = ["CvrNumber", "TabulatorNum", "BatchId", "RecordId", "ImprintedId", "CountingGroup",
                       "PrecinctPortion", "BallotType"]  # fmt: skip


def dominion_csv_from_json(folder: Path, out: Path, *, excel_quotes: bool = False) -> Path:
    """Write ``out`` (a CvrExport.csv) holding the cards of the JSON export in ``folder``, as
    Dominion lays them out: four header rows, then per card its metadata and a 0/1 cell per
    (contest, choice) — per (contest, candidate, rank) for a ranked contest, rank by rank —
    empty where the contest is not on the card. Written independently of the readers: current
    version, ambiguous marks are not votes, a partly read contest (outstack 7) is left empty."""

    def listed(name: str) -> list[dict[str, Any]]:
        path = folder / f"{name}.json"
        return orjson.loads(path.read_bytes())["List"] if path.exists() else []

    contests = listed("ContestManifest")
    cands: dict[int, list[dict[str, Any]]] = {}
    for cand in listed("CandidateManifest"):
        cands.setdefault(cand["ContestId"], []).append(cand)
    names = {m: {r["Id"]: r["Description"] for r in listed(m)}
             for m in ("PrecinctPortionManifest", "BallotTypeManifest", "CountingGroupManifest")}  # fmt: skip
    columns: list[tuple[int, int, int]] = []  # (contest id, candidate id, rank)
    row2, row3 = [""] * len(DOMINION_CSV_TITLES), [""] * len(DOMINION_CSV_TITLES)
    for c in contests:
        ranks = c.get("NumOfRanks", 0)
        head = (f"{c['Description']} (Number of positions={c['VoteFor']}, Number of ranks={ranks})"
                if ranks else f"{c['Description']} (Vote For={c['VoteFor']})")  # fmt: skip
        for r in range(1, max(ranks, 1) + 1):
            for cand in cands.get(c["Id"], []):
                columns.append((c["Id"], cand["Id"], r))
                row2.append(head)
                row3.append(f"{cand['Description']}({r})" if ranks else cand["Description"])
    ranked = {c["Id"] for c in contests if c.get("NumOfRanks", 0)}
    width = len(row2)

    def q(v: object) -> str:
        return f'="{v}"' if excel_quotes else str(v)

    cards: list[list[str]] = []
    number = 0
    files = sorted(folder.glob("CvrExport*.json"),
                   key=lambda p: int(m.group(1)) if (m := re.search(r"_(\d+)\.json$", p.name)) else -1)  # fmt: skip
    for path in files:
        for s in orjson.loads(path.read_bytes())["Sessions"]:
            version = s["Original"] if s["Original"]["IsCurrent"] else s["Modified"]
            for card in version["Cards"]:
                number += 1
                marks: dict[int, set[tuple[int, int]] | None] = {}
                for ct in card["Contests"]:
                    if 7 in ct["OutstackConditionIds"]:
                        continue
                    marks[ct["Id"]] = {(m["CandidateId"], m["Rank"] if ct["Id"] in ranked else 1)
                                       for m in ct["Marks"] if not m["IsAmbiguous"]}  # fmt: skip
                cells = []
                for cid, cand_id, r in columns:
                    on = marks.get(cid)
                    cells.append("" if on is None else "1" if (cand_id, r) in on else "0")
                tab, bat, rec = s["TabulatorId"], s["BatchId"], s["RecordId"]
                cards.append([q(number), q(tab), q(bat), q(rec), q(f"{tab}-{bat}-{rec}"),
                              names["CountingGroupManifest"].get(s.get("CountingGroupId"), ""),
                              names["PrecinctPortionManifest"].get(version.get("PrecinctPortionId"), ""),
                              names["BallotTypeManifest"].get(version.get("BallotTypeId"), ""), *cells])  # fmt: skip
    event = listed("ElectionEventManifest")
    title = event[0]["Description"] if event else "Election"
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([title, "5.10.50.85"] + [""] * (width - 2))
        w.writerow(row2)
        w.writerow(row3)
        w.writerow(DOMINION_CSV_TITLES + [""] * (width - len(DOMINION_CSV_TITLES)))
        w.writerows(cards)
    return out
