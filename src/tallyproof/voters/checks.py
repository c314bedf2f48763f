"""The four voter-file checks, each a :class:`~tallyproof.evidence.checks.Check`.

Privacy rule: a check's summary and details carry counts, rates and the statistics behind
them, never a voter's name, date of birth or registration number. The detailed match list is
written only by :func:`write_match_list`, to a separate file marked confidential, and only
where the user asks.

A check whose data was not given returns status ``not_run`` (the claim is "not answered"),
never ``pass``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import UsageError
from ..evidence.checks import Check
from ..fsutil import atomic_write_bytes
from . import matching

DECEASED = "voters.deceased"
DOUBLE = "voters.double_voting"
LATE = "voters.late_ballots"
OVERVOTE = "voters.more_votes_than_voters"


@dataclass
class VoterData:
    """The files given (None = not given)."""

    roll: pa.Table | None = None
    history: pa.Table | None = None
    mail: pa.Table | None = None
    deaths: pa.Table | None = None
    ballots: pa.Table | None = None  # county, precinct, ballots (counted per precinct)


@dataclass(frozen=True)
class Rules:
    """The rules the checks apply; every one is printed in the check's details."""

    election: dt.date
    deadline: dt.date | None = None  # mail ballots must be received by this date
    uocava_days: int = 0  # extra days for overseas and military ballots
    postmark_days: int = 0  # ballots postmarked by election day count if received this late
    died_after_voting_counts: bool = True  # a ballot cast before the voter died is counted
    snapshot: dt.date | None = None  # registration snapshot date (default: election day)

    def to_json(self) -> dict[str, Any]:
        return {"election": self.election.isoformat(),
                "deadline": self.deadline.isoformat() if self.deadline else None,
                "uocava_extra_days": self.uocava_days, "postmark_days": self.postmark_days,
                "ballot_cast_before_death_counts": self.died_after_voting_counts,
                "registration_snapshot": (self.snapshot or self.election).isoformat()}


def _not_run(name: str, needs: str) -> Check:
    return Check(name, "not_run", f"Not run: needs {needs}.", {"needs": needs})


def run_all(data: VoterData, rules: Rules, match_list: Path | None = None,
            con: Any = None) -> list[Check]:
    """Run the four checks on the files given; write the confidential match list only if
    ``match_list`` is given. ``con``: a DuckDB connection to keep the match tables in (for
    :func:`tallyproof.voters.truth.score`); default a fresh one."""
    con = con if con is not None else matching.connect()
    out: list[Check] = []
    have_voted = data.roll is not None and data.history is not None
    if have_voted:
        matching.prepare_voters(con, data.roll, data.history, rules.election.isoformat(),
                                data.mail)
    if have_voted and data.deaths is not None:
        out.append(deceased(con, data.deaths, rules))
    else:
        out.append(_not_run(DECEASED, "the voter roll, the voter history and death records"))
    if data.history is not None:
        out.append(double_voting(con, data.history, rules, have_voted))
    else:
        out.append(_not_run(DOUBLE, "the voter history (and the roll, across counties)"))
    if data.mail is not None and rules.deadline is not None:
        out.append(late_ballots(data.mail, rules))
    else:
        out.append(_not_run(LATE, "the mail-ballot file and the receipt deadline"))
    if data.roll is not None and (data.history is not None or data.ballots is not None):
        out.append(more_votes_than_voters(con, data, rules))
    else:
        out.append(_not_run(OVERVOTE, "the voter roll and the voter history or ballots "
                                      "counted per precinct"))
    if match_list is not None:
        write_match_list(con, match_list, have_voted, data.deaths is not None)
    return out


def deceased(con: Any, deaths: pa.Table, rules: Rules) -> Check:
    full = matching.has_full_dob(con)
    observed, exp = matching.link_deaths(con, deaths, rules.election.isoformat(), full)
    timing = con.execute("SELECT count(*) FROM death_matches WHERE death_date >= cast_date"
                         ).fetchall()[0][0]
    left = observed - timing
    details: dict[str, Any] = {
        "rules": rules.to_json(), "matched": observed, "explained_by_timing": timing,
        "left_to_explain": left, "expected_coincidental": exp.to_json(),
        "match_key": "name + full date of birth" if full else "name + birth year",
        "voters_credited": con.execute("SELECT count(*) FROM voted").fetchall()[0][0],
        "death_records_before_election": con.execute("SELECT count(*) FROM dead").fetchall()[0][0],
    }
    rule = ("counted where the law allows a ballot cast before the voter died"
            if rules.died_after_voting_counts else "not counted: the rule applied rejects "
            "ballots of voters who died before election day")
    if not full:
        return Check(DECEASED, "not_run",
                     f"{observed} voters credited match a death record on name and birth year "
                     f"(about {exp.mean:.0f} expected between different people by chance, "
                     f"95% range {exp.low}–{exp.high}); a match on birth year alone cannot show "
                     "a dead person voted: a full date of birth is needed.", details)
    explained = timing if rules.died_after_voting_counts else 0
    unexplained = observed - explained
    status = "fail" if unexplained > exp.high else "pass"
    summary = (f"{observed} voters credited match a death record dated before election day "
               f"on name and full date of birth: {timing} voted before they died ({rule}), "
               f"{left} have a death date before their ballot was cast; "
               f"{exp.mean:.1f} such matches are expected between different people by chance "
               f"(95% range {exp.low}–{exp.high}; McDonald & Levitt 2008)")
    if status == "fail":
        summary += f"; {unexplained - exp.high} or more are more than chance explains"
    return Check(DECEASED, status, summary + ".", details)


def double_voting(con: Any, history: pa.Table, rules: Rules, have_roll: bool) -> Check:
    con.register("hist_all", history)
    within = con.execute(f"""
        SELECT count(*), coalesce(sum(n - 1), 0) FROM (
          SELECT county, voter_id, count(*) n FROM hist_all
          WHERE election_date = DATE '{rules.election.isoformat()}'
          GROUP BY ALL HAVING count(*) > 1)""").fetchall()[0]
    details: dict[str, Any] = {"rules": rules.to_json(),
                               "same_registration_credited_twice": int(within[0]),
                               "extra_credits": int(within[1])}
    summary = f"{int(within[0])} registrations are credited more than once in this election"
    status = "fail" if within[0] else "pass"
    if have_roll:
        full = matching.has_full_dob(con)
        observed, across, exp = matching.link_registrations(con, full)
        details.update({"registration_pairs": observed, "cross_county_pairs": across,
                        "expected_coincidental": exp.to_json(),
                        "match_key": "name + full date of birth" if full
                        else "name + birth year"})
        summary += (f"; {observed} pairs of different registrations credited in this election "
                    f"share a name and {'full date of birth' if full else 'birth year'} "
                    f"({across} of them in different counties), {exp.mean:.1f} expected by "
                    f"chance (95% range {exp.low}–{exp.high}; McDonald & Levitt 2008)")
        if full and observed > exp.high:
            status = "fail"
            summary += f"; {observed - exp.high} or more are more than chance explains"
        elif not full:
            summary += "; a match on birth year alone cannot show one person voted twice"
    else:
        details["registration_pairs"] = details["cross_county_pairs"] = None
        summary += "; across registrations not checked (needs the voter roll)"
    return Check(DOUBLE, status, summary + ".", details)


def late_ballots(mail: pa.Table, rules: Rules) -> Check:
    if rules.deadline is None:
        raise UsageError("the late-ballot check needs the receipt deadline")
    con = matching.connect()
    con.register("mail_t", mail)
    e, d = rules.election.isoformat(), rules.deadline.isoformat()
    rows = con.execute(f"""
        WITH acc AS (
          SELECT county, returned, postmark, coalesce(uocava, false) AS uocava FROM mail_t
          WHERE accepted IS NOT NULL OR upper(status) = 'ACCEPTED'),
        cls AS (
          SELECT county,
            returned IS NULL AS no_return_date,
            returned > DATE '{d}' AS after_deadline,
            uocava AND returned <= DATE '{d}' + {rules.uocava_days} AS uocava_ok,
            postmark IS NOT NULL AND postmark <= DATE '{e}'
              AND returned <= DATE '{d}' + {rules.postmark_days} AS postmark_ok
          FROM acc)
        SELECT county, count(*) accepted,
          count(*) FILTER (WHERE no_return_date) no_return_date,
          count(*) FILTER (WHERE after_deadline AND (uocava_ok OR postmark_ok)) lawful_late,
          count(*) FILTER (WHERE after_deadline AND NOT uocava_ok AND NOT postmark_ok) late
        FROM cls GROUP BY county ORDER BY county""").fetchall()
    per_county = [{"county": c, "accepted": a, "no_return_date": nr, "late_allowed": ll,
                   "late": lt} for c, a, nr, ll, lt in rows]
    late = sum(r["late"] for r in per_county)
    allowed = sum(r["late_allowed"] for r in per_county)
    nodate = sum(r["no_return_date"] for r in per_county)
    accepted = sum(r["accepted"] for r in per_county)
    counties = sum(1 for r in per_county if r["late"])
    summary = (f"{late} of {accepted} accepted mail ballots were received after the deadline "
               f"{d} with no exception that applies ({counties} counties); {allowed} late "
               f"ballots fall under the overseas/military or postmark rules given; "
               f"{nodate} accepted ballots have no return date")
    return Check(LATE, "fail" if late else "pass", summary + ".",
                 {"rules": rules.to_json(), "accepted": accepted, "late": late,
                  "late_allowed": allowed, "no_return_date": nodate, "by_county": per_county})


def more_votes_than_voters(con: Any, data: VoterData, rules: Rules) -> Check:
    snap = (rules.snapshot or rules.election).isoformat()
    con.register("roll_r", data.roll)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE reg AS SELECT county, precinct, count(*) registered
        FROM roll_r WHERE (registration_date IS NULL OR registration_date <= DATE '{snap}')
          AND coalesce(upper(status), 'ACTIVE') NOT IN ('REMOVED', 'DENIED', 'CANCELLED')
        GROUP BY ALL""")
    if data.history is not None:
        # the precinct is the history's, or the roll's where the history has none
        con.register("hist_p", data.history)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cred AS
            SELECT h.county, coalesce(h.precinct, r.precinct) AS precinct, count(*) credited
            FROM hist_p h LEFT JOIN roll_r r USING (county, voter_id)
            WHERE h.election_date = DATE '{rules.election}' GROUP BY ALL""")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE cred AS SELECT '' county, '' precinct, "
                    "0 credited WHERE false")
    if data.ballots is not None:
        con.register("ballots_t", data.ballots)
        con.execute("CREATE OR REPLACE TEMP TABLE bal AS SELECT county, precinct, "
                    "sum(ballots)::BIGINT ballots FROM ballots_t GROUP BY ALL")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE bal AS SELECT '' county, '' precinct, "
                    "0::BIGINT ballots WHERE false")
    rows = con.execute("""
        SELECT county, precinct, coalesce(registered, 0), credited, ballots
        FROM reg FULL JOIN cred USING (county, precinct) FULL JOIN bal USING (county, precinct)
        ORDER BY county, precinct""").fetchall()
    has_b, has_c = data.ballots is not None, data.history is not None
    over = [r for r in rows if (r[3] or 0) > r[2] or (r[4] or 0) > r[2]]
    mismatch = [r for r in rows if has_b and has_c and (r[3] or 0) != (r[4] or 0)]
    per = [{"county": c, "precinct": p, "registered": g, "credited": cr, "ballots": b}
           for c, p, g, cr, b in rows]
    summary = (f"{len(over)} of {len(rows)} precincts have more voters credited or ballots "
               f"counted than voters registered on {snap}")
    if has_b and has_c:
        summary += (f"; in {len(mismatch)} precincts the ballots counted differ from the "
                    "voters credited in the history")
    return Check(OVERVOTE, "fail" if over else "pass", summary + ".",
                 {"rules": rules.to_json(), "precincts": len(rows),
                  "precincts_over": len(over), "precincts_ballots_differ_from_credited":
                  len(mismatch) if has_b and has_c else None, "by_precinct": per})


def _views(con: Any) -> set[str]:
    return {r[0] for r in con.execute("SHOW TABLES").fetchall()}


def write_match_list(con: Any, path: Path, have_voted: bool, have_deaths: bool) -> None:
    """The detailed match list (names, dates of birth, registration numbers): CONFIDENTIAL,
    written with owner-only permissions, never into a report or bundle."""
    parts = []
    if have_voted and have_deaths and "death_matches" in _views(con):
        parts.append("""SELECT 'deceased' AS kind, county, voter_id, NULL AS county_b,
            NULL AS voter_id_b, f AS first, l AS last, dob AS birth_date, y AS birth_year,
            cast_date, death_date FROM death_matches""")
    if have_voted and "double_matches" in _views(con):
        parts.append("""SELECT 'double_vote', county_a, voter_id_a, county_b, voter_id_b,
            f, l, dob, y, NULL, NULL FROM double_matches""")
    if not parts:
        table = pa.table({"kind": pa.array([], pa.string())})
    else:
        table = con.sql(" UNION ALL ".join(parts) + " ORDER BY 1, 2, 3").to_arrow_table()
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    banner = (b"# CONFIDENTIAL: personal data of voters (names, dates of birth, registration "
              b"numbers). Not for publication; matches include coincidences between different "
              b"people.\n")
    atomic_write_bytes(Path(path), banner + sink.getvalue().to_pybytes(), mode=0o600)
