"""NIST CDF conformance: the six synthetic elections of usnistgov/cdf-test-method.

Each election's CVR JSON is ingested into a fresh store and every contest is tabulated with
the plurality tabulator; the totals must equal the published SP 1500-100 results (``Type:
total`` VoteCounts) at every reporting unit the results give counts for — the jurisdiction
(``ALL``) and each precinct / split / combined precinct (``BallotStyleUnitId``).

Overvotes are compared too: SP 1500-100 ``OtherCounts/Overvotes`` counts vote slots lost, i.e.
overvoted cards × ``VotesAllowed``; this checks the reader keeps overvotes visible (including the
open-primary cross-party overvotes of prim-02). Undervotes are not compared: in the primaries the
ERR does not count a party's contests left blank by a voter of another party as undervotes.

Skipped on purpose, exactly one contest: gen-02's ranked ``cc-sherrif``. Its results file lists
0 for every candidate (NIST publishes no RCV round results), so there is nothing to compare a
first-preference or round tally with.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tallyproof.formats.results import ALL, read_official_results
from tallyproof.ingest import ingest
from tallyproof.store import Store
from tallyproof.tabulate import plurality

SYNTH = "cdf-test-method/test_data/synthetic"
ELECTIONS = ("gen-01", "gen-02", "gen-03", "prim-01", "prim-02", "prim-03")
NO_PUBLISHED_COUNTS = {("gen-02", "cc-sherrif")}  # RCV contest, ERR counts all 0 (see docstring)

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("name", ELECTIONS)
def test_tallies_equal_published_results(nist_data: Path, tmp_path: Path, name: str) -> None:
    folder = nist_data / SYNTH / name
    cvr_file = next((folder / "cvr_v1").glob("cvr-*.json"))
    err_file = next((folder / "err_v2").glob("err-*.json"))
    ingest([cvr_file], tmp_path / "store")
    store = Store.open(tmp_path / "store")
    election = store.election
    official = read_official_results(err_file, election)
    assert set(official.counts) == {c.id for c in election.contests}
    table = store.cvrs()
    compared = 0
    for contest in election.contests:
        if (name, contest.id) in NO_PUBLISHED_COUNTS:
            assert contest.ranked
            assert all(
                v == 0 for unit in official.counts[contest.id].values() for v in unit.values()
            )
            continue
        tallies = plurality.tally_table(table, contest, by="precinct")
        whole = plurality.tally_table(table, contest)
        assert ALL in official.counts[contest.id]
        for unit, expected in official.counts[contest.id].items():
            source = whole if unit == ALL else tallies
            got = source[unit].votes if unit in source else {}
            assert {c: got.get(c, 0) for c in expected} == expected, (contest.id, unit)
            assert set(got) <= {c.id for c in contest.candidates}
            assert sum(got.values()) == sum(expected.values()), (contest.id, unit)
            compared += 1
        for unit, other in official.other_counts.get(contest.id, {}).items():
            source = whole if unit == ALL else tallies
            overvoted_cards = source[unit].overvotes if unit in source else 0
            assert overvoted_cards * contest.vote_for == other["overvotes"], (contest.id, unit)
    assert compared > 0
