"""Client-side rate limiter: at most ``rate`` calls per ``period`` seconds for each key (API path).

DingTalk counts calls per app and per API (protocol §3.3: 20 calls/s on standard orgs). The limiter is a
sliding window over the grant times of the last ``rate`` calls: a caller gets the earliest moment that keeps
every window of ``period`` seconds at ``rate`` grants or fewer, reserves it under a lock and sleeps
outside the lock, so concurrent threads queue up in order instead of all retrying at once.
:meth:`RateLimiter.try_acquire` is the variant for callers that must never queue (interactive sign-ins).

:class:`WindowCounter` is the other kind of limit: at most ``limit`` hits per ``period`` seconds for each
of many keys (client addresses, sessions), for throttling callers rather than pacing our own calls.
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

    def try_acquire(self, key):
        """Take a slot for ``key`` only if one is free now; never wait. Return whether it was taken.

        Grants stay in time order: when the oldest of the last ``rate`` grants has left the window, every
        later grant (even one reserved ahead by :meth:`reserve`) is at most ``now`` too.
        """
        with self._lock:
            now = self._clock()
            grants = self._grants[key]
            if len(grants) >= self.rate and grants[-self.rate] + self.period > now:
                return False
            grants.append(now)
            while len(grants) > self.rate:
                grants.popleft()
            return True

    def acquire(self, key):
        """Block until a call on ``key`` may be made; return the time waited."""
        delay = self.reserve(key)
        if delay > 0:
            self._sleep(delay)
        return delay


class LimiterBusy(Exception):
    """A call that must not wait found the rate limiter full (raised instead of sleeping)."""

    def __init__(self, key):
        super().__init__(f"rate limiter full for {key}")
        self.key = key


class WindowCounter:
    """Thread-safe sliding window: at most ``limit`` hits per ``period`` seconds for each key.

    Memory is bounded: a key keeps at most ``limit`` timestamps, and at most ``max_keys`` keys are kept
    (the least recently hit are forgotten first, which can only let a forgotten key in early).
    """

    def __init__(self, period=60.0, *, max_keys=10000, clock=time.monotonic):
        if period <= 0 or max_keys < 1:
            raise ValueError("period must be > 0 and max_keys >= 1")
        self.period = period
        self.max_keys = int(max_keys)
        self._clock = clock
        self._lock = threading.Lock()
        self._hits = collections.OrderedDict()  # key -> deque of hit times, least recently hit first

    def hit(self, key, limit):
        """Count a hit on ``key`` if fewer than ``limit`` hits are in the window; return whether it was.

        A refused hit is not counted, so a caller that keeps knocking gets in again at ``limit`` per period.
        """
        with self._lock:
            now = self._clock()
            hits = self._hits.pop(key, None) or collections.deque()
            while hits and hits[0] <= now - self.period:
                hits.popleft()
            admitted = len(hits) < limit
            if admitted:
                hits.append(now)
            while len(hits) > max(limit, 0):
                hits.popleft()
            if hits:
                self._hits[key] = hits  # re-inserted last: most recently hit
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return admitted

    def clear(self):
        with self._lock:
            self._hits.clear()

    def __len__(self):
        with self._lock:
            return len(self._hits)
