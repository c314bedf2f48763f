"""The compiled scanner behind :mod:`.dominion_scan`: one pass over a ``CvrExport*.json``
file's bytes that writes the few fields the reader uses into flat arrays.

Every function returns the position after what it read, or ``-1`` when the bytes are outside
what it handles; the caller then gives up on the whole file (:data:`BAIL`) and the file is
decoded by msgspec instead. What it handles is a strict subset of JSON: it never accepts a
file msgspec's decoder would refuse, and whatever it accepts it reads as msgspec would.

* Structure is checked as JSON's grammar says (no trailing commas, every value well formed,
  inside skipped values too); whitespace is the four JSON allows.
* Strings: any byte of 0x20 and above (msgspec does not check UTF-8 in strings it skips),
  and the escapes ``\\" \\\\ \\/ \\b \\f \\n \\r \\t``. A ``\\u`` escape, a control character
  or an escape in a key: given up (msgspec reads ``"\\u0049d"`` as ``"Id"``).
* The integers read: at most 18 digits, no fraction or exponent (msgspec refuses a float
  there and keeps larger integers, which the reader reports as beyond 64 bits). Booleans are
  ``true``/``false``; ``null`` only where the field may be null.
* An object that names a field twice, or lacks a required one: given up (msgspec keeps the
  last, or names the missing field). Unknown fields are skipped, as msgspec skips them.

Numbers of objects found are bounded by the smallest each can be written in (see
:func:`.dominion_scan.scan`), so the arrays are sized before the pass; running out is a
give-up too, never an overflow.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: ``scan``'s status: read, or given up (the file goes to msgspec).
READ, BAIL = 0, 1

# JSON bytes
_QUOTE, _BACKSLASH, _COLON, _COMMA = 34, 92, 58, 44
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET = 123, 125, 91, 93
_MINUS, _PLUS, _DOT, _ZERO, _NINE = 45, 43, 46, 48, 57
_T, _F, _N, _E, _E_UP = 116, 102, 110, 101, 69
#: Deepest nesting a skipped value may have.
MAX_DEPTH = 64


def _key(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy()


_SESSIONS = _key("Sessions")
_TABULATOR, _BATCH, _RECORD = _key("TabulatorId"), _key("BatchId"), _key("RecordId")
_GROUP, _ORIGINAL, _MODIFIED = _key("CountingGroupId"), _key("Original"), _key("Modified")
_IS_CURRENT, _CARDS = _key("IsCurrent"), _key("Cards")
_PRECINCT, _STYLE = _key("PrecinctPortionId"), _key("BallotTypeId")
_CONTESTS, _ID, _MARKS, _OUTSTACK = (
    _key("Contests"), _key("Id"), _key("Marks"), _key("OutstackConditionIds"))
_CANDIDATE, _RANK, _AMBIGUOUS = _key("CandidateId"), _key("Rank"), _key("IsAmbiguous")


@njit(cache=True, inline="always")
def _ws(b, i, n):
    """The position of the first byte at or after i that is not JSON whitespace.

    Inlined into every caller, and written as one loop condition: measured, a ``break`` out of
    the loop, or a call, made the whole scan 1.7x slower."""
    while i < n and (b[i] == 32 or b[i] == 10 or b[i] == 13 or b[i] == 9):
        i += 1
    return i


@njit(cache=True)
def _string(b, i, n):
    """A string at its opening quote: the position after its closing quote."""
    i += 1
    while i < n:
        c = b[i]
        if c == _QUOTE:
            return i + 1
        if c < 32:
            return -1
        if c == _BACKSLASH:
            if i + 1 >= n:
                return -1
            e = b[i + 1]
            if not (e == _QUOTE or e == _BACKSLASH or e == 47 or e == 98 or e == 102
                    or e == 110 or e == 114 or e == 116):
                return -1
            i += 2
        else:
            i += 1
    return -1


@njit(cache=True)
def _digits(b, i, n):
    if i >= n or not (_ZERO <= b[i] <= _NINE):
        return -1
    while i < n and _ZERO <= b[i] <= _NINE:
        i += 1
    return i


@njit(cache=True)
def _number(b, i, n):
    """Any JSON number (skipped)."""
    if i < n and b[i] == _MINUS:
        i += 1
    if i < n and b[i] == _ZERO:
        i += 1
    else:
        start = i
        while i < n and _ZERO <= b[i] <= _NINE:
            i += 1
        if i == start:
            return -1
    if i < n and b[i] == _DOT:
        i = _digits(b, i + 1, n)
        if i < 0:
            return -1
    if i < n and (b[i] == _E or b[i] == _E_UP):
        i += 1
        if i < n and (b[i] == _PLUS or b[i] == _MINUS):
            i += 1
        i = _digits(b, i, n)
    return i


@njit(cache=True, inline="always")
def _integer(b, i, n, out):
    """An integer of at most 18 digits at i, written to ``out[0]``: the position after it."""
    negative = i < n and b[i] == _MINUS
    if negative:
        i += 1
    start = i
    value = 0
    if i < n and b[i] == _ZERO:
        i += 1
    else:
        while i < n and _ZERO <= b[i] <= _NINE:
            value = value * 10 + (b[i] - _ZERO)
            i += 1
        if i == start or i - start > 18:
            return -1
    if i < n and (b[i] == _DOT or b[i] == _E or b[i] == _E_UP):
        return -1
    out[0] = -value if negative else value
    return i


@njit(cache=True)
def _literal(b, i, n):
    """``true`` / ``false`` / ``null`` at i: 1 / 0 / 2, or -1 for anything else."""
    if i + 4 <= n and b[i] == _T and b[i + 1] == 114 and b[i + 2] == 117 and b[i + 3] == 101:
        return 1
    if (i + 5 <= n and b[i] == _F and b[i + 1] == 97 and b[i + 2] == 108 and b[i + 3] == 115
            and b[i + 4] == 101):
        return 0
    if i + 4 <= n and b[i] == _N and b[i + 1] == 117 and b[i + 2] == 108 and b[i + 3] == 108:
        return 2
    return -1


@njit(cache=True, inline="always")
def _skip(b, i, n, stack):
    """Any value at i, checked and skipped: the position after it."""
    if i >= n:
        return -1
    c = b[i]
    if c == _LBRACE or c == _LBRACKET:
        if i + 1 < n and b[i + 1] == c + 2:
            return i + 2  # {} or []: the usual skipped container
        return _skip_container(b, i, n, stack)
    return _skip_scalar(b, i, n)


@njit(cache=True)
def _skip_scalar(b, i, n):
    """A string, number, ``true``, ``false`` or ``null`` at i: the position after it."""
    c = b[i]
    if c == _QUOTE:
        return _string(b, i, n)
    if c == _MINUS or _ZERO <= c <= _NINE:
        return _number(b, i, n)
    if c == _T or c == _N:
        return i + 4 if _literal(b, i, n) >= 1 else -1
    if c == _F:
        return i + 5 if _literal(b, i, n) == 0 else -1
    return -1


@njit(cache=True)
def _skip_container(b, i, n, stack):
    """An object or array at i, with everything in it, checked and skipped."""
    depth = 0
    while True:  # a value starts at i
        i = _ws(b, i, n)
        if i >= n:
            return -1
        c = b[i]
        if c == _LBRACE or c == _LBRACKET:
            if depth >= len(stack):
                return -1
            stack[depth] = c
            depth += 1
            i = _ws(b, i + 1, n)
            if i < n and b[i] == c + 2:  # {} or []
                depth -= 1
                i += 1
            elif c == _LBRACKET:
                continue
            else:
                i = _colon_after_key(b, i, n)
                if i < 0:
                    return -1
                continue
        else:
            i = _skip_scalar(b, i, n)
            if i < 0:
                return -1
        while True:  # after a value: the next element, or the end of a container
            if depth == 0:
                return i
            i = _ws(b, i, n)
            if i >= n:
                return -1
            c = b[i]
            top = stack[depth - 1]
            if c == _COMMA:
                i = _ws(b, i + 1, n)
                if top == _LBRACE:
                    i = _colon_after_key(b, i, n)
                    if i < 0:
                        return -1
                break
            if c != top + 2:
                return -1
            depth -= 1
            i += 1


@njit(cache=True)
def _colon_after_key(b, i, n):
    """A skipped object's key at i: the position after the colon that follows it."""
    if i >= n or b[i] != _QUOTE:
        return -1
    i = _string(b, i, n)
    if i < 0:
        return -1
    i = _ws(b, i, n)
    if i >= n or b[i] != _COLON:
        return -1
    return i + 1


@njit(cache=True, inline="always")
def _field(b, i, n):
    """An object's key at i: (start, end) of its bytes and the position of its value, or
    -1 there (not a key, or one with an escape)."""
    if i >= n or b[i] != _QUOTE:
        return 0, 0, -1
    start = i + 1
    j = start
    while j < n:
        c = b[j]
        if c == _QUOTE:
            break
        if c == _BACKSLASH or c < 32:
            return 0, 0, -1
        j += 1
    k = _ws(b, j + 1, n)
    if k >= n or b[k] != _COLON:
        return 0, 0, -1
    return start, j, _ws(b, k + 1, n)


@njit(cache=True, inline="always")
def _is(b, start, end, key):
    if end - start != len(key):
        return False
    for t in range(len(key)):
        if b[start + t] != key[t]:
            return False
    return True


@njit(cache=True, inline="always")
def _open(b, i, n, c):
    """A container opening with byte ``c`` at i: (position of its first member, or -1 when
    there is no such container; whether it is empty, then positioned after it)."""
    if i < 0 or i >= n or b[i] != c:
        return -1, False
    i = _ws(b, i + 1, n)
    if i < n and b[i] == c + 2:  # {} or []
        return i + 1, True
    return i, False


@njit(cache=True, inline="always")
def _after(b, i, n, close):
    """After a member at i: (position of the next member, False) past a comma, (position
    after the container, True) at its closing byte ``close``, (-1, False) otherwise."""
    if i < 0:
        return -1, False
    i = _ws(b, i, n)
    if i < n:
        if b[i] == _COMMA:
            return _ws(b, i + 1, n), False
        if b[i] == close:
            return i + 1, True
    return -1, False


@njit(cache=True, inline="always")
def _first_time(seen, f):
    """``seen`` with field ``f`` (-1: not one of ours) added, or -1 when it was there."""
    if f < 0:
        return seen
    return -1 if seen & (1 << f) else seen | (1 << f)


@njit(cache=True)
def _contests(b, i, n, invalid, stack, tmp, k_id, k_flagged, k_partly, k_marks_end, m_cand,
              m_rank, m_ambiguous, nk, nm):
    """A card's ``Contests`` array at i: (position after it or -1, contests and marks now
    read). Marks and outstack conditions are read here, not in functions of their own: this
    runs for every contest and mark of the export, where a call costs more than the work."""
    i, done = _open(b, i, n, _LBRACKET)
    while i >= 0 and not done:  # a contest
        i, empty = _open(b, i, n, _LBRACE)
        if i < 0 or empty or nk >= len(k_id):
            return -1, nk, nm
        seen = 0
        k_flagged[nk] = False
        k_partly[nk] = False
        closed = False
        while not closed:  # its fields
            start, end, i = _field(b, i, n)
            if i < 0:
                return -1, nk, nm
            f = -1
            if _is(b, start, end, _ID):
                f = 0
            elif _is(b, start, end, _MARKS):
                f = 1
            elif _is(b, start, end, _OUTSTACK):
                f = 2
            seen = _first_time(seen, f)
            if seen < 0:
                return -1, nk, nm
            if f == 0:
                i = _integer(b, i, n, tmp)
                k_id[nk] = tmp[0]
            elif f == 2:  # OutstackConditionIds: integers
                i, end_of_list = _open(b, i, n, _LBRACKET)
                k_flagged[nk] = i >= 0 and not end_of_list
                while i >= 0 and not end_of_list:
                    i = _integer(b, i, n, tmp)
                    if tmp[0] == invalid:
                        k_partly[nk] = True
                    i, end_of_list = _after(b, i, n, _RBRACKET)
            elif f == 1:  # Marks: objects
                i, end_of_list = _open(b, i, n, _LBRACKET)
                while i >= 0 and not end_of_list:  # a mark
                    i, empty = _open(b, i, n, _LBRACE)
                    if i < 0 or empty or nm >= len(m_cand):
                        return -1, nk, nm
                    marked = 0
                    mark_closed = False
                    while not mark_closed:  # its fields
                        start, end, i = _field(b, i, n)
                        if i < 0:
                            return -1, nk, nm
                        g = -1
                        if _is(b, start, end, _CANDIDATE):
                            g = 0
                        elif _is(b, start, end, _RANK):
                            g = 1
                        elif _is(b, start, end, _AMBIGUOUS):
                            g = 2
                        marked = _first_time(marked, g)
                        if marked < 0:
                            return -1, nk, nm
                        if g == 0:
                            i = _integer(b, i, n, tmp)
                            m_cand[nm] = tmp[0]
                        elif g == 1:
                            i = _integer(b, i, n, tmp)
                            m_rank[nm] = tmp[0]
                        elif g == 2:
                            v = _literal(b, i, n)
                            if v != 0 and v != 1:
                                return -1, nk, nm
                            m_ambiguous[nm] = v == 1
                            i += 4 if v == 1 else 5
                        else:
                            i = _skip(b, i, n, stack)
                        i, mark_closed = _after(b, i, n, _RBRACE)
                        if i < 0:
                            return -1, nk, nm
                    if marked != 7:  # CandidateId, Rank and IsAmbiguous are required
                        return -1, nk, nm
                    nm += 1
                    i, end_of_list = _after(b, i, n, _RBRACKET)
            else:
                i = _skip(b, i, n, stack)
            i, closed = _after(b, i, n, _RBRACE)
            if i < 0:
                return -1, nk, nm
        if seen & 3 != 3:  # Id and Marks are required
            return -1, nk, nm
        k_marks_end[nk] = nm
        nk += 1
        i, done = _after(b, i, n, _RBRACKET)
    return i, nk, nm


@njit(cache=True)
def _version(b, i, n, invalid, stack, tmp, facts, cards, c_contests_end, k_id, k_flagged,
             k_partly, k_marks_end, m_cand, m_rank, m_ambiguous, nc, nk, nm):
    """A session's version at i, its facts into ``facts`` (present, current, precinct, style,
    precinct given, style given) and its cards' range into ``cards``: (position after it or
    -1, cards, contests and marks now read)."""
    i, empty = _open(b, i, n, _LBRACE)
    if i < 0 or empty:
        return -1, nc, nk, nm
    facts[0] = 1
    seen = 0
    closed = False
    while not closed:  # its fields
        start, end, i = _field(b, i, n)
        if i < 0:
            return -1, nc, nk, nm
        f = -1
        if _is(b, start, end, _IS_CURRENT):
            f = 0
        elif _is(b, start, end, _CARDS):
            f = 1
        elif _is(b, start, end, _PRECINCT):
            f = 2
        elif _is(b, start, end, _STYLE):
            f = 3
        seen = _first_time(seen, f)
        if seen < 0:
            return -1, nc, nk, nm
        if f == 0:
            v = _literal(b, i, n)
            if v != 0 and v != 1:
                return -1, nc, nk, nm
            facts[1] = v
            i += 4 if v == 1 else 5
        elif f == 2 or f == 3:  # an integer or null
            if _literal(b, i, n) == 2:
                i += 4
            else:
                i = _integer(b, i, n, tmp)
                facts[f] = tmp[0]
                facts[f + 2] = 1
        elif f == 1:  # Cards: objects
            cards[0] = nc
            i, end_of_list = _open(b, i, n, _LBRACKET)
            while i >= 0 and not end_of_list:  # a card
                i, empty = _open(b, i, n, _LBRACE)
                if i < 0 or empty or nc >= len(c_contests_end):
                    return -1, nc, nk, nm
                has_contests = False
                card_closed = False
                while not card_closed:  # its fields
                    start, end, i = _field(b, i, n)
                    if i < 0:
                        return -1, nc, nk, nm
                    if _is(b, start, end, _CONTESTS):
                        if has_contests:
                            return -1, nc, nk, nm
                        has_contests = True
                        i, nk, nm = _contests(
                            b, i, n, invalid, stack, tmp, k_id, k_flagged, k_partly,
                            k_marks_end, m_cand, m_rank, m_ambiguous, nk, nm)
                    else:
                        i = _skip(b, i, n, stack)
                    i, card_closed = _after(b, i, n, _RBRACE)
                    if i < 0:
                        return -1, nc, nk, nm
                if not has_contests:
                    return -1, nc, nk, nm
                c_contests_end[nc] = nk
                nc += 1
                i, end_of_list = _after(b, i, n, _RBRACKET)
            cards[1] = nc
        else:
            i = _skip(b, i, n, stack)
        i, closed = _after(b, i, n, _RBRACE)
        if i < 0:
            return -1, nc, nk, nm
    if seen & 3 != 3:  # IsCurrent and Cards are required
        return -1, nc, nk, nm
    return i, nc, nk, nm


@njit(cache=True)
def scan(b, invalid, stack, s_keys, s_group, v_facts, v_cards, c_contests_end, k_id, k_flagged,
         k_partly, k_marks_end, m_cand, m_rank, m_ambiguous):
    """The file's sessions, cards, contests and marks into the arrays (laid out as
    :func:`.dominion_scan.scan` says): (status, sessions, cards, contests, marks)."""
    n = len(b)
    tmp = np.zeros(1, dtype=np.int64)
    ns = nc = nk = nm = 0
    i, empty = _open(b, _ws(b, 0, n), n, _LBRACE)
    if i < 0 or empty:
        return BAIL, 0, 0, 0, 0
    have_sessions = False
    closed = False
    while not closed:  # the document's fields
        start, end, i = _field(b, i, n)
        if i < 0:
            return BAIL, 0, 0, 0, 0
        if not _is(b, start, end, _SESSIONS):
            i = _skip(b, i, n, stack)
        elif have_sessions:
            return BAIL, 0, 0, 0, 0
        else:
            have_sessions = True
            i, end_of_list = _open(b, i, n, _LBRACKET)
            while i >= 0 and not end_of_list:  # a session
                i, empty = _open(b, i, n, _LBRACE)
                if i < 0 or empty or ns >= len(s_keys):
                    return BAIL, 0, 0, 0, 0
                v_facts[ns] = 0
                v_cards[ns] = 0
                s_group[ns, 1] = 0
                seen = 0
                session_closed = False
                while not session_closed:  # its fields
                    start, end, i = _field(b, i, n)
                    if i < 0:
                        return BAIL, 0, 0, 0, 0
                    f = -1
                    if _is(b, start, end, _TABULATOR):
                        f = 0
                    elif _is(b, start, end, _BATCH):
                        f = 1
                    elif _is(b, start, end, _RECORD):
                        f = 2
                    elif _is(b, start, end, _GROUP):
                        f = 3
                    elif _is(b, start, end, _ORIGINAL):
                        f = 4
                    elif _is(b, start, end, _MODIFIED):
                        f = 5
                    seen = _first_time(seen, f)
                    if seen < 0:
                        return BAIL, 0, 0, 0, 0
                    if (f == 3 or f == 5) and _literal(b, i, n) == 2:
                        i += 4  # null: no counting group, no Modified version
                    elif 0 <= f <= 3:
                        i = _integer(b, i, n, tmp)
                        if f == 3:
                            s_group[ns, 0] = tmp[0]
                            s_group[ns, 1] = 1
                        else:
                            s_keys[ns, f] = tmp[0]
                    elif f == 4 or f == 5:
                        i, nc, nk, nm = _version(
                            b, i, n, invalid, stack, tmp, v_facts[ns, f - 4], v_cards[ns, f - 4],
                            c_contests_end, k_id, k_flagged, k_partly, k_marks_end, m_cand,
                            m_rank, m_ambiguous, nc, nk, nm)
                    else:
                        i = _skip(b, i, n, stack)
                    i, session_closed = _after(b, i, n, _RBRACE)
                    if i < 0:
                        return BAIL, 0, 0, 0, 0
                if seen & 0b10111 != 0b10111:  # TabulatorId, BatchId, RecordId, Original
                    return BAIL, 0, 0, 0, 0
                ns += 1
                i, end_of_list = _after(b, i, n, _RBRACKET)
        i, closed = _after(b, i, n, _RBRACE)
        if i < 0:
            return BAIL, 0, 0, 0, 0
    if not have_sessions or _ws(b, i, n) != n:
        return BAIL, 0, 0, 0, 0
    return READ, ns, nc, nk, nm
