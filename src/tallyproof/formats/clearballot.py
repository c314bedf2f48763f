"""Clear Ballot ClearVote CVR CSV: one row per card, ten metadata columns, then one 0/1 column
per (contest, rank, candidate) whose header names all three.

Header of a choice column: ``Choice_<n>_<m>:<contest>:<rank>:Vote For <k>:<candidate>:<party>``
(some exports write ``Number of Winners <k>`` in place of ``Vote For <k>``; it is read the same).
Why the whole file is scanned first: the contest list, the candidates and the number of ranks
come from the header alone, so the election is known before any row is read and rows stream.

Decisions (also in docs/formats-vendor.md):

* ``ballot_id`` = ``BallotID``; ``tabulator`` = ``ScanComputerName``; ``batch`` = ``BoxID``;
  ``record`` = ``BoxPosition``; ``precinct`` = ``PrecinctID``; ``ballot_style`` =
  ``BallotStyleID``; ``source_record`` = the ``RowNumber`` cell; ``Status``/``Remade`` are kept
  out of the table (every row is a card that was read);
* a contest is ranked (IRV, STV when ``Vote For`` > 1) when its columns name more than one rank,
  else vote-for-N; all of a contest's cells empty = the contest is not on the card (null); some
  empty beside 0/1 cells = a damaged row (e.g. a file cut off after a comma), an error;
* a candidate whose name equals the ``undeclaredWriteInLabel`` option, or contains "write-in",
  is a write-in (the first gets RCTab's "Undeclared Write-ins" name).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cvr_table import CvrBuilder
from ..errors import InputError
from ..model import Candidate, Contest, ContestKind, Election, VoteType
from .base import FormatSpec, ParsedExport, register
from .options import UWI_NAME, RctabCandidates, option_text

FORMAT = "clearballot"
FIXED = ("RowNumber", "BoxID", "BoxPosition", "BallotID", "PrecinctID", "BallotStyleID",
         "PrecinctStyleName", "ScanComputerName", "Status", "Remade")  # fmt: skip
_CHOICE = re.compile(r"^Choice_\d+_\d+$")
#: "Vote For <k>", or in some exports (RCTab's clear_ballot_with_inline_comma) "Number of Winners
#: <k>": the same number, read the same way
_VOTE_FOR = re.compile(r"^(?:Vote For|Number of Winners) (\d+)$")
_WRITE_IN = re.compile(r"write[- ]?in", re.IGNORECASE)


@dataclass
class _ContestCols:
    id: str
    vote_for: int
    ranks: int = 0
    candidates: list[Candidate] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    cells: list[tuple[int, int, int]] = field(default_factory=list)  # (column, rank index, code)


def _open_text(path: Path) -> io.TextIOWrapper:
    return open(path, encoding="utf-8-sig", newline="")


def _header(path: Path, header: list[str], options: Mapping[str, Any]) -> list[_ContestCols]:
    if tuple(h.strip() for h in header[: len(FIXED)]) != FIXED:
        raise InputError(f"the first columns must be {', '.join(FIXED)}", file=path, record=1)
    uwi = option_text(options, "undeclaredWriteInLabel")
    only = option_text(options, "contestId")
    rctab = RctabCandidates.from_options(options)
    contests: dict[str, _ContestCols] = {}
    for col in range(len(FIXED), len(header)):
        name = header[col]
        parts = name.split(":")
        if len(parts) < 6 or not _CHOICE.match(parts[0]):
            raise InputError(
                "expected Choice_<n>_<m>:<contest>:<rank>:Vote For <k>:<candidate>:<party>",
                file=path, record=1, field=name,
            )  # fmt: skip
        cname, rank_text, vf_text = parts[1], parts[2], parts[3]
        cand = ":".join(parts[4:-1])
        vf = _VOTE_FOR.match(vf_text.strip())
        if not rank_text.isdigit() or int(rank_text) < 1 or vf is None:
            raise InputError("bad rank or Vote For part", file=path, record=1, field=name)
        if only and cname != only:
            continue
        acc = contests.get(cname)
        if acc is None:
            acc = contests[cname] = _ContestCols(cname, int(vf.group(1)))
            if rctab is not None:
                for n in rctab.names:
                    acc.codes[n] = len(acc.candidates)
                    acc.candidates.append(Candidate(n, n))
        rank = int(rank_text)
        acc.ranks = max(acc.ranks, rank)
        key = rctab.by_label.get(cand, cand) if rctab is not None else cand
        code = acc.codes.get(key)
        if code is None:
            if uwi and cand == uwi:
                c = Candidate(cand, UWI_NAME, True)
            else:
                c = Candidate(cand, cand, bool(_WRITE_IN.search(cand)))
            code = acc.codes[key] = len(acc.candidates)
            acc.candidates.append(c)
        acc.cells.append((col, rank - 1, code))
    if only and only not in contests:
        raise InputError(
            f"contestId {only!r} is not in the header", file=path, record=1, field="contestId"
        )
    return list(contests.values())


def _contest(acc: _ContestCols) -> Contest:
    ranked = acc.ranks > 1
    return Contest(
        id=acc.id,
        name=acc.id,
        kind=(ContestKind.STV if acc.vote_for > 1 else ContestKind.IRV)
        if ranked
        else ContestKind.PLURALITY,
        seats=acc.vote_for,
        vote_for=acc.vote_for,
        candidates=tuple(acc.candidates),
        max_rankings=acc.ranks if ranked else None,
    )


def _cards(
    path: Path, accs: list[_ContestCols], contests: tuple[Contest, ...]
) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    try:
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = next(reader)
            width = len(header)
            for row in reader:
                n = reader.line_num
                if len(row) != width:
                    if not row:
                        continue  # a trailing blank line
                    raise InputError(
                        f"row has {len(row)} cells, header has {width}", file=path, record=n
                    )
                bid = row[3].strip()
                if not bid:
                    raise InputError("empty ballot id", file=path, record=n, field="BallotID")
                if bid in seen:
                    raise InputError(
                        f"ballot id {bid!r} appears twice", file=path, record=n, field="BallotID"
                    )
                seen.add(bid)
                pos = row[2].strip()
                if not pos.isdigit():
                    raise InputError(
                        f"not a number: {pos!r}", file=path, record=n, field="BoxPosition"
                    )
                votes: dict[str, list[list[int]]] = {}
                for acc in accs:
                    marks: list[list[int]] = [[] for _ in range(max(acc.ranks, 1))]
                    present = False
                    blank = -1  # column of the first empty cell
                    for col, r, code in acc.cells:
                        v = row[col]
                        if v == "1":
                            present = True
                            if code not in marks[r]:
                                marks[r].append(code)
                        elif v == "0":
                            present = True
                        elif v.strip():
                            raise InputError(
                                f"expected 0, 1 or empty, got {v!r}",
                                file=path,
                                record=n,
                                field=header[col],
                            )
                        elif blank < 0:
                            blank = col
                    if present and blank >= 0:
                        # a contest is on the card (every cell 0/1) or not (every cell empty);
                        # a mix is a damaged row, e.g. a file cut off after a comma
                        raise InputError(
                            f"contest {acc.id} has an empty cell beside 0/1 cells",
                            file=path,
                            record=n,
                            field=header[blank],
                        )
                    if present:
                        votes[acc.id] = marks
                yield dict(
                    ballot_id=bid,
                    tabulator=row[7].strip() or None,
                    batch=row[1].strip() or None,
                    record=int(pos),
                    precinct=row[4].strip() or None,
                    ballot_style=row[5].strip() or None,
                    vote_type=VoteType.UNKNOWN.value,
                    source_file=path.name,
                    source_record=f"RowNumber {row[0].strip()}",
                    votes=votes,
                )
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path) from None
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", file=path) from None


def read(path: Path, options: Mapping[str, Any]) -> ParsedExport:
    """Read a Clear Ballot CVR CSV (one file)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("not a file", file=path)
    try:
        with _open_text(path) as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path) from None
    except csv.Error as exc:
        raise InputError(f"malformed CSV header ({exc})", file=path, record=1) from None
    if not header:
        raise InputError("empty file", file=path)
    accs = _header(path, header, options)
    contests = tuple(_contest(a) for a in accs)
    return ParsedExport(
        election=Election(name=path.name.split(".")[0], contests=contests),
        batches=CvrBuilder(contests).batches(_cards(path, accs, contests)),
        format=FORMAT,
        source_files=[path],
    )


def sniff(path: Path) -> bool:
    """A file whose first line starts with Clear Ballot's fixed column names."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:  # unreadable: not ours to claim; reading it will say why
        return False
    return head.removeprefix(b"\xef\xbb\xbf").startswith(",".join(FIXED[:4]).encode())


register(
    FormatSpec(name=FORMAT, read=read, sniff=sniff, description="Clear Ballot ClearVote CVR CSV")
)
