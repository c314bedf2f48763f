"""Tabulation of every contest kind: vote-for-N and approval (:mod:`.plurality`), IRV
(:mod:`.rcv`) and multi-seat STV (:mod:`.stv`) with RCTab's rule options (:mod:`.rules`),
RCTab configurations and reports (:mod:`.rctab`), and a whole store (:mod:`.store_results`)."""

from __future__ import annotations

from .ballots import RankedBallots
from .plurality import ContestTally, tally_store, tally_table
from .rcv import RcvResult, RoundResult, irv, tabulate_ranked
from .rules import RcvRules
from .store_results import ContestOutcome, StoreResults, tabulate_store, tally_ranked_store
from .stv import stv

__all__ = [
    "ContestOutcome",
    "ContestTally",
    "RankedBallots",
    "RcvResult",
    "RcvRules",
    "RoundResult",
    "StoreResults",
    "irv",
    "stv",
    "tabulate_ranked",
    "tabulate_store",
    "tally_ranked_store",
    "tally_store",
    "tally_table",
]
