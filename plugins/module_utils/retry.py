# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one place for retries and waits.

Every module that calls a cloud or Kubernetes API retries transient errors and
waits for conditions through these two functions, so that backoff, jitter and
timeouts behave the same everywhere.

- ``retry_call(fn, is_retryable, timeout)`` calls ``fn`` until it succeeds, a
  non-retryable error is raised, or ``timeout`` seconds have passed. Sleeps use
  "full jitter" exponential backoff (AWS architecture blog), capped.
- ``wait_until(probe, timeout)`` polls ``probe`` until it returns a truthy value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import time


class WaitTimeout(Exception):
    """A wait or a retry loop ran out of time. ``last`` is the last value or error seen."""

    def __init__(self, message, last=None):
        super(WaitTimeout, self).__init__(message)
        self.last = last


def backoff_delays(base=1.0, cap=20.0, rand=random.random):
    """Yield an endless sequence of full-jitter exponential delays."""
    attempt = 0
    while True:
        ceiling = min(cap, base * (2 ** attempt))
        yield rand() * ceiling
        attempt = min(attempt + 1, 30)


def retry_call(fn, is_retryable, timeout=120.0, base=1.0, cap=20.0,
               sleep=None, clock=None, on_retry=None):
    """Call ``fn()`` and retry while ``is_retryable(exc)`` is true.

    Re-raises the last error when the time budget is spent, or at once for
    errors that are not retryable. ``on_retry(exc, delay)`` is called before
    each sleep (for logging or counting).
    """
    sleep = sleep or time.sleep  # looked up per call, so tests may patch time.sleep
    clock = clock or time.monotonic
    deadline = clock() + timeout
    delays = backoff_delays(base=base, cap=cap)
    while True:
        try:
            return fn()
        except Exception as exc:  # pylint: disable=broad-except
            if not is_retryable(exc):
                raise
            delay = next(delays)
            remaining = deadline - clock()
            if remaining <= 0:
                raise
            delay = min(delay, remaining)
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)


def wait_until(probe, timeout=300.0, interval=2.0, what="condition",
               sleep=None, clock=None):
    """Poll ``probe()`` until it returns a truthy value and return that value.

    Raises WaitTimeout naming ``what`` when ``timeout`` seconds pass first.
    ``interval`` grows by half each poll up to 4x its start, so long waits
    (cloud provisioning) do not hammer the API.
    """
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    deadline = clock() + timeout
    current = interval
    last = None
    while True:
        last = probe()
        if last:
            return last
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout("timed out after %ss waiting for %s" % (timeout, what), last)
        sleep(min(current, remaining))
        current = min(current * 1.5, interval * 4)
