"""``tallyproof sample``, ``audit estimate`` and ``audit risk`` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tallyproof.audit.kaplan_markov import kaplan_markov_pvalue
from tallyproof.audit.risk import comparison_support, measure_risk
from tallyproof.audit.sampler import sample
from tallyproof.cli import main


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_sample_published_vector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("A-1\nA-2\nA-3\n\nB-1\nB-2\nB-3\n", encoding="utf-8")
    out = run_json(capsys, ["sample", "--seed", "314159", "--ids", str(ids), "--size", "4",
                            "--json"])
    assert isinstance(out, list)
    assert [d["id"] for d in out] == ["B-2", "B-3", "A-3", "A-2"]
    assert set(out[0]) == {"id", "ticket", "generation"}
    assert out[0]["ticket"].startswith("0.") and out[0]["generation"] == 1


def test_sample_with_replacement_and_table(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("A#2\nB#7\nC#1\nD#4\n", encoding="utf-8")
    out = run_json(capsys, ["sample", "--seed", "314159", "--ids", str(ids), "--size", "8",
                            "--with-replacement", "--json"])
    assert [d["id"] for d in out] == ["D#4", "C#1", "C#1", "B#7", "A#2", "C#1", "D#4", "B#7"]
    assert main(["sample", "--seed", "314159", "--ids", str(ids), "--size", "2"]) == 0
    assert "D#4" in capsys.readouterr().out


def test_sample_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "--seed", "1", "--ids", str(tmp_path / "missing.txt"),
                 "--size", "1"]) == 2
    dup = tmp_path / "dup.txt"
    dup.write_text("a\na\n", encoding="utf-8")
    assert main(["sample", "--seed", "1", "--ids", str(dup), "--size", "1"]) == 2
    assert "duplicate" in capsys.readouterr().err


def test_estimate_bravo_published(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["audit", "estimate", "--method", "bravo", "--risk-limit", "0.1",
                            "--margin", "0.01", "--json"])
    assert isinstance(out, dict)
    # the published ASN is the expected size; the plan is the 0.9-quantile of the stopping
    # time (it printed the ASN, 46,151, before)
    assert math.ceil(out["expected"]) == 46151 and out["schema_version"] == 1
    assert out["quantile"] == 0.9 and out["sampling"] == "with replacement"
    # exact on the lattice (it was simulated, with a 95% interval holding this value)
    assert out["computed"] == "exact" and out["sample_size"] == 96_469


def test_estimate_polling_says_its_basis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "estimate", "--method", "bravo", "--risk-limit", "0.1", "--votes",
                 "A=600,B=400"]) == 0
    text = capsys.readouterr().out
    assert "244 ballots" in text and "quantile 0.9 of the stopping time" in text
    assert "exact" in text and "with replacement" in text and "expected 118.9" in text
    assert main(["audit", "estimate", "--method", "alpha", "--audit", "polling",
                 "--risk-limit", "0.1", "--votes", "A=6000,B=4000", "--quantile", "0.8"]) == 0
    text = capsys.readouterr().out
    # 171 ballots with replacement is 1.7% of 10,000: that quantile bounds the one without
    assert "171 ballots" in text and "without replacement" not in text
    assert ("quantile 0.8 of the stopping time with replacement (exact), an upper bound for "
            "sampling without") in text
    assert main(["audit", "estimate", "--method", "alpha", "--audit", "polling",
                 "--risk-limit", "0.1", "--votes", "A=600,B=400", "--quantile", "0.8"]) == 0
    text = capsys.readouterr().out  # 17% of 1,000 ballots: simulated without replacement
    assert "quantile 0.8 of the stopping time" in text and "without replacement" in text
    assert "400 simulated audits, 95% interval" in text
    closer = run_json(capsys, ["audit", "estimate", "--method", "bravo", "--risk-limit", "0.1",
                               "--votes", "A=6000,B=4000", "--assumed-votes",
                               "A=5800,B=4200", "--json"])
    assert isinstance(closer, dict) and closer["assumed_votes"] == {"A": 5800, "B": 4200}
    assert closer["sample_size"] > 244
    assert main(["audit", "estimate", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "stops with probability at least q" in help_text
    assert "without replacement" in help_text and "--assumed-votes" in help_text


def test_estimate_votes_and_rates(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["audit", "estimate", "--method", "kaplan-markov", "--risk-limit",
                            "0.05", "--votes", "A=5200,B=4800", "--o1", "0.001", "--json"])
    assert isinstance(out, dict)
    assert out["margin"] == pytest.approx(0.04) and out["ballots"] == 10_000
    # with errors, both as the 0.9-quantile of the stopping time
    kelly = run_json(capsys, ["audit", "estimate", "--method", "kelly", "--risk-limit", "0.05",
                              "--votes", "A=5200,B=4800", "--o1", "0.001", "--json"])
    km = run_json(capsys, ["audit", "estimate", "--method", "kaplan-markov", "--risk-limit",
                           "0.05", "--votes", "A=5200,B=4800", "--o1", "0.001", "--quantile",
                           "0.9", "--json"])
    assert isinstance(kelly, dict) and isinstance(km, dict)
    assert kelly["basis"] == "stopping-time distribution" and kelly["quantile"] == 0.9
    assert kelly["sample_size"] <= km["sample_size"]
    assert main(["audit", "estimate", "--method", "kelly", "--risk-limit", "0.05",
                 "--margin", "0.05"]) == 0
    assert "ballots" in capsys.readouterr().out


def test_estimate_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "estimate", "--method", "bravo", "--risk-limit", "0.1"]) == 2
    assert main(["audit", "estimate", "--method", "bravo", "--risk-limit", "0.1",
                 "--votes", "A=x"]) == 2


def test_risk_kaplan_markov(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["audit", "risk", "--method", "kaplan-markov", "--n", "150",
                            "--margin", "0.05", "--o1", "1", "--json"])
    assert isinstance(out, dict)
    assert out["p_value"] == pytest.approx(kaplan_markov_pvalue(150, o1=1, margin=0.05))


def test_risk_betting_and_bravo(capsys: pytest.CaptureFixture[str]) -> None:
    clean = run_json(capsys, ["audit", "risk", "--method", "kelly", "--n", "150", "--margin",
                              "0.05", "--json"])
    errs = run_json(capsys, ["audit", "risk", "--method", "kelly", "--n", "150", "--margin",
                             "0.05", "--o1", "2", "--json"])
    assert isinstance(clean, dict) and isinstance(errs, dict)
    assert clean["p_value"] < errs["p_value"] <= 1
    bravo = run_json(capsys, ["audit", "risk", "--method", "bravo", "--n", "100", "--margin",
                              "0.2", "--winner", "62", "--loser", "38", "--json"])
    assert isinstance(bravo, dict)
    assert bravo["p_value"] == pytest.approx(1 / (1.2**62 * 0.8**38))
    assert main(["audit", "risk", "--method", "bravo", "--n", "10", "--margin", "0.2"]) == 2


def test_sample_keeps_ids_exactly_as_written(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    written = [" A-1", "A-1", "A-1 ", "B\t2", "B 3  "]
    ids = tmp_path / "ids.txt"
    ids.write_bytes(("\r\n".join(written) + "\r\n\r\n").encode("utf-8"))
    out = run_json(capsys, ["sample", "--seed", "314159", "--ids", str(ids), "--size",
                            str(len(written)), "--json"])
    assert isinstance(out, list)
    expected = sample(written, "314159", len(written))
    assert [(d["id"], d["ticket"]) for d in out] == [(d.id, d.ticket) for d in expected]
    assert sorted(d["id"] for d in out) == sorted(written)  # nothing merged or trimmed


@pytest.mark.parametrize("method", ["kelly", "alpha", "agrapa", "betting"])
def test_risk_from_counts_holds_whatever_the_order(method: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, ["audit", "risk", "--method", method, "--n", "150", "--margin",
                            "0.05", "--o1", "2", "--json"])
    assert isinstance(out, dict)
    upper = 2 / (2 - 0.05)
    support = comparison_support(upper)
    rng = np.random.default_rng(5)
    orders = [np.array([1, 1] + [2] * 148)] + [rng.permutation([1, 1] + [2] * 148)
                                               for _ in range(30)]
    ps = [measure_risk(support[o], upper=upper, N=None, method=method).p_value for o in orders]
    assert out["p_value"] >= max(ps) * (1 - 1e-9)
    assert out["order"] in ("largest over every order (exact)",
                            "upper bound on the largest over every order")


def test_risk_bravo_margin_is_diluted_and_votes_give_the_pair_share(
        capsys: pytest.CaptureFixture[str]) -> None:
    by_votes = run_json(capsys, ["audit", "risk", "--method", "bravo", "--n", "100", "--votes",
                                 "A=600,B=400,C=100", "--winner", "55", "--loser", "35",
                                 "--json"])
    assert isinstance(by_votes, dict)
    assert by_votes["margin"] == pytest.approx(200 / 1100)  # diluted over all 1,100 ballots
    assert by_votes["p_value"] == pytest.approx(1 / (1.2**55 * 0.8**35))  # pair share 0.6
    m = 200 / 1100
    by_margin = run_json(capsys, ["audit", "risk", "--method", "bravo", "--n", "100",
                                  "--margin", repr(m), "--winner", "55", "--loser", "35",
                                  "--json"])
    assert isinstance(by_margin, dict)
    assert by_margin["p_value"] == pytest.approx(1 / ((1 + m) ** 55 * (1 - m) ** 35))
    assert main(["audit", "risk", "--method", "bravo", "--n", "100", "--winner", "5",
                 "--loser", "3"]) == 2  # neither --margin nor --votes


def test_estimate_kaplan_markov_says_which_formula(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["audit", "estimate", "--method", "kaplan-markov", "--risk-limit", "0.1",
            "--margin", "0.01"]
    stark = run_json(capsys, [*base, "--formula", "stark", "--json"])
    exact = run_json(capsys, [*base, "--json"])
    assert isinstance(stark, dict) and isinstance(exact, dict)
    assert stark["sample_size"] == 479 and "Stark 2010" in stark["formula"]
    assert exact["sample_size"] < stark["sample_size"] and exact["formula"] == "exact smallest n"
    assert main([*base, "--formula", "stark"]) == 0
    assert "Stark 2010" in capsys.readouterr().out
    assert main([*base, "--formula", "nope"]) == 2


def test_risk_help_says_what_the_counts_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "risk", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "largest over every order" in text and "upper bound" in text
    assert "diluted margin" in text and "--votes" in text
