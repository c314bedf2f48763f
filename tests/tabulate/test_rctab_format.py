"""Pieces of RCTab's report format and config parsing, without the real data."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tallyproof.errors import InputError
from tallyproof.tabulate.rctab import (
    _csv_field,
    _pct,
    java_hashmap_order,
    load_config,
    sanitize,
)
from tallyproof.tabulate.rules import UNLIMITED, OvervoteRule, TiebreakMode, rules_from_rctab


def test_java_hashmap_order() -> None:
    # String.hashCode buckets in a 32-slot table: Miller (0) < Eder (6), Brennan (9) < Vail (30)
    names = ["Brennan, Michael F.", "Eder, John M.", "Miller, Markos S.", "Vail, Christopher L."]
    names += [f"x{i}" for i in range(10)]
    order = java_hashmap_order(names)
    assert order.index("Miller, Markos S.") < order.index("Eder, John M.")
    assert order.index("Brennan, Michael F.") < order.index("Vail, Christopher L.")
    assert sorted(order) == sorted(names)


def test_csv_quoting_like_commons_csv() -> None:
    assert _csv_field("Portland, ME", False) == '"Portland, ME"'
    assert _csv_field("-0.7499", False) == "-0.7499"
    assert _csv_field("", False) == ""
    assert _csv_field("", True) == '""'
    assert _csv_field('say "hi"', False) == '"say ""hi"""'
    assert _csv_field("#x", True) == '"#x"'
    assert _csv_field("Eliminated†", True) == "Eliminated†"


def test_percent_truncates_like_rctab() -> None:
    assert _pct(Decimal(13), Decimal(98)) == "13.26%"
    assert _pct(Decimal(7), Decimal(28)) == "25.0%"
    assert _pct(Decimal(0), Decimal(5)) == "0.0%"
    assert _pct(Decimal(1), Decimal(0)) == ""


def test_sanitize() -> None:
    assert sanitize("MINNEAPOLIS W-13 P-13") == "MINNEAPOLIS_W-13_P-13"


def test_rules_from_rctab_strings() -> None:
    r = rules_from_rctab({"maxSkippedRanksAllowed": "unlimited", "maxRankingsAllowed": "max",
                          "overvoteRule": "alwaysSkipToNextRank", "tiebreakMode": "random",
                          "randomSeed": "9", "numberOfWinners": "1",
                          "decimalPlacesForVoteArithmetic": "4", "minimumVoteThreshold": ""})
    assert r.max_skipped_ranks_allowed == UNLIMITED
    assert r.max_rankings_allowed == UNLIMITED
    assert r.overvote_rule == OvervoteRule.ALWAYS_SKIP_TO_NEXT_RANK
    assert r.tiebreak_mode == TiebreakMode.RANDOM and r.random_seed == 9
    assert r.minimum_vote_threshold == 0


@pytest.mark.parametrize("rules", [{"overvoteRule": "sometimes"},
                                   {"tiebreakMode": "random", "randomSeed": ""},
                                   {"numberOfWinners": "two"}])
def test_bad_rules_name_the_field(rules: dict[str, str]) -> None:
    with pytest.raises(InputError) as info:
        rules_from_rctab(rules, file="c.json")
    assert "rules." in str(info.value) and "c.json" in str(info.value)


def test_load_config_checks(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"rules": {}, "candidates": [], "cvrFileSources": []}))
    with pytest.raises(InputError, match="no candidates"):
        load_config(p)
    p.write_text("{nope")
    with pytest.raises(InputError, match="not JSON"):
        load_config(p)
    p.write_text(json.dumps({
        "outputSettings": {"contestName": "X", "tabulateByPrecinct": True},
        "rules": {"numberOfWinners": "1"},
        "candidates": [{"name": "A", "aliases": ["1"]}, {"name": "B"}],
        "cvrFileSources": [{"filePath": "x.csv", "provider": "ess",
                            "undeclaredWriteInLabel": "UWI"}],
    }))
    cfg = load_config(p)
    assert cfg.names == ("A", "B", "Undeclared Write-ins")
    assert cfg.tabulate_by == ("precinct",)
    assert cfg.candidates[0].aliases == ("1",)
