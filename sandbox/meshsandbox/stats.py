"""Request counters of the cloud emulators (benchmarks read them: API calls per stage).

AWS: ``GET|DELETE $AWS_ENDPOINT_URL/_sandbox/stats``; GKE: ``GET|DELETE $GKE_API_ENDPOINT/_emulator/stats``.
Both answer ``{"total": N, "requests": {"<key>": n, ...}, "since": "<UTC time>"}``: every cloud
API request that reached the emulator (faults injected and signature failures included), keyed
``service:Operation`` (AWS) or ``METHOD /v1/<path with names as {placeholders}>`` (GKE). The
clusters' token webhooks (``token-review``) count under ``webhook:token-review``: the
Kubernetes API servers call them, not the client; the AWS calls of the sandbox's LoadBalancer
controller (``aws_elb.py``, user agent ``meshsandbox-lb-controller``) count as
``sandbox:service:Operation``; neither is in ``total``. Control paths (``/_sandbox/``,
``/_emulator/``) are not counted.
"""

import collections
import threading
import time


class RequestCounter:
    """A thread-safe counter of requests by key."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = collections.Counter()
        self._since = time.time()

    def count(self, key):
        with self._lock:
            self._counts[key] += 1

    def clear(self):
        with self._lock:
            self._counts.clear()
            self._since = time.time()

    def snapshot(self):
        with self._lock:
            counts = dict(self._counts)
            since = self._since
        return {"total": sum(n for k, n in counts.items() if not k.startswith(("webhook:", "sandbox:"))),
                "requests": dict(sorted(counts.items())),
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))}
