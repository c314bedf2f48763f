"""A load and crash drill for the control room: many audit boards entering their ballots at
once through the boards' JSON API against a real server process (``tallyproof serve``), with
an optional ``kill -9`` of the server in the middle and a restart; then a check, read from the
database itself, that every acknowledged entry is there once and that every job the crash
interrupted ended (resumed, or failed with a message).

Used by ``benchmarks/bench_server_load.py`` (figures) and ``tests/server/test_drill.py`` (a
small version); an operator can run it against a copy of a state before election day. It
needs ``httpx2`` (the test extra), imported where it is used.

Set-up goes through the library and the board layer, never around them: the demo state
(:func:`~tallyproof.demo.state.run_state_demo`), a statewide polling audit and its first
round (:mod:`tallyproof.state.audit`), boards and passphrases (:mod:`.boards`), accounts
(:func:`.seed.seed_demo`)."""

from __future__ import annotations

import asyncio
import csv
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TallyproofError

#: the seed of the drill's audit (digits, as the audit asks)
SEED = "31415926535897932384"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
#: how long clients keep retrying an unacknowledged entry (a restart takes seconds)
RETRY_FOR = 120.0


class DrillError(TallyproofError):
    """The drill could not be set up or run (not a finding about the server)."""


# ------------------------------------------------------------------ the state and its boards
def prepare_state(out: Path, counties: int, cards: int, risk_limit: float) -> Path:
    """A demo state with a statewide polling audit started and round 1 drawn (files only: no
    database). Returns the state folder."""
    from ..demo.state import run_state_demo

    # the drill starts its own (card-level) audit, and serves the state folder only: the
    # statewide report, bundle and their verification are not needed (most of the set-up)
    run_state_demo(out, counties=counties, cards=cards, in_process=True, batch=False,
                   audit=False, evidence=False)
    root = out / "state"
    start_audit(root, risk_limit)
    return root


def start_audit(root: Path, risk_limit: float, kind: str = "polling") -> None:
    """A statewide audit of the state (polling unless ``kind`` says otherwise: a state with
    a county of batch tallies only takes ``stratified``), and its first round drawn."""
    from ..state.audit import next_state_round, start_state_audit
    from ..state.executor import InProcess

    start_state_audit(root, InProcess(), risk_limit=risk_limit, seed=SEED, kind=kind)
    next_state_round(root, InProcess())


def _batches(root: Path, county: str) -> int:
    from ..state.audit_tasks import audit_dir

    path = audit_dir(root) / "rounds" / "round-1" / f"{county}-retrieval.csv"
    with path.open(newline="") as f:
        return len({(r["tabulator"], r["batch"]) for r in csv.DictReader(f)})


def _feasible(root: Path, county: str, n: int) -> bool:
    from ..state.audit_boards import board_lists

    return n >= 1 and all(board_lists(root, county, 1, n))


def allocate(root: Path, boards: int) -> dict[str, int]:
    """How many boards each county sets up so that they sum to ``boards``: at most 50 per
    county and no more than its list allows (whole batches go to one board)."""
    from ..state.spec import load_spec

    caps: dict[str, int] = {}
    for c in load_spec(root).counties:
        n = min(50, _batches(root, c.id))
        while n > 0 and not _feasible(root, c.id, n):
            n -= 1
        caps[c.id] = n
    # spread the boards over the counties in proportion to what each allows, then fill up
    total = sum(caps.values())
    if total < boards:
        raise DrillError(f"this state's round 1 supports {total} boards, not {boards}: "
                         "build it with more cards or counties")
    out = {c: n * boards // total for c, n in caps.items()}
    for c in sorted(caps, key=lambda c: (-(caps[c] - out[c]), c)):
        out[c] += min(caps[c] - out[c], boards - sum(out.values()))
    for c, n in out.items():  # a split between two feasible counts may not be feasible
        while n and not _feasible(root, c, n):
            n -= 1
        out[c] = n
    if sum(out.values()) != boards:
        raise DrillError(f"could not split {boards} boards over the counties' lists "
                         f"(got {sum(out.values())}); build the state with more cards")
    return {c: n for c, n in sorted(out.items()) if n}


@dataclass(frozen=True)
class BoardLogin:
    county: str
    number: int
    passphrase: str


@dataclass(frozen=True)
class Prepared:
    boards: list[BoardLogin]
    #: county administrators' user names, passwords and TOTP secrets (for the jobs)
    admins: dict[str, tuple[str, str, str]]
    #: cards (and batches, for boards that count batches) on all the boards' lists: entries
    #: per pass
    cards: int


def set_up(root: Path, database_url: str, allocation: dict[str, int]) -> Prepared:
    """Migrate the database, make the demo's accounts, set up each county's boards and issue
    their passphrases, as the county pages do."""
    from .app import create_app
    from ..state.audit_batch_boards import BATCH
    from .boards import batches_of, cards_of, issue_passphrase, setup_boards
    from .config import Settings
    from .seed import seed_demo

    app = create_app(Settings(root, database_url))
    accounts = seed_demo(app)
    logins: list[BoardLogin] = []
    cards = 0
    with app.state.sessionmaker.begin() as db:
        now = app.state.settings.now()
        for county, n in allocation.items():
            for b in setup_boards(db, root, county, n, now):
                logins.append(BoardLogin(county, b.number, issue_passphrase(db, b, now)))
                cards += len(batches_of(root, b) if b.unit == BATCH else cards_of(root, b))
    app.state.engine.dispose()
    return Prepared(logins, {a.county: (a.username, a.password, a.totp_secret or "")
                             for a in accounts if a.county}, cards)


def paper(root: Path, county: str) -> dict[str, dict[str, list[str]]]:
    """What the paper shows, for the drill's boards to enter (the drill reads the CVRs; a
    real board never does): ballot id -> contest id -> choice ids marked."""
    from ..state.tasks import county_store_dir
    from ..store import Store

    with Store.open_readonly(county_store_dir(root, county)) as store:
        contests = store.election.contests
        rows = store.cvrs(columns=["ballot_id", *(c.column for c in contests)]).to_pylist()
    return {r["ballot_id"]: {c.id: [c.candidates[k].id for k in r[c.column][0]]
                             for c in contests if r[c.column] is not None} for r in rows}


def batch_paper(root: Path, county: str) -> dict[str, dict[str, dict[str, int]]]:
    """What the paper of each batch of a county of batch tallies holds, for the drill's
    batch boards to enter (taken as the county's reported tallies; a real board never reads
    them): batch id -> contest id -> choice id -> votes, every choice of the contest."""
    from ..state.audit import audited_contests, load_state_audit
    from ..state.audit_tasks import batch_task
    from ..state.spec import load_spec, map_county

    spec = load_spec(root)
    contests = audited_contests(root, county)
    maps = {m.state_contest: m for m in map_county(spec, county, tuple(contests.values()))}
    got = batch_task(county, str(root), spec.to_json(), list(load_state_audit(root).contests))
    out: dict[str, dict[str, dict[str, int]]] = {}
    for cb in got.contests:
        cands = contests[cb.county_contest].candidates
        votes_of = dict.fromkeys((c.id for c in cands), 0)
        for key, row in zip(cb.keys, cb.cvr, strict=True):
            votes = dict(votes_of)
            for k, v in zip(maps[cb.contest].codes, row, strict=True):
                if k >= 0:
                    votes[cands[k].id] = int(v)
            out.setdefault(key, {})[cb.county_contest] = votes
    return out


# ------------------------------------------------------------------ the server process
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """``tallyproof serve`` in a subprocess on 127.0.0.1 (its output to ``log``)."""
    root: Path
    database_url: str
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        import httpx2

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH")) if p)}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                [sys.executable, "-m", "tallyproof", "serve", "--state", str(self.root),
                 "--database-url", self.database_url, "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise DrillError(f"the server exited with {self.proc.returncode}; see {self.log}")
            try:
                # a page that reads no store (a commit job resumed at start may hold one)
                if httpx2.get(self.url + "/board/signin", timeout=2.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise DrillError(f"the server did not answer within {timeout:.0f} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no lifespan end, as a crash or a pulled plug of the process."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ the clients
@dataclass
class Tally:
    """What the clients saw. ``acked`` maps (board label, entry key) to the acknowledged
    entry's id and ballot; ``latencies`` are seconds of the acknowledged attempts that
    needed no retry."""
    acked: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    retried: int = 0  # entries sent again after a transport error (same key)
    saved_before_ack: int = 0  # retries answered 200: saved, but the first answer was lost
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0


@dataclass
class BoardSession:
    login: BoardLogin
    label: str
    auth: dict[str, str]
    #: the board's list: cards, or batches for a board that counts batches (``unit``)
    cards: list[dict[str, Any]]
    unit: str = "card"


async def _sign_in(client: Any, login: BoardLogin) -> BoardSession:
    r = await client.post("/api/board/signin", json={"passphrase": login.passphrase})
    if r.status_code != 200:
        raise DrillError(f"board {login.county}/{login.number}: sign-in {r.status_code} "
                         f"{r.text[:200]}")
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    unit = r.json()["board"]["unit"]
    listed = await client.get("/api/board/batches" if unit == "batch" else "/api/board/cards",
                              headers=auth)
    if listed.status_code != 200:
        raise DrillError(f"board {login.county}/{login.number}: list {listed.status_code}")
    return BoardSession(login, r.json()["board"]["label"], auth, listed.json(), unit)


def _entry(board: BoardSession, item: dict[str, Any], key: str, truth: dict[str, Any],
           last: bool) -> tuple[str, dict[str, Any], str]:
    """The URL, body and unit (ballot or batch id) of one entry; earlier passes enter a
    blank card or a batch of zeros, which the last pass corrects."""
    if board.unit == "batch":
        counts = truth[item["batch_id"]]
        return (f"/api/board/batches/{item['number']}/entries",
                {"entry_key": key, "contests": counts if last else {
                    cid: dict.fromkeys(votes, 0) for cid, votes in counts.items()}},
                item["batch_id"])
    marks = truth[item["ballot_id"]]
    return (f"/api/board/cards/{item['number']}/entries",
            {"entry_key": key, "contests": {c["id"]: {"marks": marks[c["id"]] if last else []}
                                            for c in item["contests"]}},
            item["ballot_id"])


async def _board_client(client: Any, board: BoardSession,
                        truth: dict[str, Any], passes: int, think: float,
                        tally: Tally, acked: Callable[[], None]) -> None:
    import httpx2

    label, auth, cards = board.label, board.auth, board.cards
    pace = random.Random(label)  # noqa: S311 (a pace, not a secret)
    await asyncio.sleep(pace.uniform(0, think))  # boards do not start in step
    for p in range(passes):
        for card in cards:
            key = f"{label}-{card['number']}-{p}"  # unique per board: the board's own choice
            url, body, unit = _entry(board, card, key, truth, p == passes - 1)
            deadline, tries = time.monotonic() + RETRY_FOR, 0
            while True:
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, json=body, headers=auth)
                except httpx2.TransportError as exc:
                    if time.monotonic() > deadline:
                        tally.errors.append(f"{label} {key}: {type(exc).__name__}")
                        return
                    tries += 1
                    await asyncio.sleep(0.25)
                    continue
                break
            if r.status_code not in (200, 201):
                tally.errors.append(f"{label} {key}: {r.status_code} {r.text[:200]}")
                return
            if tries:
                tally.retried += 1
                tally.saved_before_ack += r.status_code == 200
            else:
                tally.latencies.append(time.perf_counter() - t0)
            tally.acked[(label, key)] = (r.json()["id"], unit)
            acked()
            await asyncio.sleep(pace.uniform(0.5, 1.5) * think)


async def run_boards(base_url: str, logins: list[BoardLogin],
                     truth: dict[str, dict[str, Any]], passes: int,
                     think: float = 0.0,
                     on_acked: Callable[[int], None] | None = None,
                     tally: Tally | None = None) -> Tally:
    """Every board signs in and reads its list, then all at once enter their lists, each
    ``passes`` times (all but the last pass a
    reading later corrected), waiting ``think`` seconds on average (0.5 to 1.5 times,
    seeded by the board) after each entry, as a board reads the next ballot; an entry the server did not acknowledge is sent again with the
    same key until it is (for :data:`RETRY_FOR` seconds)."""
    import httpx2

    tally = tally if tally is not None else Tally()

    def acked() -> None:
        if on_acked is not None:
            on_acked(len(tally.acked))

    limits = httpx2.Limits(max_connections=len(logins), max_keepalive_connections=len(logins))
    async with httpx2.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:
        # every board signs in and reads its list first (not timed), then all enter at once
        signed = await asyncio.gather(*(_sign_in(client, b) for b in logins))
        t0 = time.perf_counter()
        await asyncio.gather(*(_board_client(client, b, truth[b.login.county], passes, think,
                                             tally, acked) for b in signed))
        tally.elapsed = time.perf_counter() - t0
    return tally


# ------------------------------------------------------------------ jobs and the check
async def admin_clients(base_url: str, admins: dict[str, tuple[str, str, str]]
                        ) -> list[tuple[str, Any, str]]:
    """Each county's administrator signed in (as a script would): county, client, the
    session's CSRF token for ``X-CSRF-Token``. The caller closes the clients."""
    import httpx2
    import pyotp

    out = []
    for county, (user, password, secret) in sorted(admins.items()):
        c = httpx2.AsyncClient(base_url=base_url, timeout=60.0)
        m = CSRF_FIELD.search((await c.get("/login")).text)
        if m is None:
            raise DrillError("the login page carries no CSRF token")
        await c.post("/login", data={"csrf": m.group(1), "username": user,
                                     "password": password, "code": pyotp.TOTP(secret).now()})
        r = await c.get("/api/session")
        if r.status_code != 200:
            raise DrillError(f"{user} could not sign in: {r.status_code}")
        out.append((county, c, r.json()["csrf"]))
    return out


async def queue_commits(admins: list[tuple[str, Any, str]]) -> list[int]:
    """A commit job in every county, queued through the API."""
    ids = []
    for county, c, token in admins:
        r = await c.post(f"/api/county/{county}/jobs", json={"kind": "commit"},
                         headers={"X-CSRF-Token": token})
        if r.status_code != 202:
            raise DrillError(f"commit job of {county}: {r.status_code} {r.text[:200]}")
        ids.append(int(r.json()["id"]))
    return ids


def job_states(database_url: str) -> dict[int, tuple[str, str]]:
    """Every job's status and message, read from the database."""
    from sqlalchemy import create_engine, select

    from .db import Job

    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            return {i: (s, m) for i, s, m in c.execute(select(Job.id, Job.status, Job.message))}
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Check:
    entries: int  # rows in board_entries and batch_entries
    acknowledged: int
    lost: list[str]  # acknowledged, but not in the database (or another ballot)
    duplicated: list[str]  # an entry key saved more than once
    unacknowledged_rows: int  # saved, never acknowledged to a client

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated


def check_entries(database_url: str, tally: Tally) -> Check:
    """Every acknowledged entry in ``board_entries`` or, for a board counting batches,
    ``batch_entries`` (same id, same ballot or batch), no key twice."""
    from collections import Counter

    from sqlalchemy import create_engine, select

    from .board_db import AuditBoard, BatchEntry, BoardEntry

    from sqlalchemy.orm import Session

    engine = create_engine(database_url)
    try:
        with Session(engine) as db:
            labels = {b.id: b.label for b in db.scalars(select(AuditBoard))}
            rows = [*db.execute(select(BoardEntry.id, BoardEntry.board_id,
                                       BoardEntry.entry_key, BoardEntry.ballot_id)),
                    *db.execute(select(BatchEntry.id, BatchEntry.board_id,
                                       BatchEntry.entry_key, BatchEntry.batch_id))]
    finally:
        engine.dispose()
    by_key = {(labels[r[1]], r[2]): (r[0], r[3]) for r in rows}
    counts = Counter((labels[r[1]], r[2]) for r in rows)
    lost = [f"{b} {k}" for (b, k), v in sorted(tally.acked.items()) if by_key.get((b, k)) != v]
    dup = [f"{b} {k}" for (b, k), n in sorted(counts.items()) if n > 1]
    return Check(len(rows), len(tally.acked), lost, dup, len(set(by_key) - set(tally.acked)))


# ------------------------------------------------------------------ one run
OPEN = ("queued", "running")


@dataclass
class DrillResult:
    tally: Tally
    check: Check
    killed: bool
    #: jobs open when the server was killed (id -> status then), and how each ended
    jobs_at_kill: dict[int, str] = field(default_factory=dict)
    jobs_after: dict[int, tuple[str, str]] = field(default_factory=dict)
    restart_seconds: float = 0.0
    acked_at_kill: int = 0

    @property
    def jobs_ok(self) -> bool:
        """Every job open at the kill ended: done, or failed with a message."""
        return all(self.jobs_after.get(j, ("", ""))[0] == "done"
                   or (self.jobs_after.get(j, ("", ""))[0] == "failed"
                       and self.jobs_after[j][1].strip()) for j in self.jobs_at_kill)


def run_drill(server: ServerProcess, prepared: Prepared,
              truth: dict[str, dict[str, Any]], passes: int,
              think: float = 0.0, kill_after: int | None = None,
              job_timeout: float = 300.0) -> DrillResult:
    """Start the server, run every board at once; with ``kill_after``, once that many entries
    are acknowledged, queue a commit job in every county, SIGKILL the server and start it
    again while the clients retry. Then wait for the jobs to end and check the database."""
    result = DrillResult(Tally(), Check(0, 0, [], [], 0), kill_after is not None)
    server.start()
    try:
        async def main() -> Tally:
            fired = asyncio.Event()
            done: list[asyncio.Task[None]] = []
            admins = await admin_clients(server.url, prepared.admins) if kill_after else []

            async def crash() -> None:
                await queue_commits(admins)
                server.kill()
                result.acked_at_kill = len(result.tally.acked)
                result.jobs_at_kill = {i: st for i, (st, _) in
                                       job_states(server.database_url).items() if st in OPEN}
                t0 = time.perf_counter()
                await asyncio.to_thread(server.start)
                result.restart_seconds = time.perf_counter() - t0

            def on_acked(n: int) -> None:
                if kill_after is not None and n >= kill_after and not fired.is_set():
                    fired.set()
                    done.append(asyncio.get_running_loop().create_task(crash()))

            try:
                tally = await run_boards(server.url, prepared.boards, truth, passes, think,
                                         on_acked, result.tally)
                for t in done:
                    await t
            finally:
                for _, c, _ in admins:
                    await c.aclose()
            return tally

        result.tally = asyncio.run(main())
        end = time.monotonic() + job_timeout
        while True:
            result.jobs_after = job_states(server.database_url)
            if not any(st in OPEN for st, _ in result.jobs_after.values()):
                break
            if time.monotonic() > end:
                raise DrillError(f"jobs still open after {job_timeout:.0f} s: "
                                 f"{result.jobs_after}")
            time.sleep(0.5)
    finally:
        server.stop()
    result.check = check_entries(server.database_url, result.tally)
    return result
