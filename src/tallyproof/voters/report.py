"""The voter-file evidence: read the files given, run the four checks, answer the claims.

The result (:func:`voter_evidence`) holds counts, rates and statistics only (the privacy rule
of :mod:`tallyproof.voters.checks`); it records each input's SHA-256, the rules applied and,
for synthetic data with planted truth, the precision and recall of the matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError, UsageError
from ..evidence.claims import claims_from_checks
from ..store import sha256_file
from . import matching, truth
from .checks import DECEASED, DOUBLE, LATE, OVERVOTE, Rules, VoterData, run_all
from .readers import read_voter_file

CHECKS = (DECEASED, DOUBLE, LATE, OVERVOTE)

METHOD_NOTES = (
    "Voters are linked to death records and to each other on an exact key: first and last "
    "name (upper case, letters only) and the full date of birth, or the birth year where the "
    "roll has only the year. Different people share a name and a birthday more often than "
    "intuition says (the birthday problem; McDonald & Levitt, Seeing Double Voting, Election "
    "Law Journal 7(2), 2008): each match count is shown beside the number expected between "
    "different people by chance and its 95% Poisson range. A match on name and birth year "
    "alone cannot show that a dead person voted or that one person voted twice. Reports carry "
    "counts only, never a voter's name, date of birth or registration number."
)


@dataclass(frozen=True)
class VoterFiles:
    roll: Path | None = None
    history: Path | None = None
    mail: Path | None = None
    deaths: Path | None = None
    ballots: Path | None = None
    layout: str = "tallyproof"  # layout of the history file
    roll_layout: str = "tallyproof"
    truth: Path | None = None  # planted truth (synthetic data): adds precision and recall


def _read_ballots(path: Path) -> pa.Table:
    try:
        t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"county": pa.string(), "precinct": pa.string(),
                          "ballots": pa.int64()}))
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except pa.ArrowInvalid as exc:
        raise InputError(f"cannot read ballots per precinct: {exc}", file=path) from None
    missing = {"county", "precinct", "ballots"} - set(t.column_names)
    if missing:
        raise InputError(f"missing column(s) {', '.join(sorted(missing))}", file=path,
                         record="line 1")
    return t.select(["county", "precinct", "ballots"])


def voter_evidence(files: VoterFiles, rules: Rules, match_list: Path | None = None,
                   ballots: pa.Table | None = None) -> dict[str, Any]:
    """Run the checks on the files given and return the evidence document (counts only).

    ``ballots`` (county, precinct, ballots): the ballots counted per precinct when they come
    from elsewhere than a file (an election store's CVRs), instead of ``files.ballots``."""
    if ballots is not None and files.ballots is not None:
        raise UsageError("ballots counted per precinct given twice (a file and a table)")
    data = VoterData(
        roll=read_voter_file(files.roll, "roll", files.roll_layout) if files.roll else None,
        history=read_voter_file(files.history, "history", files.layout)
        if files.history else None,
        mail=read_voter_file(files.mail, "mail") if files.mail else None,
        deaths=read_voter_file(files.deaths, "deaths") if files.deaths else None,
        ballots=_read_ballots(files.ballots) if files.ballots else ballots,
    )
    con = matching.connect()
    checks = run_all(data, rules, match_list=match_list, con=con)
    doc: dict[str, Any] = {
        "rules": rules.to_json(),
        "inputs": {k: {"name": p.name, "sha256": sha256_file(p)}
                   for k, p in (("roll", files.roll), ("history", files.history),
                                ("mail", files.mail), ("deaths", files.deaths),
                                ("ballots", files.ballots)) if p is not None},
        "history_layout": files.layout, "roll_layout": files.roll_layout,
        "checks": [c.to_json() for c in checks],
        "claims": [c.to_json() for c in claims_from_checks(checks, applicable=CHECKS)],
        "method_notes": METHOD_NOTES,
        "match_list_written": match_list is not None,
    }
    if files.truth is not None:
        planted = orjson.loads(Path(files.truth).read_bytes())
        doc["precision_recall"] = truth.score(con, planted)
    return doc
