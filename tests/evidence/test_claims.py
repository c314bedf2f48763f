"""Claims wording per situation: never more than the checks show."""

from __future__ import annotations

from tallyproof.evidence.checks import Check
from tallyproof.evidence.claims import claims_from_checks


def by_id(checks):
    return {c.id: c for c in claims_from_checks(checks)}


def test_nothing_run_answers_nothing():
    claims = by_id([])
    assert {c.verdict for c in claims.values()} == {"not_answered"}
    assert "no paper ballots were audited" in claims["votes_switched"].finding


def test_clean_checks_without_audit_leave_switching_unanswered():
    checks = [
        Check("ledger", "pass", "all 12 leaves and 1 signed checkpoint(s) verify"),
        Check("tabulation", "pass", "same results"),
        Check("reconciliation.manifest", "pass", "all 3 manifest batches match: 12 CVRs"),
        Check("reconciliation.duplicates", "pass", "all 12 ballot ids are distinct"),
        Check("official_results", "pass", "the count matches"),
        Check("audit", "not_run", "no risk-limiting audit was run"),
    ]
    claims = by_id(checks)
    assert claims["cvrs_deleted"].verdict == "no_problem_found"
    assert "12 CVRs" in claims["cvrs_deleted"].finding
    assert "the pollbook comparison" in claims["cvrs_deleted"].finding  # named as not checked
    assert claims["votes_switched"].verdict == "not_answered"
    assert claims["results_changed"].verdict == "no_problem_found"
    assert claims["results_changed"].evidence == ("#check-ledger", "#check-tabulation")
    assert claims["count_not_certified"].verdict == "no_problem_found"


def test_missing_cards_bear_on_deletion_not_addition():
    manifest = Check("reconciliation.manifest", "fail", "1 batch(es) differ", {
        "differences": [{"kind": "manifest_batch_without_cvrs", "manifest": 4, "cvrs": 0,
                         "difference": -4}]})
    claims = by_id([manifest, Check("reconciliation.duplicates", "pass", "distinct")])
    assert claims["cvrs_deleted"].verdict == "problem_found"
    assert "1 batch(es) differ" in claims["cvrs_deleted"].finding
    assert claims["ballots_added"].verdict == "no_problem_found"


def test_extra_cards_and_duplicates_bear_on_addition():
    pb = Check("reconciliation.pollbooks", "fail", "2 difference(s)", {
        "differences": [{"kind": "cvrs_differ_from_checkins", "difference": 3}]})
    dup = Check("reconciliation.duplicates", "fail", "1 ballot id(s) appear more than once",
                {"extra_cards": 1})
    claims = by_id([pb, dup])
    assert claims["ballots_added"].verdict == "problem_found"
    assert claims["ballots_added"].answered_by == ("reconciliation.pollbooks",
                                                   "reconciliation.duplicates")
    assert claims["cvrs_deleted"].verdict == "no_problem_found"


def test_ledger_failure_answers_changed_after_counting_and_audit_answers_switching():
    claims = by_id([Check("ledger", "fail", "leaf 7 does not match"),
                    Check("audit", "pass", "risk limit met"),
                    Check("official_results", "fail", "2 vote count(s) differ")])
    assert claims["results_changed"].verdict == "problem_found"
    assert "leaf 7 does not match" in claims["results_changed"].finding
    assert claims["votes_switched"].verdict == "no_problem_found"
    assert claims["count_not_certified"].verdict == "problem_found"


def test_mail_received_but_not_accounted_for_bears_on_deletion():
    mail = Check("reconciliation.mail", "fail", "1 mail ballot difference(s)", {
        "differences": [{"kind": "mail_received_not_counted_plus_rejected", "received": 12,
                         "counted_plus_rejected": 11, "difference": -1}]})
    claims = by_id([mail])
    assert claims["cvrs_deleted"].verdict == "problem_found"
    assert claims["ballots_added"].verdict == "no_problem_found"
    assert "none that bear on this claim" in claims["ballots_added"].finding


def test_audit_in_progress_answers_nothing_yet():
    audit = Check("audit", "fail", "another round after 1 round(s)",
                  {"status": "another_round", "discrepancies": {"one-vote understatement": 1}})
    claim = by_id([audit])["votes_switched"]
    assert claim.verdict == "not_answered"
    assert claim.finding.startswith("Not answered yet")
    waiting = Check("audit", "fail", "waiting after 1 round(s)",
                    {"status": "waiting", "discrepancies": {}})
    assert by_id([waiting])["votes_switched"].verdict == "not_answered"
    escalated = Check("audit", "fail", "full hand count", {
        "status": "full_hand_count", "discrepancies": {"two-vote overstatement": 6}})
    assert by_id([escalated])["votes_switched"].verdict == "problem_found"


def test_registry_new_claims_answered_by_hand_count_and_history() -> None:
    from tallyproof.evidence.claims import CHECK_DATA, SPECS, claims_from_checks

    # every check a claim names says which data it needs
    assert {n for s in SPECS for n, _ in s.checks} <= set(CHECK_DATA)
    hand = Check("hand_count", "pass", "The hand count elects the same winner.")
    history = Check("results_history", "fail", "1 corrected counts downwards.")
    by_id = {c.id: c for c in claims_from_checks([hand, history])}
    assert by_id["votes_switched"].verdict == "no_problem_found"
    assert by_id["votes_lost"].verdict == "no_problem_found"
    assert by_id["results_shifted"].verdict == "problem_found"
    # without the data, not answered, and the finding says what would answer it
    nothing = {c.id: c for c in claims_from_checks([])}
    assert nothing["results_shifted"].verdict == "not_answered"
    assert "tallyproof results add" in nothing["results_shifted"].finding


def test_applicable_checks_leave_out_claims_no_check_could_answer() -> None:
    from tallyproof.evidence.claims import claims_from_checks

    hand = Check("hand_count", "pass", "The hand count elects the same winner.")
    claims = claims_from_checks([hand], applicable={"hand_count", "results_history"})
    ids = [c.id for c in claims]
    assert "cvrs_deleted" not in ids and "count_not_certified" not in ids
    switched = next(c for c in claims if c.id == "votes_switched")
    assert "audit" not in switched.not_run and "Not checked" not in switched.finding
