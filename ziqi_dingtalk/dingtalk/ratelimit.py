"""Client-side rate limiter: at most ``rate`` calls per ``period`` seconds for each key (API path).

DingTalk counts calls per app and per API (protocol §3.3: 20 calls/s on standard orgs). The limiter is a
sliding window over the grant times of the last ``rate`` calls: a caller gets the earliest moment that keeps
every window of ``period`` seconds at ``rate`` grants or fewer, reserves it under a lock and sleeps
outside the lock, so concurrent threads queue up in order instead of all retrying at once.
"""

import collections
import threading
import time


class RateLimiter:
    """Thread-safe per-key sliding-window limiter with an injectable clock and sleep (for tests)."""

    def __init__(self, rate, period=1.0, *, clock=time.monotonic, sleep=time.sleep):
        if rate < 1 or period <= 0:
            raise ValueError("rate must be >= 1 and period > 0")
        self.rate = int(rate)
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._grants = collections.defaultdict(collections.deque)

    def reserve(self, key):
        """Reserve the next slot for ``key``; return how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            grants = self._grants[key]
            start = now
            if len(grants) >= self.rate:
                start = max(now, grants[-self.rate] + self.period)
            grants.append(start)
            while len(grants) > self.rate:
                grants.popleft()
            return start - now

    def acquire(self, key):
        """Block until a call on ``key`` may be made; return the time waited."""
        delay = self.reserve(key)
        if delay > 0:
            self._sleep(delay)
        return delay
