"""Fixtures shared by the unit tests."""

import pytest


class FakeClock(object):
    """A monotonic clock and a sleep that only moves it: waits and retry budgets run in no time."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []  # every sleep asked for, in order

    def __call__(self):
        return self.now

    clock = __call__  # for code that takes the clock as a bound method

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def new_clock():
    """The FakeClock class: a test that needs several clocks makes them (``new_clock()``)."""
    return FakeClock
