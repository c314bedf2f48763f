"""Splink 5 (DuckDB) on tallyproof's synthetic voter files: the comparison behind docs/voters.md.

Not a dependency and not in benchmarks/run.py. Reproduce with Splink installed apart from the
project's venv, e.g.::

    pip install --no-deps --target /tmp/splink_t splink==5.0.0 sqlglot==30.31.0
    tallyproof voters demo --out /tmp/v --voters 50000 --deaths 20000 --fault dead-voter
    PYTHONPATH=/tmp/splink_t:src python benchmarks/compare_splink_voters.py /tmp/v 0.999

Links voters credited to death records dated before election day (Jaro-Winkler names, Splink's
date-of-birth comparison, blocking on date of birth and on full name), trains u by random
sampling and m by EM, and scores the pairs above the threshold against truth.json.
"""

import json
import resource
import sys
import time

import duckdb
t0 = time.time()
from splink import Linker, SettingsCreator, DuckDBAPI, block_on
import splink.comparison_library as cl
from tallyproof.voters.readers import read_voter_file as r  # noqa: E402
d = sys.argv[1]
roll, hist, deaths = (r(f"{d}/{k}.csv", k) for k in ("roll", "history", "deaths"))
truth = json.load(open(f"{d}/truth.json"))
con = duckdb.connect()
con.register("roll_t", roll); con.register("hist_t", hist); con.register("deaths_t", deaths)
con.execute("""CREATE TABLE v AS SELECT h.voter_id AS unique_id, upper(r.first) first_name,
  upper(r.last) surname, r.birth_date::VARCHAR dob FROM hist_t h JOIN roll_t r USING (county, voter_id)""")
con.execute("""CREATE TABLE dth AS SELECT 'D'||row_number() over () AS unique_id, upper(first) first_name,
  upper(last) surname, birth_date::VARCHAR dob FROM deaths_t WHERE death_date < DATE '2020-11-03'""")
db = DuckDBAPI(connection=con)
settings = SettingsCreator(
    link_type="link_only",
    comparisons=[cl.JaroWinklerAtThresholds("first_name", [0.9]),
                 cl.JaroWinklerAtThresholds("surname", [0.9]),
                 cl.DateOfBirthComparison("dob", input_is_string=True)],
    blocking_rules_to_generate_predictions=[block_on("dob"), block_on("surname", "first_name")],
)
dv = db.register("v", dataset_display_name="voters")
dd = db.register("dth", dataset_display_name="deaths")
linker = Linker([dv, dd], settings)
t1 = time.time()
linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
pred = linker.inference.predict(threshold_match_probability=float(sys.argv[2]))
rows = con.sql(f"SELECT unique_id_l, unique_id_r, match_probability FROM {pred.physical_name}").fetchall()
t2 = time.time()
found = {a if not a.startswith("D") else b for a, b, p in rows}
planted = set(truth["dead_voter"]) | set(truth["died_after"])
hit = len(found & planted)
print(f"splink: rows={len(rows)} found={len(found)} planted={len(planted)} hit={hit} precision={hit/max(1,len(found)):.3f} recall={hit/len(planted):.3f} train+predict={t2-t1:.1f}s total={t2-t0:.1f}s maxrss={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f}MB")
