"""Rule options of a ranked-choice tabulation, named and valued as in RCTab's contest config.

RCTab (the certified tabulator whose regression data lives in ``../shared/data/rctab``) keeps
its options under ``rules`` in a contest-config JSON file, as strings. :class:`RcvRules` holds the
same options, typed, with RCTab's defaults, so that a published RCTab configuration reproduces
exactly (see :mod:`tallyproof.tabulate.rctab`) and a store can be tabulated with the documented
defaults (``docs/tabulation.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from ..errors import InputError

UNLIMITED = -1  # value of max_skipped_ranks_allowed / max_rankings_allowed meaning "no limit"


class OvervoteRule(StrEnum):
    """What a rank with several candidates marked does to a ballot."""

    ALWAYS_SKIP_TO_NEXT_RANK = "alwaysSkipToNextRank"
    EXHAUST_IMMEDIATELY = "exhaustImmediately"
    EXHAUST_IF_MULTIPLE_CONTINUING = "exhaustIfMultipleContinuing"


class TiebreakMode(StrEnum):
    """How a tie for last place (or for a seat) is broken."""

    RANDOM = "random"
    STOP_COUNTING_AND_ASK = "stopCountingAndAsk"
    PREVIOUS_ROUND_COUNTS_THEN_RANDOM = "previousRoundCountsThenRandom"
    PREVIOUS_ROUND_COUNTS_THEN_ASK = "previousRoundCountsThenAsk"
    USE_CANDIDATE_ORDER = "useCandidateOrder"
    GENERATE_PERMUTATION = "generatePermutation"


class WinnerElectionMode(StrEnum):
    """How winners are chosen (single winner, or the multi-seat variants)."""

    SINGLE_WINNER_MAJORITY = "singleWinnerMajority"
    MULTI_WINNER_ONE_PER_ROUND = "multiWinnerAllowOnlyOneWinnerPerRound"
    MULTI_WINNER_MULTIPLE_PER_ROUND = "multiWinnerAllowMultipleWinnersPerRound"
    BOTTOMS_UP = "bottomsUp"
    BOTTOMS_UP_PERCENTAGE = "bottomsUpUsingPercentageThreshold"


@dataclass(frozen=True)
class RcvRules:
    """Typed RCTab ``rules``; defaults are RCTab's own defaults for a new contest."""

    number_of_winners: int = 1
    winner_election_mode: WinnerElectionMode = WinnerElectionMode.SINGLE_WINNER_MAJORITY
    overvote_rule: OvervoteRule = OvervoteRule.EXHAUST_IMMEDIATELY
    tiebreak_mode: TiebreakMode = TiebreakMode.USE_CANDIDATE_ORDER
    random_seed: int | None = None
    max_skipped_ranks_allowed: int = 1  # UNLIMITED (-1) = "unlimited"
    max_rankings_allowed: int = UNLIMITED  # UNLIMITED = "max" (as many as the ballot offers)
    exhaust_on_duplicate_candidate: bool = False
    batch_elimination: bool = False
    continue_until_two_candidates_remain: bool = False
    minimum_vote_threshold: Decimal = Decimal(0)
    decimal_places_for_vote_arithmetic: int = 4
    non_integer_winning_threshold: bool = False
    hare_quota: bool = False
    first_round_determines_threshold: bool = False
    multi_seat_bottoms_up_percentage_threshold: Decimal | None = None
    stop_tabulation_early_after_round: int | None = None

    @property
    def uses_surpluses(self) -> bool:
        """Multi-seat STV transfers winners' surpluses (bottoms-up modes do not)."""
        return self.number_of_winners > 1 and self.winner_election_mode not in (
            WinnerElectionMode.BOTTOMS_UP,
            WinnerElectionMode.BOTTOMS_UP_PERCENTAGE,
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, Decimal):
                d[k] = str(v)
            elif isinstance(v, StrEnum):
                d[k] = v.value
        return d

    def with_winners(self, n: int) -> RcvRules:
        mode = self.winner_election_mode
        if n > 1 and mode == WinnerElectionMode.SINGLE_WINNER_MAJORITY:
            mode = WinnerElectionMode.MULTI_WINNER_MULTIPLE_PER_ROUND
        return replace(self, number_of_winners=n, winner_election_mode=mode)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def _int(rules: Mapping[str, Any], key: str, default: int, *, file: str | None,
         specials: Mapping[str, int] | None = None) -> int:
    v = rules.get(key)
    if _blank(v):
        return default
    if specials and isinstance(v, str) and v.strip() in specials:
        return specials[v.strip()]
    try:
        return int(str(v).strip())
    except ValueError as exc:
        raise InputError(f"{v!r} is not an integer", file=file, field=f"rules.{key}") from exc


def _dec(rules: Mapping[str, Any], key: str, default: Decimal | None, *,
         file: str | None) -> Decimal | None:
    v = rules.get(key)
    if _blank(v):
        return default
    try:
        return Decimal(str(v).strip())
    except InvalidOperation as exc:
        raise InputError(f"{v!r} is not a number", file=file, field=f"rules.{key}") from exc


def _enum(rules: Mapping[str, Any], key: str, cls: type[StrEnum], default: StrEnum, *,
          file: str | None) -> Any:
    v = rules.get(key)
    if _blank(v):
        return default
    try:
        return cls(str(v).strip())
    except ValueError as exc:
        known = ", ".join(m.value for m in cls)
        raise InputError(f"unknown value {v!r} (known: {known})", file=file,
                         field=f"rules.{key}") from exc


def rules_from_rctab(rules: Mapping[str, Any], file: str | None = None) -> RcvRules:
    """Parse an RCTab config's ``rules`` object (string-valued, as RCTab writes it)."""
    seed_raw = rules.get("randomSeed")
    seed = None if _blank(seed_raw) else _int(rules, "randomSeed", 0, file=file)
    n = _int(rules, "numberOfWinners", 1, file=file)
    mode = _enum(rules, "winnerElectionMode", WinnerElectionMode,
                 WinnerElectionMode.SINGLE_WINNER_MAJORITY, file=file)
    tiebreak = _enum(rules, "tiebreakMode", TiebreakMode, TiebreakMode.USE_CANDIDATE_ORDER,
                     file=file)
    if tiebreak in (TiebreakMode.RANDOM, TiebreakMode.PREVIOUS_ROUND_COUNTS_THEN_RANDOM,
                    TiebreakMode.GENERATE_PERMUTATION) and seed is None:
        raise InputError(f"tiebreakMode {tiebreak.value} needs a randomSeed", file=file,
                         field="rules.randomSeed")
    stop = _int(rules, "stopTabulationEarlyAfterRound", 0, file=file)
    return RcvRules(
        number_of_winners=n,
        winner_election_mode=mode,
        overvote_rule=_enum(rules, "overvoteRule", OvervoteRule, OvervoteRule.EXHAUST_IMMEDIATELY,
                            file=file),
        tiebreak_mode=tiebreak,
        random_seed=seed,
        max_skipped_ranks_allowed=_int(rules, "maxSkippedRanksAllowed", 1, file=file,
                                       specials={"unlimited": UNLIMITED}),
        max_rankings_allowed=_int(rules, "maxRankingsAllowed", UNLIMITED, file=file,
                                  specials={"max": UNLIMITED}),
        exhaust_on_duplicate_candidate=bool(rules.get("exhaustOnDuplicateCandidate", False)),
        batch_elimination=bool(rules.get("batchElimination", False)),
        continue_until_two_candidates_remain=bool(
            rules.get("continueUntilTwoCandidatesRemain", False)),
        minimum_vote_threshold=_dec(rules, "minimumVoteThreshold", Decimal(0), file=file)
        or Decimal(0),
        decimal_places_for_vote_arithmetic=_int(rules, "decimalPlacesForVoteArithmetic", 4,
                                                file=file),
        non_integer_winning_threshold=bool(rules.get("nonIntegerWinningThreshold", False)),
        hare_quota=bool(rules.get("hareQuota", False)),
        first_round_determines_threshold=bool(rules.get("doesFirstRoundDetermineThreshold",
                                                        False)),
        multi_seat_bottoms_up_percentage_threshold=_dec(
            rules, "multiSeatBottomsUpPercentageThreshold", None, file=file),
        stop_tabulation_early_after_round=stop if stop > 0 else None,
    )


class JavaRandom:
    """``java.util.Random`` (a 48-bit linear congruential generator, Knuth TAOCP 3.2.1), so that
    RCTab's random tie-breaks reproduce from the seed recorded in its configuration."""

    _MULT = 0x5DEECE66D
    _MASK = (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ self._MULT) & self._MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULT + 0xB) & self._MASK
        r = self._seed >> (48 - bits)
        return r - (1 << bits) if r >= 1 << (bits - 1) and bits == 32 else r

    def next_double(self) -> float:
        """Uniform in [0, 1) with 53 random bits, as ``Random.nextDouble``."""
        return ((self._next(26) << 27) + self._next(27)) * 2.0**-53

    def next_int(self, bound: int) -> int:
        """Uniform in [0, bound), as ``Random.nextInt(bound)`` (rejection for non-powers of 2)."""
        if bound <= 0:
            raise ValueError("bound must be positive")
        if bound & (bound - 1) == 0:
            return (bound * self._next(31)) >> 31
        while True:
            bits = self._next(31)
            val = bits % bound
            if bits - val + (bound - 1) < (1 << 31):
                return val

    def shuffle(self, items: list[Any]) -> None:
        """In place, as ``Collections.shuffle(list, random)``."""
        for i in range(len(items) - 1, 0, -1):
            j = self.next_int(i + 1)
            items[i], items[j] = items[j], items[i]
