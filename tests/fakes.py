"""Test doubles shared by the plain-Python tests."""


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
