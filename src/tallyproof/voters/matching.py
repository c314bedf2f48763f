"""Linking voters to death records and to each other, with the expected coincidental matches.

Matching is exact on a normalised key, blocked and joined in DuckDB (why not Splink or
recordlinkage: docs/voters.md). The key is first name + last name (upper case, letters only)
+ full date of birth when the roll has it, or + birth year when it has only the year.

Expected coincidental matches (the birthday problem for voter files; McDonald & Levitt,
"Seeing Double Voting: An Extension of the Birthday Problem", Election Law Journal 7(2), 2008,
pp. 111–122). Assumptions: birthdays of *different* people are independent and uniform over
the 365 days of their birth year (McDonald & Levitt §3; real birthdays are slightly
non-uniform, which raises the coincidence rate a little, so the figure is a lower estimate),
and dates are recorded without error.

- Full date of birth. Two different people who share a name and a birth year share the full
  date with probability p = 1/365. Let N_diff be the number of different-person pairs that
  share name and year; the coincidental full-date matches are ~ Binomial(N_diff, p), mean
  N_diff/365. The pairs that share name and year but *not* the date, N_non, are all different
  people, and E[N_non] = N_diff·364/365, so E[coincidental] = N_non / 364 (McDonald & Levitt
  eq. (1) with k = 365 applied to each name–year cell and summed).
- Birth year only. Every pair that shares name and year is a candidate; under the model that
  name and birth year are independent within each list, the expected number of such pairs
  between different people is Σ_name n₁(name)·n₂(name)·Σ_y f₁(y)·f₂(y) (f the lists' birth
  year shares). A match on name and birth year cannot show that it is the same person.

The 95% interval is the central Poisson interval around the expectation (a sum of many rare,
independent coincidences; Poisson approximation to the binomial).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

DAYS = 365


@dataclass(frozen=True)
class Expected:
    """Expected coincidental matches and the 95% interval of the count by chance alone."""

    mean: float
    low: int
    high: int
    basis: str  # "full_birth_date" | "birth_year"
    candidate_pairs: int  # pairs sharing name and birth year

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "interval_95": [self.low, self.high],
                "basis": self.basis, "candidate_pairs": self.candidate_pairs}


def expected(mean: float, basis: str, candidate_pairs: int) -> Expected:
    from scipy.stats import poisson  # here: `verify` loads this module but never calls this

    lo, hi = poisson.interval(0.95, mean) if mean > 0 else (0.0, 0.0)
    return Expected(mean, int(lo), int(hi), basis, candidate_pairs)


def _norm(col: str) -> str:
    return f"regexp_replace(upper({col}), '[^A-Z]', '', 'g')"


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    return con


def prepare_voters(con: duckdb.DuckDBPyConnection, roll: pa.Table, history: pa.Table,
                   election: str, mail: pa.Table | None = None) -> None:
    """Create table ``voted``: the voters credited in ``election`` with their roll identity.

    The day a ballot was cast: the history's ``voted_date``; for mail voters without it, the
    mail-ballot file's return date (when given); otherwise election day.
    """
    con.register("roll_t", roll)
    con.register("hist_t", history)
    if mail is not None:
        con.register("mail_v", mail)
        mail_join = """LEFT JOIN (SELECT county, voter_id, max(returned) AS returned
                       FROM mail_v GROUP BY ALL) m USING (county, voter_id)"""
        returned = "m.returned"
    else:
        mail_join, returned = "", "NULL::DATE"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE voted AS
        SELECT h.county, h.voter_id, h.method, h.precinct AS h_precinct,
               coalesce(h.voted_date,
                        CASE WHEN h.method = 'mail' THEN {returned} END,
                        h.election_date) AS cast_date,
               {_norm('r.first')} AS f, {_norm('r.last')} AS l,
               r.birth_year AS y, r.birth_date AS dob
        FROM hist_t h JOIN roll_t r USING (county, voter_id) {mail_join}
        WHERE h.election_date = DATE '{election}'
    """)


def has_full_dob(con: duckdb.DuckDBPyConnection) -> bool:
    n, with_dob = con.execute("SELECT count(*), count(dob) FROM voted").fetchall()[0]  # type: ignore[misc]
    return n > 0 and with_dob == n


def link_deaths(con: duckdb.DuckDBPyConnection, deaths: pa.Table, election: str,
                full: bool) -> tuple[int, Expected]:
    """Table ``death_matches`` (voters credited in the election matched to a death record
    dated before election day) and the expected coincidental matches."""
    con.register("deaths_t", deaths)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE dead AS
        SELECT {_norm('first')} AS f, {_norm('last')} AS l, year(birth_date) AS y,
               birth_date AS dob, death_date
        FROM deaths_t WHERE death_date < DATE '{election}'
    """)
    on = "v.dob = d.dob" if full else "v.y = d.y"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE death_matches AS
        SELECT v.*, d.death_date FROM voted v JOIN dead d
        ON v.f = d.f AND v.l = d.l AND {on}
    """)
    observed = con.execute("SELECT count(*) FROM death_matches").fetchall()[0][0]  # type: ignore[index]
    return observed, _expected_between(con, "voted", "dead", full, observed)


def _expected_between(con: duckdb.DuckDBPyConnection, a: str, b: str, full: bool,
                      observed: int) -> Expected:
    cells = con.execute(f"""
        SELECT coalesce(sum(na * nb), 0) FROM
          (SELECT f, l, y, count(*) na FROM {a} GROUP BY ALL) x JOIN
          (SELECT f, l, y, count(*) nb FROM {b} GROUP BY ALL) z USING (f, l, y)
    """).fetchall()[0][0]  # type: ignore[index]
    if full:
        return expected((int(cells) - observed) / (DAYS - 1), "full_birth_date", int(cells))
    mean = con.execute(f"""
        WITH na AS (SELECT f, l, count(*) n FROM {a} GROUP BY ALL),
             nb AS (SELECT f, l, count(*) n FROM {b} GROUP BY ALL),
             ya AS (SELECT y, count(*) / (SELECT count(*) FROM {a}) s FROM {a} GROUP BY y),
             yb AS (SELECT y, count(*) / (SELECT count(*) FROM {b}) s FROM {b} GROUP BY y)
        SELECT coalesce((SELECT sum(na.n * nb.n) FROM na JOIN nb USING (f, l)), 0)
             * coalesce((SELECT sum(ya.s * yb.s) FROM ya JOIN yb USING (y)), 0)
    """).fetchall()[0][0]  # type: ignore[index]
    return expected(float(mean), "birth_year", int(cells))


def link_registrations(con: duckdb.DuckDBPyConnection, full: bool) -> tuple[int, int, Expected]:
    """Table ``double_matches``: pairs of *different* registrations (another county, or another
    registration number in the same county) credited in the election that share the matching
    key; returns (pairs, pairs in different counties, expected coincidental pairs).

    The expectation is the same birthday argument within one list: the pairs of different
    registrations that share name and birth year, Σ_cell n(n−1)/2, of which the different
    people share the full date with probability 1/365 (module docstring)."""
    on = "a.dob = b.dob" if full else "a.y = b.y"
    con.execute("""CREATE OR REPLACE TEMP TABLE voted_reg AS
        SELECT DISTINCT county, voter_id, f, l, y, dob FROM voted""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE double_matches AS
        SELECT a.county AS county_a, a.voter_id AS voter_id_a, b.county AS county_b,
               b.voter_id AS voter_id_b, a.f, a.l, a.dob, a.y
        FROM voted_reg a JOIN voted_reg b ON a.f = b.f AND a.l = b.l AND {on}
        WHERE (a.county, a.voter_id) < (b.county, b.voter_id)
    """)
    observed, across = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE county_a <> county_b) FROM double_matches"
    ).fetchall()[0]  # type: ignore[misc]
    cells = con.execute("""
        SELECT coalesce(sum(n * (n - 1) / 2), 0)::BIGINT FROM (
          SELECT f, l, y, count(*) n FROM voted_reg GROUP BY ALL)
    """).fetchall()[0][0]  # type: ignore[index]
    if full:
        return observed, across, expected((int(cells) - observed) / (DAYS - 1),
                                          "full_birth_date", int(cells))
    # with the year only, every pair sharing name and year is as likely two people as one:
    # nothing above chance can be shown (the expectation is the count)
    return observed, across, expected(float(cells), "birth_year", int(cells))
