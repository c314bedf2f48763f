"""What an audit board may write for a contest or a choice: a name or an id.

People write names (``Hana Sato``, ``President / Vice President``); machines write ids
(``201``, ``1``). Both are accepted. A value matches a candidate (or contest) when, after
Unicode NFKC normalisation, case folding and collapsing whitespace, it equals its id or its
name. A value that matches nothing, or more than one (two candidates called ``Write-in``), is
an error that lists the valid choices, so the board can correct the sheet.

Cell grammar of a contest (:func:`parse_cell`)::

    blank                       no mark in the contest
    overvote                    more marks than allowed (ranked: at that rank)
    not found                   the card could not be found
    Hana Sato                   one choice
    Mia Chen; Noah Berg         several choices (vote for N; more than N = an overvote)
    Hana Sato > Ivan Petrov     ranks, first to last (ranked contests)
    Hana Sato > blank > Jade Ruiz   the second rank left empty (``>>`` also works)

A whole cell that names exactly one candidate is taken as that candidate before it is split
on ``;`` or ``>``, so a name containing those characters still works.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..model import Contest, OVERVOTE_UNKNOWN

BLANK = "blank"
OVERVOTE = "overvote"
NOT_FOUND = "not found"
#: How an overvote whose candidates the board did not list is stored in a record's marks.
OVERVOTE_MARK = "<overvote>"
_SPACE = re.compile(r"\s+")


def norm(text: str) -> str:
    """``"  Hana   SATO "`` → ``"hana sato"`` (NFKC, case-folded, whitespace collapsed)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


class ChoiceError(ValueError):
    """A value names no choice, or several; ``str()`` says which and lists the valid ones."""


@dataclass(frozen=True)
class Cell:
    """A parsed contest cell: ``marks`` (candidate ids by rank) or ``not_found``."""

    marks: tuple[tuple[str, ...], ...] | None
    not_found: bool = False


def choices_text(contest: Contest) -> str:
    """The valid choices, as an error message lists them: ``Hana Sato (id 201), ...``."""
    names = [f"{c.name} (id {c.id})" for c in contest.candidates]
    return ", ".join([*names, BLANK, OVERVOTE, NOT_FOUND])


def candidate_id(contest: Contest, value: str) -> str:
    """The id of the one candidate of ``contest`` that ``value`` names (name or id)."""
    want = norm(value)
    hits = [c for c in contest.candidates if want in (norm(c.id), norm(c.name))]
    exact = [c for c in hits if c.id == value.strip()]  # an exact id wins over a lookalike
    if len(exact) == 1:
        return exact[0].id
    if len(hits) == 1:
        return hits[0].id
    if not hits:
        raise ChoiceError(f"{value.strip()!r} is not a choice in contest {contest.name!r}; "
                          f"valid choices: {choices_text(contest)}")
    raise ChoiceError(f"{value.strip()!r} is ambiguous in contest {contest.name!r}: it names "
                      + ", ".join(f"{c.name} (id {c.id})" for c in hits)
                      + f"; write the id instead; valid choices: {choices_text(contest)}")


def contest_for(contests: dict[str, Contest], value: str) -> Contest:
    """The audited contest ``value`` names: its id, its name, or ``Name [id]``."""
    text = value.strip()
    m = re.fullmatch(r"(.*?)\s*\[([^\[\]]+)\]", text)
    if m and m.group(2) in contests and norm(m.group(1)) in ("", norm(contests[m.group(2)].name)):
        return contests[m.group(2)]
    if text in contests:
        return contests[text]
    want = norm(text)
    hits = [c for c in contests.values() if want in (norm(c.id), norm(c.name))]
    if len(hits) == 1:
        return hits[0]
    valid = ", ".join(f"{c.name} (id {c.id})" for c in contests.values())
    if not hits:
        raise ChoiceError(f"{text!r} is not a contest under audit; contests under audit: {valid}")
    raise ChoiceError(f"{text!r} is ambiguous: it names contests "
                      + ", ".join(f"{c.name} (id {c.id})" for c in hits)
                      + f"; write the id; contests under audit: {valid}")


def _rank(contest: Contest, text: str) -> tuple[str, ...]:
    t = norm(text)
    if t in ("", BLANK):
        return ()
    if t == OVERVOTE:
        return (OVERVOTE_MARK,)
    try:
        return (candidate_id(contest, text),)
    except ChoiceError:
        if ";" not in text:
            raise
    out: list[str] = []
    for part in text.split(";"):
        if norm(part) == OVERVOTE:
            out.append(OVERVOTE_MARK)
        elif norm(part):
            out.append(candidate_id(contest, part))
    return tuple(out)


def parse_cell(contest: Contest, text: str) -> Cell:
    """A filled-in contest cell → :class:`Cell` (raises :class:`ChoiceError`); see the module
    docstring for the grammar. ``text`` must not be empty."""
    t = norm(text)
    if t == NOT_FOUND:
        return Cell(None, not_found=True)
    if t == BLANK:
        return Cell(((),))
    try:  # a whole cell naming one candidate (the name may contain ';' or '>')
        return Cell(((candidate_id(contest, text),),))
    except ChoiceError:
        if ">" not in text and ";" not in text and t != OVERVOTE:
            raise
    ranks = text.split(">")
    if len(ranks) > 1 and not contest.ranked:
        raise ChoiceError(f"contest {contest.name!r} is not ranked; '>' is not allowed")
    return Cell(tuple(_rank(contest, r) for r in ranks))


def mark_codes(contest: Contest, marks: tuple[tuple[str, ...], ...]) -> list[list[int]]:
    """Candidate ids (and :data:`OVERVOTE_MARK`) → candidate codes of the CVR table (raises
    :class:`KeyError` for an id the contest does not have)."""
    return [[OVERVOTE_UNKNOWN if c == OVERVOTE_MARK else contest.candidate_index(c)
             for c in rank] for rank in marks]
