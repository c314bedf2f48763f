"""The login rate limit: after ``attempts`` failed logins within ``window`` from one client
address, or for one user name, further logins are refused (HTTP 429) until the oldest failure
leaves the window. Kept in this process's memory: one server process per database (see
docs/server.md); a shared limiter for several processes is not built yet."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta


class LoginLimiter:
    def __init__(self, attempts: int, window: timedelta) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _live(self, key: str, now: datetime) -> deque[datetime]:
        q = self._failures[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked(self, keys: tuple[str, ...], now: datetime) -> bool:
        with self._lock:
            return any(len(self._live(k, now)) >= self.attempts for k in keys)

    def failed(self, keys: tuple[str, ...], now: datetime) -> None:
        with self._lock:
            for k in keys:
                self._live(k, now).append(now)

    def succeeded(self, keys: tuple[str, ...]) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)
