# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.multicloud.mesh.plugins.module_utils import retry


class Throttled(Exception):
    pass


def test_backoff_delays_are_jittered_and_capped():
    gen = retry.backoff_delays(base=1.0, cap=8.0, rand=lambda: 1.0)
    assert [next(gen) for dummy in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low = retry.backoff_delays(base=1.0, cap=8.0, rand=lambda: 0.25)
    assert [next(low) for dummy in range(3)] == [0.25, 0.5, 1.0]


def test_retry_call_retries_retryable_errors_until_success(new_clock):
    clock = new_clock()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise Throttled()
        return "ok"

    seen = []
    result = retry.retry_call(flaky, lambda e: isinstance(e, Throttled), timeout=60,
                              sleep=clock.sleep, clock=clock.clock, on_retry=lambda e, d: seen.append(d))
    assert result == "ok"
    assert len(calls) == 3
    assert len(seen) == 2 and all(0 <= d <= 20 for d in seen)


def test_retry_call_raises_non_retryable_at_once(new_clock):
    clock = new_clock()

    def broken():
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        retry.retry_call(broken, lambda e: isinstance(e, Throttled), sleep=clock.sleep, clock=clock.clock)
    assert clock.sleeps == []


def test_retry_call_gives_up_when_time_is_spent(new_clock):
    clock = new_clock()

    def always():
        raise Throttled()

    with pytest.raises(Throttled):
        retry.retry_call(always, lambda e: True, timeout=30, sleep=clock.sleep, clock=clock.clock)
    assert clock.now <= 30.0 + 1e-9
    assert len(clock.sleeps) >= 2


def test_wait_until_returns_value_and_times_out(new_clock):
    clock = new_clock()
    values = iter([None, None, {"status": "ACTIVE"}])
    assert retry.wait_until(lambda: next(values), timeout=100, interval=2, sleep=clock.sleep,
                            clock=clock.clock) == {"status": "ACTIVE"}
    assert clock.sleeps == [2, 3.0]
    clock2 = new_clock()
    with pytest.raises(retry.WaitTimeout) as err:
        retry.wait_until(lambda: False, timeout=10, interval=2, what="cluster ACTIVE",
                         sleep=clock2.sleep, clock=clock2.clock)
    assert "cluster ACTIVE" in str(err.value)
    assert clock2.now == pytest.approx(10)
