"""The project's exception types, in one place.

::

    TallyproofError
    ├── InputError(ValueError)          bad input file: names file, record and field  → exit 2
    ├── UsageError(ValueError)          bad command-line usage or option combination   → exit 2
    ├── StoreError                      the election store is missing, corrupt or locked → exit 2
    │   ├── StoreBusy                   another process is writing the store
    │   ├── StoreUpdating               a read-only view found a write in progress
    │   └── StoreReadOnly               a write through a store opened read-only
    ├── VerificationError               the evidence contradicts the claim             → exit 1
    └── AuditError                      an audit cannot proceed as asked               → exit 2

Exit codes follow DESIGN.md: 0 success, 1 the evidence contradicts the claim, 2 bad input/usage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class TallyproofError(Exception):
    """Base of every error tallyproof raises on purpose."""

    exit_code: int = 2


class InputError(TallyproofError, ValueError):
    """A source file cannot be read as claimed.

    Carries the file, the record (a line number, row or JSON path) and the field so that a
    person can open the file and find the problem without a debugger.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        record: str | int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.record = record
        self.field = field
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class UsageError(TallyproofError, ValueError):
    """The command was asked something it cannot do (bad option, missing argument)."""


class StoreError(TallyproofError):
    """The election store is missing, inconsistent, or the operation would corrupt it."""


class StoreBusy(StoreError):
    """Another process holds the store's writer lock (an ingest or commit is writing it)."""


class StoreUpdating(StoreError):
    """A read-only view of the store could not be made consistent: a writer kept replacing its
    files while it was read (or left a commit half-renamed that the next writer finishes). The
    control room shows that piece as "updating" (:mod:`tallyproof.store_readonly`)."""


class StoreReadOnly(StoreError):
    """Something tried to write through a store opened read-only
    (:meth:`tallyproof.store.Store.open_readonly`)."""


class AuditError(TallyproofError):
    """An audit step cannot proceed (no plan, unknown ballot, refused duplicate entry...)."""


@dataclass
class Failure:
    """One named reason a verification failed."""

    check: str
    message: str
    ballot_ids: list[str] = field(default_factory=list)


class VerificationError(TallyproofError):
    """The evidence contradicts the claim: exit code 1, with every failure named."""

    exit_code = 1

    def __init__(self, failures: list[Failure] | str) -> None:
        if isinstance(failures, str):
            failures = [Failure(check="verify", message=failures)]
        self.failures = failures
        super().__init__("; ".join(f"{f.check}: {f.message}" for f in failures))
