"""RCTab compatibility: read an RCTab contest configuration, tabulate it, and write RCTab's
detailed report (``summary.json`` / ``summary.csv``) with the same structure and values.

RCTab (github.com/BrightSpots/rcv) is the certified RCV tabulator; matching its published
reports value for value is how tallyproof shows its RCV counting is right. CVR files named in
``cvrFileSources`` (paths relative to the config file) are read with tallyproof's own readers,
passing each source entry as reader options (plus ``maxRankingsAllowed`` and
``numberOfWinners`` from the rules). Candidates are matched to the config by name or alias; the
source's ``undeclaredWriteInLabel`` becomes RCTab's "Undeclared Write-ins".

Report layout follows RCTab 2.0's ``ResultsWriter``: JSON maps with sorted keys and numbers as
decimal strings; CSV with a row per candidate ordered by first-round votes (ties in Java
``HashMap`` order, reproduced by :func:`java_hashmap_order`), percentages truncated to
hundredths, and the tie-break / by-slice footnotes.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from .. import __version__
from ..cvr_table import cvr_schema
from ..errors import InputError, UsageError
from ..fsutil import atomic_write_bytes
from ..ingest import read_export
from ..model import OVERVOTE_UNKNOWN, Contest
from .ballots import RankedBallots, Ranking, from_table
from .rcv import (
    EXHAUSTED_CHOICES,
    FINAL_SURPLUS,
    NO_RANKINGS,
    OVERVOTES,
    REPEATED,
    SKIPPED,
    UWI_NAME,
    RcvResult,
    RoundResult,
    tabulate_ranked,
)
from .rules import UNLIMITED, RcvRules, WinnerElectionMode, java_bucket_order, rules_from_rctab

#: RCTab ``provider`` → tallyproof reader name
PROVIDERS = {
    "ess": "ess",
    "dominion": "dominion",
    "hart": "hart",
    "clearBallot": "clearballot",
    "cdf": "nist_cdf",
    "csv": "csv",
    "genericCsv": "generic_csv",
}
SLICES = {"precinct": "Precinct", "batch": "Batch"}
STATUS_ROWS = (("Overvotes", OVERVOTES), ("Skipped Rankings", SKIPPED),
               ("Exhausted Choices", EXHAUSTED_CHOICES), ("Repeated Rankings", REPEATED))
STATUS_JSON = (("overvotes", OVERVOTES), ("skippedRankings", SKIPPED),
               ("exhaustedChoices", EXHAUSTED_CHOICES), ("repeatedRankings", REPEATED))


@dataclass(frozen=True)
class RctabCandidate:
    name: str
    aliases: tuple[str, ...] = ()
    excluded: bool = False


@dataclass(frozen=True)
class RctabConfig:
    """The parts of an RCTab contest config that decide the outcome and label the report."""

    path: Path
    contest_name: str
    jurisdiction: str
    office: str
    date: str
    tabulate_by: tuple[str, ...]  # "precinct", "batch"
    candidates: tuple[RctabCandidate, ...]
    sources: tuple[dict[str, Any], ...]
    rules: RcvRules
    #: one pass of a multiPassIrv count (reported as a multi-winner election)
    multi_pass: bool = False

    @property
    def has_uwi(self) -> bool:
        return any(str(s.get("undeclaredWriteInLabel") or "").strip() for s in self.sources)

    @property
    def names(self) -> tuple[str, ...]:
        """Candidate names as RCTab lists them (undeclared write-ins last, when used)."""
        base = tuple(c.name for c in self.candidates)
        return base + ((UWI_NAME,) if self.has_uwi else ())


def load_config(path: Path) -> RctabConfig:
    """Read and check an RCTab contest-config JSON file."""
    path = Path(path)
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError("no such RCTab config file", file=path) from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc}", file=path) from exc
    if not isinstance(raw, dict):
        raise InputError("an RCTab config is a JSON object", file=path)
    out = raw.get("outputSettings") or {}
    rules = rules_from_rctab(raw.get("rules") or {}, file=str(path))
    cands = []
    for i, c in enumerate(raw.get("candidates") or []):
        if not isinstance(c, dict) or not str(c.get("name") or "").strip():
            raise InputError("candidate without a name", file=path, record=i, field="candidates")
        aliases = tuple(str(a) for a in (c.get("aliases") or []))
        code = str(c.get("code") or "").strip()
        cands.append(RctabCandidate(name=str(c["name"]),
                                    aliases=aliases + ((code,) if code else ()),
                                    excluded=bool(c.get("excluded", False))))
    if not cands:
        raise InputError("the config lists no candidates", file=path, field="candidates")
    sources = tuple(dict(s) for s in raw.get("cvrFileSources") or [])
    if not sources:
        raise InputError("the config lists no cvrFileSources", file=path, field="cvrFileSources")
    by = tuple(k for k, key in (("precinct", "tabulateByPrecinct"), ("batch", "tabulateByBatch"))
               if out.get(key))
    return RctabConfig(
        path=path,
        contest_name=str(out.get("contestName") or ""),
        jurisdiction=str(out.get("contestJurisdiction") or ""),
        office=str(out.get("contestOffice") or ""),
        date=str(out.get("contestDate") or ""),
        tabulate_by=by,
        candidates=tuple(cands),
        sources=sources,
        rules=rules,
    )


# ---------------------------------------------------------------------------- reading CVRs
def _pick_contest(contests: Sequence[Contest], source: Mapping[str, Any], file: Path) -> Contest:
    wanted = str(source.get("contestId") or "").strip()
    if wanted:
        for c in contests:
            if wanted in (c.id, c.name):
                return c
    if len(contests) == 1:
        return contests[0]
    ranked = [c for c in contests if c.ranked]
    if len(ranked) == 1:
        return ranked[0]
    raise InputError(f"cannot tell which of {len(contests)} contests to tabulate; set contestId",
                     file=file, field="contestId")


def _candidate_map(contest: Contest, cfg: RctabConfig, source: Mapping[str, Any],
                   file: Path) -> tuple[dict[int, int], dict[int, str]]:
    """Reader candidate code → index into ``cfg.names``, and the codes the config does not
    know (an error only if a ballot marks one: RCTab checks the candidates voters chose)."""
    index: dict[str, int] = {}
    for i, c in enumerate(cfg.candidates):
        index.setdefault(c.name, i)
        for a in c.aliases:
            index.setdefault(a, i)
    uwi_label = str(source.get("undeclaredWriteInLabel") or "").strip()
    uwi = len(cfg.candidates) if cfg.has_uwi else None
    mapping: dict[int, int] = {}
    unknown: dict[int, str] = {}
    for code, cand in enumerate(contest.candidates):
        if cand.name in index:
            mapping[code] = index[cand.name]
        elif cand.id in index:
            mapping[code] = index[cand.id]
        elif uwi is not None and (cand.name == UWI_NAME or cand.write_in or (
                uwi_label and uwi_label in (cand.id, cand.name))):
            # a write-in the config does not name is an undeclared write-in (RCTab's rule)
            mapping[code] = uwi
        else:
            unknown[code] = cand.name
    return mapping, unknown


def _check_marked(ballots: RankedBallots, unknown: Mapping[int, str], file: Path) -> None:
    """Refuse the source if any ballot marks a candidate the config does not name."""
    if not unknown:
        return
    used = {c for r in ballots.rankings for _rank, cands in r for c in cands if c in unknown}
    if used:
        raise InputError("candidate(s) not in the RCTab config: "
                         f"{', '.join(sorted(unknown[c] for c in used))}", file=file,
                         field="candidates")


def _remap(r: Ranking, mapping: Mapping[int, int], max_rank: int | None, file: Path,
           count: int) -> Ranking:
    out = []
    for rank, cands in r:
        if max_rank is not None and rank > max_rank:
            # RCTab refuses such a ballot rather than drop its later rankings
            raise InputError(f"{count} ballot(s) mark rank {rank}, above maxRankingsAllowed "
                             f"{max_rank}", file=file, field="maxRankingsAllowed")
        codes = tuple(dict.fromkeys(c if c == OVERVOTE_UNKNOWN else mapping[c] for c in cands))
        out.append((rank, codes))
    return tuple(out)


def read_config_ballots(cfg: RctabConfig) -> RankedBallots:
    """Read every CVR source of the config into one set of distinct rankings (config codes)."""
    merged: dict[tuple[Ranking, tuple[str, ...]], int] = {}
    kinds = sorted(cfg.tabulate_by)
    missing_ids: set[str] = set()  # slice ids standing for "no precinct/batch"
    max_rank = None if cfg.rules.max_rankings_allowed == UNLIMITED else \
        cfg.rules.max_rankings_allowed
    for source in cfg.sources:
        provider = str(source.get("provider") or "")
        if provider not in PROVIDERS:
            raise InputError(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})",
                             file=cfg.path, field="cvrFileSources.provider")
        rel = str(source.get("filePath") or "")
        file = (cfg.path.parent / rel).resolve()
        options = dict(source)
        options.setdefault("maxRankingsAllowed", "max" if max_rank is None else str(max_rank))
        if cfg.rules.number_of_winners > 0:  # 0: bottoms-up with a percentage threshold
            options.setdefault("numberOfWinners", str(cfg.rules.number_of_winners))
        if provider == "dominion" and "precinct" in kinds and not (
                (file if file.is_dir() else file.parent) / "PrecinctManifest.json").exists():
            # RCTab names a Dominion CVR's precinct from PrecinctManifest.json: without it the
            # CVRs carry no precinct, and RCTab refuses to tabulate by precinct
            raise InputError("tabulateByPrecinct is set, but this Dominion export has no "
                             "PrecinctManifest.json, so its CVRs carry no precinct", file=file,
                             field="tabulateByPrecinct")
        parsed = read_export(file, PROVIDERS[provider], options)
        batches = list(parsed.batches)
        contest = _pick_contest(parsed.election.contests, source, file)
        table = pa.Table.from_batches(batches, schema=cvr_schema(parsed.election.contests)) \
            if batches else cvr_schema(parsed.election.contests).empty_table()
        mapping, unknown = _candidate_map(contest, cfg, source, file)
        # the slice a ballot without a precinct/batch falls in is named as RCTab's reader for
        # that provider names it
        missing = "missing_{}_id" if provider == "ess" else "no {} id"
        missing_ids.update(missing.format(k) for k in kinds)
        ballots = from_table(table, contest.column, None,
                             slice_columns={k: k for k in kinds},
                             missing_slice={k: missing.format(k) for k in kinds})
        _check_marked(ballots, unknown, file)
        for r, w, i in zip(ballots.rankings, ballots.weights, range(len(ballots)), strict=True):
            key = (_remap(r, mapping, max_rank, file, int(w)),
                   tuple(ballots.slices[k][i] for k in kinds))
            merged[key] = merged.get(key, 0) + int(w)
    if "precinct" in kinds and all(k[1][kinds.index("precinct")] in missing_ids
                                   for k in merged):
        raise InputError("tabulateByPrecinct is set, but no CVR carries a precinct (RCTab "
                         "refuses this too)", file=cfg.path, field="tabulateByPrecinct")
    keys = sorted(merged)
    return RankedBallots(
        entries=tuple(k[0] for k in keys),
        weights=np.array([merged[k] for k in keys], dtype=np.int64),
        slices={kind: tuple(k[1][j] for k in keys) for j, kind in enumerate(kinds)},
    )


def tabulate_config(cfg: RctabConfig, ballots: RankedBallots | None = None) -> RcvResult:
    """Tabulate an RCTab configuration (reading its CVRs unless ``ballots`` are given); for
    ``multiPassIrv`` the result of :func:`tabulate_passes` with every seat's winner."""
    passes = tabulate_passes(cfg, ballots)
    if len(passes) == 1:
        return passes[0][1]
    return replace(passes[-1][1], seats=cfg.rules.number_of_winners,
                   winners=tuple(w for _, r in passes for w in r.winners))


def tabulate_passes(cfg: RctabConfig, ballots: RankedBallots | None = None
                    ) -> tuple[tuple[RctabConfig, RcvResult], ...]:
    """The count's passes with the config each is reported under: one, except for
    ``multiPassIrv`` (sequential multi-seat IRV), where pass *n* is a single-winner IRV over
    the same ballots with the winners of passes 1..n-1 excluded, as RCTab counts it."""
    ballots = ballots if ballots is not None else read_config_ballots(cfg)
    if cfg.rules.winner_election_mode != WinnerElectionMode.MULTI_PASS_IRV:
        return ((cfg, _tabulate_once(cfg, ballots)),)
    if cfg.tabulate_by:
        raise UsageError("tabulate by precinct/batch with winnerElectionMode multiPassIrv is "
                         "not supported: no per-pass slice reports")
    seats = cfg.rules.number_of_winners
    pass_rules = replace(cfg.rules, number_of_winners=1,
                         winner_election_mode=WinnerElectionMode.SINGLE_WINNER_MAJORITY)
    out: list[tuple[RctabConfig, RcvResult]] = []
    won: set[str] = set()
    for _ in range(seats):
        cands = tuple(replace(c, excluded=c.excluded or c.name in won) for c in cfg.candidates)
        if all(c.excluded for c in cands):
            raise UsageError(f"multiPassIrv: {seats} seats but only {len(won)} candidates "
                             "could be elected")
        pass_cfg = replace(cfg, candidates=cands, rules=pass_rules, multi_pass=True)
        result = _tabulate_once(pass_cfg, ballots)
        out.append((pass_cfg, result))
        won.update(result.winners)
    return tuple(out)


def _tabulate_once(cfg: RctabConfig, ballots: RankedBallots) -> RcvResult:
    names = cfg.names
    uwi = len(cfg.candidates) if cfg.has_uwi else None
    excluded = frozenset(i for i, c in enumerate(cfg.candidates) if c.excluded)
    return tabulate_ranked(ballots, names, cfg.rules, contest_id=cfg.contest_name, uwi=uwi,
                           permutation=[i for i in range(len(cfg.candidates))],
                           excluded=excluded, slices=cfg.tabulate_by)


# ---------------------------------------------------------------------------- JSON report
def _zero() -> Decimal:
    return Decimal(0)


def _inactive_sum(rr: RoundResult) -> Decimal:
    s = Decimal(0)
    for k, v in rr.inactive.items():
        if k != FINAL_SURPLUS:
            s = s + v
    return s


def _active_sum(rr: RoundResult) -> Decimal:
    return sum(rr.tally.values(), Decimal(0))


def _rounds_for(result: RcvResult, slice_kind: str | None, slice_id: str | None
                ) -> tuple[RoundResult, ...]:
    if slice_kind is None or slice_id is None:
        return result.rounds
    return result.slices[slice_kind][slice_id]


def detailed_report_json(result: RcvResult, cfg: RctabConfig, slice_kind: str | None = None,
                         slice_id: str | None = None) -> dict[str, Any]:
    """RCTab's detailed-report JSON (``*_expected_detailed_report.json`` layout)."""
    rounds = _rounds_for(result, slice_kind, slice_id)
    config: dict[str, Any] = {
        "contest": cfg.contest_name, "date": cfg.date, "generatedBy": f"tallyproof {__version__}",
        "jurisdiction": cfg.jurisdiction, "office": cfg.office,
    }
    if slice_kind is not None:
        config[slice_kind] = slice_id
    first, last = rounds[0], rounds[-1]
    results = []
    n = len(rounds)
    for rr in rounds:
        actions = []
        for kind, names in (("elected", rr.elected), ("eliminated", rr.eliminated)):
            for name in names:
                moved = rr.transfers.get(name, {})
                actions.append({kind: name, "transfers": {t: str(v) for t, v in moved.items()}})
        inactive = {key: str(rr.inactive.get(st, _zero())) for key, st in STATUS_JSON}
        if cfg.rules.uses_surpluses and rr.round == n:
            inactive["finalRoundSurplus"] = str(rr.inactive.get(FINAL_SURPLUS, _zero()))
        results.append({
            "inactiveBallots": inactive,
            "round": rr.round,
            "tally": {k: str(v) for k, v in rr.tally.items()},
            "tallyResults": actions,
            "threshold": str(rr.threshold),
        })
    return {
        "config": config,
        "jsonFormatVersion": "1",
        "results": results,
        "summary": {
            "finalThreshold": str(last.threshold),
            "numCandidates": len(result.candidates),  # RCTab's JSON counts excluded ones
            "numWinners": cfg.rules.number_of_winners,
            "totalNumBallots": str(_active_sum(first) + _inactive_sum(first)),
            "undervotes": int(first.inactive.get(NO_RANKINGS, _zero())),
        },
    }


def dumps_json(doc: Mapping[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


# ---------------------------------------------------------------------------- CSV report
def java_hashmap_order(keys: Sequence[str]) -> list[str]:
    """Iteration order of a ``java.util.HashMap`` holding ``keys`` (inserted one by one, in this
    order, from the default capacity). RCTab's CSV lists candidates with equal first-round votes
    in this order."""
    cap = 16
    while len(keys) > cap * 3 // 4:
        cap *= 2
    return java_bucket_order(keys, cap)


def candidate_order(result: RcvResult, cfg: RctabConfig | None = None) -> list[str]:
    """Candidates by first-round votes, highest first, undeclared write-ins last; candidates the
    config excludes are left out (RCTab neither counts nor lists them)."""
    first = result.rounds[0].tally
    keys = java_hashmap_order(list(first))
    uwi = [k for k in keys if k == UWI_NAME]
    rest = [k for k in keys if k != UWI_NAME]
    rest.sort(key=lambda k: -first[k])
    excluded = {c.name for c in cfg.candidates if c.excluded} if cfg is not None else set()
    missing = [c for c in result.candidates if c not in first and c != UWI_NAME]
    return [c for c in rest + missing + uwi if c not in excluded]


def _pct(v: Decimal, divisor: Decimal) -> str:
    if divisor == 0:
        return ""
    ctx = decimal.Context(prec=7, rounding=decimal.ROUND_HALF_EVEN)
    d = ctx.divide(v, divisor)
    hundredths = int(d.scaleb(4, ctx))  # Java intValue(): truncate toward zero
    return f"{repr(hundredths / 100.0)}%"


def _csv_field(v: str, first: bool) -> str:
    """One field as Apache Commons CSV (``CSVFormat.DEFAULT``, minimal quoting) prints it."""
    if v == "":
        return '""' if first else ""
    quote = v[0] <= "#" or any(ch in v for ch in "\r\n\",") or v[-1] <= " "
    return '"' + v.replace('"', '""') + '"' if quote else v


def _csv(rows: list[list[str]]) -> str:
    return "".join(",".join(_csv_field(f, i == 0) for i, f in enumerate(r)) + "\n" for r in rows)


def detailed_report_csv(result: RcvResult, cfg: RctabConfig, slice_kind: str | None = None,
                        slice_id: str | None = None) -> str:
    """RCTab's detailed-report CSV (``*_expected_detailed_report.csv`` layout)."""
    rounds = _rounds_for(result, slice_kind, slice_id)
    is_slice = slice_kind is not None
    n = len(rounds)
    multi = cfg.rules.number_of_winners > 1 or cfg.rules.bottoms_up_percentage or cfg.multi_pass
    tied_names = {t.selected for t in result.tiebreaks}
    rows: list[list[str]] = [
        ["Contest Information"],
        ["Generated By", f"tallyproof {__version__}"],
        ["CSV Format Version", "1"],
        ["Type of Election", "Multi-Winner" if multi else "Single-Winner"],
        ["Contest", cfg.contest_name],
        ["Jurisdiction", cfg.jurisdiction],
        ["Office", cfg.office],
        ["Date", cfg.date],
        ["Winner(s)", ", ".join(result.winners)],
        [SLICES[slice_kind], str(slice_id)] if is_slice and slice_kind is not None
        else ["Final Threshold", str(result.rounds[-1].threshold)],
        [],
        ["Contest Summary"],
        ["Number to be Elected", _number_to_elect(cfg.rules)],
        ["Number of Candidates", str(len(candidate_order(result, cfg)))],
        ["Total Number of Ballots", str(_active_sum(rounds[0]) + _inactive_sum(rounds[0]))],
        ["Number of Undervotes (No Rankings)",
         str(int(rounds[0].inactive.get(NO_RANKINGS, _zero())))],
        [],
    ]
    header = ["Rounds"]
    for r in range(1, n + 1):
        header += [f"Round {r} Votes", "% of vote", "transfer"]
    rows.append(header)
    mark = "†" if is_slice else ""
    for label, attr in (("Eliminated", "eliminated"), ("Elected", "elected")):
        row = [label + mark]
        for rr in result.rounds[:n]:
            names = getattr(rr, attr)
            row += ["; ".join(nm + ("*" if nm in tied_names and _tie_in(result, nm, rr.round)
                                    else "") for nm in names), "", ""]
        rows.append(row)
    # % of vote: of the round's active ballots, except where the threshold is fixed by the first
    # round (multi-seat STV; bottoms-up percentage with doesFirstRoundDetermineThreshold)
    per_round = not cfg.rules.first_round_determines_threshold and (
        not multi or cfg.rules.bottoms_up_percentage)
    for cand in candidate_order(result, cfg):
        row = [cand]
        for i, rr in enumerate(rounds):
            v = rr.tally.get(cand, _zero())
            divisor = rr.active if per_round else rounds[0].active
            row += [str(v), _pct(v, divisor)]
            if i + 1 < n:
                row.append(str(rounds[i + 1].tally.get(cand, _zero()) - v))
            else:
                row.append("0")
        rows.append(row)
    rows.append(["Active Ballots", *[x for rr in rounds for x in (str(rr.active), "", "")]])
    if not is_slice:
        rows.append(["Current Round Threshold",
                     *[x for rr in rounds for x in (str(rr.threshold), "", "")]])
    for label, st in STATUS_ROWS:
        row = [f"Inactive Ballots by {label}"]
        for i, rr in enumerate(rounds):
            v = rr.inactive.get(st, _zero())
            nxt = str(rounds[i + 1].inactive.get(st, _zero()) - v) if i + 1 < n else "0"
            row += [str(v), "", nxt]
        rows.append(row)
    no_rank = rounds[0].inactive.get(NO_RANKINGS, _zero())
    row = ["Inactive Ballots Total"]
    for i, rr in enumerate(rounds):
        v = _inactive_sum(rr)
        nxt = str(_inactive_sum(rounds[i + 1]) - v) if i + 1 < n else "0"
        row += [str(v - no_rank), "", nxt]
    rows.append(row)
    if not is_slice and result.rounds[-1].residual_surplus > 0:
        rows.append(["Residual surplus",
                     *[x for rr in rounds for x in (str(rr.residual_surplus), "", "")]])
    if cfg.rules.uses_surpluses:
        row = ["Final Round Surplus"]
        for rr in rounds:
            v = rr.inactive.get(FINAL_SURPLUS)
            shown = "" if v is None or (v == 0 and v.as_tuple().exponent == 0) else str(v)
            row += [shown, "", ""]
        rows.append(row)
    text = _csv(rows)
    if is_slice:
        text += "\n†Elect/Eliminate decisions are from the full contest. All other results on " \
                f"this report are at the {slice_kind} level.\n"
    if result.tiebreaks:
        text += "\n*Tie resolved in accordance with election law\n"
    return text


def _number_to_elect(rules: RcvRules) -> str:
    if rules.bottoms_up_percentage:
        return f"All candidates over the {rules.multi_seat_bottoms_up_percentage_threshold}% " \
               "threshold"
    return str(rules.number_of_winners)


def _tie_in(result: RcvResult, name: str, round_no: int) -> bool:
    return any(t.selected == name and t.round == round_no for t in result.tiebreaks)


# ---------------------------------------------------------------------------- files
def sanitize(s: str) -> str:
    """RCTab's file-name sanitizer: anything but letters, digits, ``_-.`` becomes ``_``."""
    return re.sub(r"[^a-zA-Z0-9_\-.]", "_", s)


@dataclass(frozen=True)
class RctabRun:
    """A tabulated config: ``result`` is the outcome (for ``multiPassIrv``, the last pass, whose
    ``winners`` are every seat's winner in order), ``passes`` every pass's own result."""

    config: RctabConfig
    result: RcvResult
    files: tuple[Path, ...]
    passes: tuple[RcvResult, ...] = ()


def run_config(config_path: Path, out_dir: Path) -> RctabRun:
    """Tabulate an RCTab config and write ``summary.json``/``summary.csv`` (and, with
    tabulate-by options, ``<precinct|batch>/<id>_summary.{json,csv}``) atomically; a
    ``multiPassIrv`` count writes one report per seat, ``summary_<seat>.{json,csv}``."""
    cfg = load_config(Path(config_path))
    passes = tabulate_passes(cfg)
    out_dir = Path(out_dir)
    files: list[Path] = []

    def write(base: Path, result: RcvResult, pcfg: RctabConfig, kind: str | None,
              sid: str | None) -> None:
        atomic_write_bytes(base.with_suffix(".json"),
                           dumps_json(detailed_report_json(result, pcfg, kind, sid)))
        atomic_write_bytes(base.with_suffix(".csv"),
                           detailed_report_csv(result, pcfg, kind, sid).encode())
        files.extend([base.with_suffix(".json"), base.with_suffix(".csv")])

    if cfg.rules.winner_election_mode == WinnerElectionMode.MULTI_PASS_IRV:
        for n, (pcfg, result) in enumerate(passes, start=1):
            write(out_dir / f"summary_{n}", result, pcfg, None, None)
        combined = replace(passes[-1][1], seats=cfg.rules.number_of_winners,
                           winners=tuple(w for _, r in passes for w in r.winners))
        return RctabRun(config=cfg, result=combined, files=tuple(files),
                        passes=tuple(r for _, r in passes))
    (_, result), = passes
    write(out_dir / "summary", result, cfg, None, None)
    for kind in cfg.tabulate_by:
        seen: set[str] = set()
        for sid in sorted(result.slices.get(kind, {})):
            name = sanitize(sid)
            k = 2
            while name in seen:
                name = f"{sanitize(sid)}_{k}"
                k += 1
            seen.add(name)
            write(out_dir / kind / f"{name}_summary", result, cfg, kind, sid)
    return RctabRun(config=cfg, result=result, files=tuple(files), passes=(result,))
