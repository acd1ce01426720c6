"""The non-waiting side of the limiters: RateLimiter.try_acquire, never_wait() and WindowCounter."""

import threading

import pytest
import requests
from fakes import FakeClock

from dingtalk.client import DingTalkClient, never_wait
from dingtalk.errors import RateLimitError
from dingtalk.ratelimit import LimiterBusy, RateLimiter, WindowCounter

APP_KEY = "dingsandboxappkey0001"
APP_SECRET = "sandbox-app-secret"
SUBIDS = "/topapi/v2/department/listsubid"


def forbid_sleep(seconds):
    raise AssertionError(f"slept {seconds}s")


# --- RateLimiter.try_acquire ---


def test_try_acquire_takes_free_slots_and_never_waits():
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, clock=clock, sleep=forbid_sleep)
    assert limiter.try_acquire("/a")
    clock.now = 0.5
    assert [limiter.try_acquire("/a") for _ in range(2)] == [True, False]
    assert limiter.try_acquire("/b"), "keys are independent"
    clock.now = 1.0
    assert limiter.try_acquire("/a"), "the first grant has left the window"
    assert not limiter.try_acquire("/a"), "the second has not"


def test_try_acquire_respects_slots_reserved_ahead_by_waiting_callers():
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, clock=clock)
    for _ in range(4):
        limiter.reserve("/a")  # grants at 0, 0, 1, 1: the window is booked until 2
    clock.now = 1.5
    assert not limiter.try_acquire("/a")
    clock.now = 2.0
    assert [limiter.try_acquire("/a") for _ in range(3)] == [True, True, False]
    assert limiter.reserve("/a") == pytest.approx(1.0), "and a waiting caller then queues after them"


# --- WindowCounter ---


def test_window_counter_admits_limit_hits_per_period_and_slides():
    clock = FakeClock()
    counter = WindowCounter(60, clock=clock)
    assert counter.hit("ip", 3)
    clock.now = 30.0
    assert [counter.hit("ip", 3) for _ in range(3)] == [True, True, False]
    assert counter.hit("other", 3), "keys are independent"
    clock.now = 59.9
    assert not counter.hit("ip", 3), "refused hits are not counted, the window is still full"
    clock.now = 60.0
    assert counter.hit("ip", 3), "the first hit has left the window"
    assert not counter.hit("ip", 3)


def test_window_counter_memory_is_bounded():
    clock = FakeClock()
    counter = WindowCounter(60, max_keys=100, clock=clock)
    for n in range(10_000):
        counter.hit(f"ip{n}", 5)
    assert len(counter) == 100
    for _ in range(50):
        counter.hit("ip9999", 5)
    assert len(counter._hits["ip9999"]) == 5, "a key keeps at most `limit` timestamps"
    counter.clear()
    assert len(counter) == 0


def test_window_counter_is_thread_safe():
    counter = WindowCounter(60, clock=lambda: 0.0)
    admitted = []

    def knock():
        admitted.append(counter.hit("ip", 10))

    threads = [threading.Thread(target=knock) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 10


# --- never_wait() against the sandbox ---


def test_never_wait_raises_instead_of_sleeping_behind_the_limiter(sandbox):
    limiter = RateLimiter(1, 60.0)
    client = DingTalkClient(
        APP_KEY, APP_SECRET, oapi_url=sandbox, api_url=sandbox, limiter=limiter, sleep=forbid_sleep
    )
    client.access_token()
    with never_wait():
        assert client.department_listsubid(1) is not None  # the one free slot of the minute
        with pytest.raises(LimiterBusy):
            client.department_listsubid(1)
    assert client.stats[SUBIDS] == 1, "the refused call never went out"
    assert limiter.reserve(SUBIDS) > 50, "outside the block callers queue again"


def test_never_wait_raises_a_throttled_answer_at_once(sandbox):
    requests.post(
        f"{sandbox}/_sandbox/faults", json={"path": SUBIDS, "errcode": 90018, "count": 1}, timeout=10
    )
    client = DingTalkClient(APP_KEY, APP_SECRET, oapi_url=sandbox, api_url=sandbox, sleep=forbid_sleep)
    with never_wait(), pytest.raises(RateLimitError):
        client.department_listsubid(1)
    assert client.stats[SUBIDS] == 1, "no retry"
