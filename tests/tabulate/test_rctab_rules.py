"""RCTab ``rules`` keys: every one is implemented or refused, never ignored; and the rules that
change who wins (cutoff elimination, bottoms-up with a percentage threshold) on small hand-built
elections."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tallyproof.errors import InputError, UsageError
from tallyproof.tabulate.ballots import from_lists
from tallyproof.tabulate.rctab import load_config
from tallyproof.tabulate.rcv import tabulate_ranked
from tallyproof.tabulate.rules import (
    LEGACY_SOURCE_KEYS,
    RULE_KEYS,
    RcvRules,
    WinnerElectionMode,
    rules_from_rctab,
)
from tests.conftest import require_shared_data

BOTTOMS_UP_PCT = {"winnerElectionMode": "bottomsUpUsingPercentageThreshold",
                  "numberOfWinners": "0", "multiSeatBottomsUpPercentageThreshold": "15"}


def test_every_known_rule_key_sets_a_field() -> None:
    fields = {f.name for f in dataclasses.fields(RcvRules)}
    for key, field in RULE_KEYS.items():
        assert field in fields or key == "rulesDescription", key


@pytest.mark.parametrize("rules", [
    {"cutoffElimnation": True},  # a misspelt rule is an error, never a silent default
    {"random Seed": 0},
    {"someFutureRule": "x"},
    {"treatBlankAsUndeclaredWriteIn": True},  # legacy place, a value that would matter
    {"undeclaredWriteInLabel": "UWI"},
])
def test_unknown_or_misplaced_rule_is_refused(rules: dict[str, Any]) -> None:
    key = next(iter(rules))
    with pytest.raises(InputError) as info:
        rules_from_rctab(rules, file="c.json")
    assert f"rules.{key}" in str(info.value) and "c.json" in str(info.value)


def test_legacy_keys_at_their_no_effect_value_are_accepted() -> None:
    rules_from_rctab({"overvoteLabel": "", "skippedRankLabel": " ", "undeclaredWriteInLabel": "",
                      "treatBlankAsUndeclaredWriteIn": False, "rulesDescription": "Doyle"})


@pytest.mark.parametrize(("rules", "field"), [
    ({"cutoffElimination": True}, "cutoffElimination"),  # only for bottoms-up percentage
    ({"cutoffElimination": "yes", **BOTTOMS_UP_PCT}, "cutoffElimination"),
    ({**BOTTOMS_UP_PCT, "numberOfWinners": "3"}, "numberOfWinners"),
    ({**BOTTOMS_UP_PCT, "multiSeatBottomsUpPercentageThreshold": ""},
     "multiSeatBottomsUpPercentageThreshold"),
    ({"numberOfWinners": "0"}, "numberOfWinners"),
    ({"batchElimination": "maybe"}, "batchElimination"),
])
def test_inconsistent_rules_are_refused(rules: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        rules_from_rctab(rules, file="c.json")
    assert f"rules.{field}" in str(info.value)


def test_boolean_rules_read_strings_as_rctab_does() -> None:
    r = rules_from_rctab({"batchElimination": "True", "continueUntilTwoCandidatesRemain": "false"})
    assert r.batch_elimination and not r.continue_until_two_candidates_remain


def test_bottoms_up_percentage_parses() -> None:
    r = rules_from_rctab({**BOTTOMS_UP_PCT, "cutoffElimination": True})
    assert r.winner_election_mode == WinnerElectionMode.BOTTOMS_UP_PERCENTAGE
    assert r.number_of_winners == 0 and r.cutoff_elimination
    assert r.multi_seat_bottoms_up_percentage_threshold == Decimal(15)


# first choices 9 A, 5 B, 4 C, 3 D (then C), 2 E (then D), 1 F: 24 ballots, 15% of 24 = 3.6.
# Bottoms-up drops the last one at a time — F, then E, whose votes lift D to 5, over the new
# threshold 15% of 23 = 3.45 — and elects A, B, C, D. Cutoff elimination drops everyone under
# 3.6 (D, E, F) at once: D's votes go to C, E's exhaust, and A, B, C are elected. Ignoring the
# rule would elect the wrong candidates.
A, B, C, D, E, F = range(6)
NAMES = ["A", "B", "C", "D", "E", "F"]
BALLOTS = ([[[A]]] * 9 + [[[B]]] * 5 + [[[C]]] * 4 + [[[D], [C]]] * 3 + [[[E], [D]]] * 2
           + [[[F]]])


def _bottoms_up(cutoff: bool) -> Any:
    rules = rules_from_rctab({**BOTTOMS_UP_PCT, "cutoffElimination": cutoff})
    return tabulate_ranked(from_lists(BALLOTS), NAMES, rules)


def test_bottoms_up_percentage_eliminates_one_at_a_time() -> None:
    r = _bottoms_up(cutoff=False)
    assert [rr.eliminated for rr in r.rounds[:2]] == [("F",), ("E",)]
    assert r.rounds[0].threshold == Decimal("3.60")
    assert r.rounds[2].threshold == Decimal("3.45")
    assert set(r.winners) == {"A", "B", "C", "D"}


def test_cutoff_elimination_drops_everyone_under_the_threshold_at_once() -> None:
    r = _bottoms_up(cutoff=True)
    assert r.rounds[0].eliminated == ("D", "E", "F")
    assert len(r.rounds) == 2
    assert r.rounds[1].elected == ("A", "B", "C")
    assert set(r.winners) == {"A", "B", "C"}
    assert r.rounds[1].tally["C"] == 7
    assert r.rounds[1].threshold == Decimal("3.15")


def test_cutoff_elimination_refuses_to_eliminate_everyone() -> None:
    rules = rules_from_rctab({**BOTTOMS_UP_PCT, "multiSeatBottomsUpPercentageThreshold": "50",
                              "cutoffElimination": True})
    with pytest.raises(UsageError, match="every candidate is below"):
        tabulate_ranked(from_lists([[[A]], [[B]], [[C]]]), ["A", "B", "C"], rules)


@pytest.mark.realdata
def test_every_rule_key_in_the_rctab_suite_is_used_or_refused() -> None:
    """Walk every config of RCTab's regression suite: each ``rules`` key is one tallyproof
    implements (:data:`RULE_KEYS`), a legacy key at its no-effect value, or loading the config
    fails naming that key."""
    root = require_shared_data("rctab")
    configs = sorted(root.rglob("*config*.json"))
    assert len(configs) > 70
    seen = 0
    for path in configs:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or "rules" not in raw:
            continue
        for key, value in raw["rules"].items():
            seen += 1
            if key in RULE_KEYS:
                continue
            if key in LEGACY_SOURCE_KEYS and value in ("", False):
                continue
            with pytest.raises(InputError) as info:
                load_config(path)
            assert f"rules.{key}" in str(info.value), (path, key)
    assert seen > 1000


def _write_config(tmp: Path, rules: dict[str, Any]) -> Path:
    p = tmp / "c.json"
    p.write_text(json.dumps({"rules": rules, "candidates": [{"name": "A"}],
                             "cvrFileSources": [{"filePath": "x.xlsx", "provider": "ess"}]}))
    return p


def test_load_config_refuses_an_unknown_rule(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown rule rules.newRule"):
        load_config(_write_config(tmp_path, {"newRule": True}))


def _generic_csv_config(tmp: Path, csv_text: str, *, max_rankings: str,
                        by_precinct: bool = False) -> Path:
    (tmp / "cvr.csv").write_text(csv_text)
    p = tmp / "config.json"
    p.write_text(json.dumps({
        "outputSettings": {"contestName": "T", "tabulateByPrecinct": by_precinct},
        "cvrFileSources": [{"filePath": "cvr.csv", "provider": "genericCsv",
                            "firstVoteColumnIndex": "2", "firstVoteRowIndex": "2",
                            "idColumnIndex": "", "precinctColumnIndex": ""}],
        "candidates": [{"name": n} for n in ("Candidate A", "Candidate B", "Candidate C",
                                             "Candidate D")],
        "rules": {"numberOfWinners": "1", "maxRankingsAllowed": max_rankings},
    }))
    return p


FOUR_RANKS = "id,Candidate A,Candidate B,Candidate C,Candidate D\n1,1,2,3,4\n2,1,2,3,\n3,2,1,,\n"


def test_a_ballot_ranking_past_max_rankings_is_refused(tmp_path: Path) -> None:
    """RCTab refuses such a ballot; dropping its later ranks silently could change a count."""
    from tallyproof.tabulate.rctab import read_config_ballots

    with pytest.raises(InputError, match="rank 4, above maxRankingsAllowed 3") as info:
        read_config_ballots(load_config(_generic_csv_config(tmp_path, FOUR_RANKS,
                                                            max_rankings="3")))
    assert "cvr.csv" in str(info.value)
    ok = read_config_ballots(load_config(_generic_csv_config(tmp_path, FOUR_RANKS,
                                                             max_rankings="4")))
    assert ok.total == 3


def test_tabulate_by_precinct_without_precincts_is_refused(tmp_path: Path) -> None:
    from tallyproof.tabulate.rctab import read_config_ballots

    cfg = load_config(_generic_csv_config(tmp_path, FOUR_RANKS, max_rankings="4",
                                          by_precinct=True))
    with pytest.raises(InputError, match="no CVR carries a precinct"):
        read_config_ballots(cfg)


def _config(rules: dict[str, Any], names: list[str], by: tuple[str, ...] = ()) -> Any:
    from tallyproof.tabulate.rctab import RctabCandidate, RctabConfig

    return RctabConfig(path=Path("c.json"), contest_name="T", jurisdiction="", office="",
                       date="", tabulate_by=by,
                       candidates=tuple(RctabCandidate(n) for n in names),
                       sources=({"provider": "ess"},), rules=rules_from_rctab(rules))


def test_multi_pass_irv_reruns_irv_without_earlier_winners() -> None:
    """Sequential multi-seat IRV: pass 1 is IRV (C, last with 2, goes to A: A wins 6 to 3);
    pass 2 is IRV again over the same ballots with A excluded, so A's voters count for their
    next choice C (6 to B's 3) — not the first pass's runner-up B, and no surplus transfer."""
    from tallyproof.tabulate.rctab import tabulate_config, tabulate_passes

    ballots = from_lists([[[0], [2]]] * 4 + [[[1]]] * 3 + [[[2], [0]]] * 2)  # A, B, C
    cfg = _config({"winnerElectionMode": "multiPassIrv", "numberOfWinners": "2"},
                  ["A", "B", "C"])
    passes = tabulate_passes(cfg, ballots)
    assert [r.winners for _, r in passes] == [("A",), ("C",)]
    second_cfg, second = passes[1]
    assert [c.excluded for c in second_cfg.candidates] == [True, False, False]
    assert second.rounds[0].tally == {"B": 3, "C": 6}  # A's 4 ballots moved to C at once
    assert tabulate_config(cfg, ballots).winners == ("A", "C")


def test_multi_pass_irv_refuses_slices_and_too_many_seats() -> None:
    from tallyproof.tabulate.rctab import tabulate_passes

    ballots = from_lists([[[0]], [[1]]])
    with pytest.raises(UsageError, match="only 2 candidates"):
        tabulate_passes(_config({"winnerElectionMode": "multiPassIrv", "numberOfWinners": "3"},
                                ["A", "B"]), ballots)
    with pytest.raises(UsageError, match="multiPassIrv"):
        tabulate_passes(_config({"winnerElectionMode": "multiPassIrv", "numberOfWinners": "2"},
                                ["A", "B"], by=("precinct",)), ballots)
