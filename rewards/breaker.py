"""A circuit breaker: stop calling a dependency that keeps failing, probe it again later.

    closed --`failures` consecutive failures--> open --`cooldown_s` later--> half-open
    half-open: one caller probes; a success closes the breaker, a failure opens it again

Callers ask `allow()` before a call and report `record(ok)` after it. While the breaker is
open every caller is refused at once instead of paying the dependency's timeout: a hung Redis
cost each service batch 3 x 2 s, a dead judge ~18 s of retries per 40 samples. A probe that
never reports (its caller was cancelled) is replaced by a new one after another cooldown, so
the breaker cannot stay half-open forever. Thread-safe: the sync Redis path calls it from
worker threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Breaker:
    def __init__(self, failures: int, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic):
        if failures < 1 or not cooldown_s > 0:
            raise ValueError(f"breaker: expected failures >= 1 and cooldown_s > 0, got "
                             f"{failures!r}, {cooldown_s!r}")
        self.failures, self.cooldown_s, self._clock = failures, cooldown_s, clock
        self._lock = threading.Lock()
        self._streak = 0  # consecutive failures
        self._open_until: float | None = None  # None: closed
        self._probe_until = 0.0  # a probe is out until then
        self.opened = 0  # times the breaker opened (a metric)
        self.refused = 0  # calls refused while open (a metric)
        self.last_error = ""

    @property
    def state(self) -> str:
        with self._lock:
            if self._open_until is None:
                return "closed"
            return "open" if self._clock() < self._open_until else "half-open"

    def retry_in(self) -> float:
        """Seconds until the next probe may go out (0 when closed or half-open)."""
        with self._lock:
            return 0.0 if self._open_until is None else max(0.0,
                                                            self._open_until - self._clock())

    def allow(self) -> bool:
        """True: make the call (the breaker is closed, or this call is the probe)."""
        with self._lock:
            if self._open_until is None:
                return True
            now = self._clock()
            if now >= self._open_until and now >= self._probe_until:
                self._probe_until = now + self.cooldown_s
                return True
            self.refused += 1
            return False

    def record(self, ok: bool, error: str = "") -> str | None:
        """Report a call's outcome; returns "opened" or "closed" when the state changed
        (callers log one line per transition, not one per call)."""
        with self._lock:
            if ok:
                self._streak = 0
                self._probe_until = 0.0
                if self._open_until is not None:
                    self._open_until = None
                    return "closed"
                return None
            self._streak += 1
            self.last_error = error or self.last_error
            half_open = self._open_until is not None
            if half_open or self._streak >= self.failures:
                self._open_until = self._clock() + self.cooldown_s
                self._probe_until = 0.0
                if not half_open:
                    self.opened += 1
                    return "opened"
            return None
