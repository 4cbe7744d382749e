"""How many log-ins the web screen tries: per client address and in all, per sliding window.

Each attempt costs an argon2 hash (~0.2 s of a core, 64 MiB); without a
limit one client sending log-ins with fresh user names takes the server's
CPU and fills its audit log. The lock-out per user name
(:class:`linkguard.review.credentials.FailedLogins`) does not help there, as
every name is new. Attempts over a limit are answered 429 before any hashing.

>>> now = [0.0]
>>> throttle = LoginThrottle(per_client=2, total=3, window=60, clock=lambda: now[0])
>>> [throttle.allow('10.0.0.1') for _ in range(3)]
[True, True, False]
>>> throttle.allow('10.0.0.2'), throttle.allow('10.0.0.3')  # the third attempt in all is the limit
(True, False)
>>> now[0] = 61.0
>>> throttle.allow('10.0.0.1')
True
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Sliding-window counts of log-in attempts (per process; each web replica counts its own)."""

    def __init__(self, *, per_client: int, total: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_client = per_client
        self.total = total
        self.window = window
        self._clock = clock
        self._all: deque[float] = deque()
        self._by_client: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        """Count an attempt of ``client`` if both limits allow it; return whether they did."""
        now = self._clock()
        horizon = now - self.window
        with self._lock:
            _drop_before(self._all, horizon)
            mine = self._by_client.get(client)
            if mine is not None:
                _drop_before(mine, horizon)
            if len(self._all) >= self.total or (mine is not None and len(mine) >= self.per_client):
                return False
            if mine is None:
                if len(self._by_client) > 10_000:  # forget idle clients, so addresses cannot fill memory
                    for key in [k for k, v in self._by_client.items() if not v or v[-1] < horizon]:
                        del self._by_client[key]
                mine = self._by_client[client] = deque()
            mine.append(now)
            self._all.append(now)
            return True


def _drop_before(times: deque[float], horizon: float) -> None:
    while times and times[0] <= horizon:
        times.popleft()
