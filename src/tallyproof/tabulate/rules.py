"""Rule options of a ranked-choice tabulation, named and valued as in RCTab's contest config.

RCTab (the certified tabulator whose regression data lives in ``../shared/data/rctab``) keeps
its options under ``rules`` in a contest-config JSON file, as strings. :class:`RcvRules` holds the
same options, typed, with RCTab's defaults, so that a published RCTab configuration reproduces
exactly (see :mod:`tallyproof.tabulate.rctab`) and a store can be tabulated with the documented
defaults (``docs/tabulation.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    #: sequential multi-seat IRV: one single-winner IRV per seat, earlier winners excluded
    MULTI_PASS_IRV = "multiPassIrv"


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
    #: bottoms-up with a percentage threshold: in the first elimination, every candidate below
    #: the threshold goes at once (RCTab 2.0.1 ``cutoffElimination``)
    cutoff_elimination: bool = False
    stop_tabulation_early_after_round: int | None = None

    @property
    def uses_surpluses(self) -> bool:
        """Multi-seat STV transfers winners' surpluses (bottoms-up modes do not)."""
        return self.number_of_winners > 1 and self.winner_election_mode not in (
            WinnerElectionMode.BOTTOMS_UP,
            WinnerElectionMode.BOTTOMS_UP_PERCENTAGE,
            WinnerElectionMode.MULTI_PASS_IRV,
        )

    @property
    def bottoms_up_percentage(self) -> bool:
        """Elect every candidate over a percentage of the vote (``numberOfWinners`` is 0)."""
        return self.winner_election_mode == WinnerElectionMode.BOTTOMS_UP_PERCENTAGE

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


#: Every key RCTab writes under ``rules``, and what tallyproof does with it. A key not listed is
#: refused (:func:`rules_from_rctab`): a rule tallyproof does not know must never be ignored,
#: since ignoring it could change who wins.
RULE_KEYS: dict[str, str] = {
    "tiebreakMode": "tiebreak_mode",
    "overvoteRule": "overvote_rule",
    "winnerElectionMode": "winner_election_mode",
    "randomSeed": "random_seed",
    "numberOfWinners": "number_of_winners",
    "multiSeatBottomsUpPercentageThreshold": "multi_seat_bottoms_up_percentage_threshold",
    "decimalPlacesForVoteArithmetic": "decimal_places_for_vote_arithmetic",
    "minimumVoteThreshold": "minimum_vote_threshold",
    "maxSkippedRanksAllowed": "max_skipped_ranks_allowed",
    "maxRankingsAllowed": "max_rankings_allowed",
    "nonIntegerWinningThreshold": "non_integer_winning_threshold",
    "doesFirstRoundDetermineThreshold": "first_round_determines_threshold",
    "hareQuota": "hare_quota",
    "batchElimination": "batch_elimination",
    "cutoffElimination": "cutoff_elimination",
    "continueUntilTwoCandidatesRemain": "continue_until_two_candidates_remain",
    "stopTabulationEarlyAfterRound": "stop_tabulation_early_after_round",
    "exhaustOnDuplicateCandidate": "exhaust_on_duplicate_candidate",
    "rulesDescription": "(a free-text label; no effect on the count)",
}
#: Keys older RCTab versions kept under ``rules`` and later moved to each ``cvrFileSources``
#: entry: accepted only at their no-effect value (blank / false), refused otherwise.
LEGACY_SOURCE_KEYS = ("overvoteLabel", "skippedRankLabel", "undeclaredWriteInLabel",
                      "treatBlankAsUndeclaredWriteIn")


def _bool(rules: Mapping[str, Any], key: str, *, file: str | None) -> bool:
    """A boolean rule; RCTab (Jackson) also accepts the strings ``"true"``/``"false"``."""
    v = rules.get(key, False)
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false", ""):
        return v.strip().lower() == "true"
    raise InputError(f"{v!r} is not true or false", file=file, field=f"rules.{key}")


def check_rule_keys(rules: Mapping[str, Any], file: str | None = None) -> None:
    """Refuse any ``rules`` key that :data:`RULE_KEYS` does not handle, and legacy per-source
    keys set to a value that would change the count — naming every such key at once."""
    problems: list[tuple[str, str]] = []
    for key, value in rules.items():
        if key in RULE_KEYS:
            continue
        if key in LEGACY_SOURCE_KEYS:
            if value in (None, False, "") or (isinstance(value, str) and not value.strip()):
                continue
            problems.append((key, f"rules.{key} is set ({value!r}) but RCTab reads it per CVR "
                                  "source: move it into each cvrFileSources entry"))
        else:
            problems.append((key, f"unknown rule rules.{key}"))
    if problems:
        raise InputError("; ".join(msg for _, msg in problems) + ". tallyproof refuses rules it "
                         "does not implement rather than ignore them (known: "
                         f"{', '.join(sorted(RULE_KEYS))})", file=file,
                         field=f"rules.{problems[0][0]}")


def rules_from_rctab(rules: Mapping[str, Any], file: str | None = None) -> RcvRules:
    """Parse an RCTab config's ``rules`` object (string-valued, as RCTab writes it); every key
    must be one :data:`RULE_KEYS` lists (see :func:`check_rule_keys`)."""
    check_rule_keys(rules, file)
    seed_raw = rules.get("randomSeed")
    seed = None if _blank(seed_raw) else _int(rules, "randomSeed", 0, file=file)
    mode = _enum(rules, "winnerElectionMode", WinnerElectionMode,
                 WinnerElectionMode.SINGLE_WINNER_MAJORITY, file=file)
    n = _int(rules, "numberOfWinners", 1, file=file)
    if mode == WinnerElectionMode.BOTTOMS_UP_PERCENTAGE:
        if n != 0:  # RCTab writes 0: the number of winners is whoever clears the threshold
            raise InputError(f"winnerElectionMode {mode.value} elects everyone over the "
                             f"threshold; numberOfWinners must be 0, got {n}", file=file,
                             field="rules.numberOfWinners")
        pct = _dec(rules, "multiSeatBottomsUpPercentageThreshold", None, file=file)
        if pct is None or not 0 < pct <= 100:
            raise InputError(f"winnerElectionMode {mode.value} needs "
                             "multiSeatBottomsUpPercentageThreshold in (0, 100]", file=file,
                             field="rules.multiSeatBottomsUpPercentageThreshold")
    elif n < 1:
        raise InputError(f"numberOfWinners must be at least 1, got {n}", file=file,
                         field="rules.numberOfWinners")
    cutoff = _bool(rules, "cutoffElimination", file=file)
    if cutoff and mode != WinnerElectionMode.BOTTOMS_UP_PERCENTAGE:
        raise InputError("cutoffElimination applies only to winnerElectionMode "
                         f"bottomsUpUsingPercentageThreshold, not {mode.value}", file=file,
                         field="rules.cutoffElimination")
    tiebreak = _enum(rules, "tiebreakMode", TiebreakMode, TiebreakMode.USE_CANDIDATE_ORDER,
                     file=file)
    if tiebreak in (TiebreakMode.RANDOM, TiebreakMode.PREVIOUS_ROUND_COUNTS_THEN_RANDOM,
                    TiebreakMode.GENERATE_PERMUTATION) and seed is None:
        raise InputError(f"tiebreakMode {tiebreak.value} needs a randomSeed", file=file,
                         field="rules.randomSeed")
    stop = _int(rules, "stopTabulationEarlyAfterRound", 0, file=file)
    max_skip = _int(rules, "maxSkippedRanksAllowed", 1, file=file,
                    specials={"unlimited": UNLIMITED})
    if max_skip < 0 and max_skip != UNLIMITED:
        raise InputError(f"maxSkippedRanksAllowed must be 0 or more, got {max_skip}", file=file,
                         field="rules.maxSkippedRanksAllowed")
    max_rank = _int(rules, "maxRankingsAllowed", UNLIMITED, file=file, specials={"max": UNLIMITED})
    if max_rank < 1 and max_rank != UNLIMITED:
        raise InputError(f"maxRankingsAllowed must be 1 or more, got {max_rank}", file=file,
                         field="rules.maxRankingsAllowed")
    places = _int(rules, "decimalPlacesForVoteArithmetic", 4, file=file)
    if not 1 <= places <= 20:
        raise InputError(f"decimalPlacesForVoteArithmetic must be 1 to 20, got {places}",
                         file=file, field="rules.decimalPlacesForVoteArithmetic")
    return RcvRules(
        number_of_winners=n,
        winner_election_mode=mode,
        overvote_rule=_enum(rules, "overvoteRule", OvervoteRule, OvervoteRule.EXHAUST_IMMEDIATELY,
                            file=file),
        tiebreak_mode=tiebreak,
        random_seed=seed,
        max_skipped_ranks_allowed=max_skip,
        max_rankings_allowed=max_rank,
        exhaust_on_duplicate_candidate=_bool(rules, "exhaustOnDuplicateCandidate", file=file),
        batch_elimination=_bool(rules, "batchElimination", file=file),
        continue_until_two_candidates_remain=_bool(rules, "continueUntilTwoCandidatesRemain",
                                                   file=file),
        minimum_vote_threshold=_dec(rules, "minimumVoteThreshold", Decimal(0), file=file)
        or Decimal(0),
        decimal_places_for_vote_arithmetic=places,
        non_integer_winning_threshold=_bool(rules, "nonIntegerWinningThreshold", file=file),
        hare_quota=_bool(rules, "hareQuota", file=file),
        first_round_determines_threshold=_bool(rules, "doesFirstRoundDetermineThreshold",
                                               file=file),
        multi_seat_bottoms_up_percentage_threshold=_dec(
            rules, "multiSeatBottomsUpPercentageThreshold", None, file=file),
        cutoff_elimination=cutoff,
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


def java_string_hash(s: str) -> int:
    """``String.hashCode``: s[0]·31^(n-1) + … over UTF-16 code units, as a 32-bit int."""
    units = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
    return h


def java_bucket_order(keys: Sequence[str], capacity: int) -> list[str]:
    """Iteration order of a ``java.util.HashMap``/``HashSet`` with ``capacity`` buckets holding
    ``keys`` inserted in this order: by bucket ``(h ^ h>>>16) & (capacity-1)``, then insertion
    (chains this short are never turned into trees)."""

    def bucket(s: str) -> int:
        h = java_string_hash(s)
        return (h ^ (h >> 16)) & (capacity - 1)

    return [k for _, _, k in sorted((bucket(k), i, k) for i, k in enumerate(keys))]


def java_hashset_order(keys: Sequence[str]) -> list[str]:
    """Iteration order of ``new HashSet<>(keys)``: its capacity is the power of two at least
    ``max(n / 0.75 + 1, 16)``, then :func:`java_bucket_order`. RCTab's previous-round-counts
    tie-break rebuilds its still-tied candidates through such a set every round, so its random
    draw picks from this order, not a sorted one."""
    wanted = max(int(len(keys) / 0.75) + 1, 16)
    cap = 1
    while cap < wanted:
        cap *= 2
    return java_bucket_order(keys, cap)
