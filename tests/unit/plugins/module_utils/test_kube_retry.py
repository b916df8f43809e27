# -*- coding: utf-8 -*-
"""Retries of transient Kubernetes API failures in KubeClient (kube.py) and Applier (apply.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl

import pytest
import urllib3
from kubernetes.client.rest import ApiException

from ansible_collections.multicloud.mesh.plugins.module_utils import kube


def _refused():
    err = urllib3.exceptions.MaxRetryError(None, "/version", reason=urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"))
    return err


def _status(code):
    exc = ApiException(status=code, reason="x")
    exc.body = '{"message": "injected"}'
    return exc


@pytest.mark.parametrize("exc,idempotent,expected", [
    (_refused(), True, True),
    (_refused(), False, True),            # never reached the server: safe even for a create
    (_status(429), False, True),
    (_status(503), False, True),
    (_status(500), True, True),
    (_status(500), False, False),         # a create may have been processed
    (_status(504), True, True),
    (_status(404), True, False),
    (_status(401), True, False),
    (_status(403), True, False),
    (_status(409), True, False),
    (urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")), True, True),
    (urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")), False, False),
    (urllib3.exceptions.MaxRetryError(None, "/", reason=urllib3.exceptions.SSLError(
        ssl.SSLError("CERTIFICATE_VERIFY_FAILED"))), True, False),
    (ValueError("bad body"), True, False),
    (socket.timeout("timed out"), True, True),
])
def test_is_transient(exc, idempotent, expected):
    assert kube.is_transient(exc, idempotent) is expected


def _sequence(outcomes):
    """A call that raises or returns each of ``outcomes`` in turn."""
    def fn():
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out
    return fn


def _client(monkeypatch, new_clock, request_timeout=5):
    clock = new_clock()
    monkeypatch.setattr(kube.time, "monotonic", clock)
    monkeypatch.setattr("time.sleep", clock.sleep)
    monkeypatch.setattr("time.monotonic", clock)
    client = kube.KubeClient.__new__(kube.KubeClient)
    client.server = "https://127.0.0.1:6443"
    client.timeout = request_timeout
    client.retry_timeout = kube.retry_budget(request_timeout)
    client.retries = 0
    return client, clock


def test_call_raw_retries_until_the_server_is_back(monkeypatch, new_clock):
    client, clock = _client(monkeypatch, new_clock)
    fn = _sequence([_refused(), _refused(), _status(503), "ok"])
    assert client.call_raw(fn) == "ok"
    assert client.retries == 3 and clock.now <= client.retry_timeout


def test_call_raw_gives_up_after_the_budget_with_a_clear_message(monkeypatch, new_clock):
    client, clock = _client(monkeypatch, new_clock, request_timeout=3)
    calls = []

    def fn():
        calls.append(clock.now)
        raise _refused()

    with pytest.raises(kube.KubeError) as info:
        client.call_raw(fn, what="GET /version", convert=True)
    msg = info.value.msg
    assert msg.startswith("GET /version: cannot reach the API server https://127.0.0.1:6443")
    assert "still failing after" in msg and "request_timeout=3s" in msg
    assert len(calls) > 2 and clock.now == pytest.approx(6.0)


def test_call_raw_does_not_retry_final_errors(monkeypatch, new_clock):
    client, dummy = _client(monkeypatch, new_clock)
    client.server_ready = lambda: True   # a 403 from a ready API server is a real denial
    calls = []

    def fn():
        calls.append(1)
        raise _status(403)

    with pytest.raises(kube.KubeError) as info:
        client.call_raw(fn, what="get Secret ns/x", convert=True)
    assert len(calls) == 1 and info.value.status == 403 and "retries" not in info.value.msg


def test_call_retries_create_only_when_not_processed(monkeypatch, new_clock):
    client, dummy = _client(monkeypatch, new_clock)

    class Resource(object):
        kind = "Secret"

    calls = []

    def create(resource, **kwargs):
        calls.append(kwargs)
        raise _status(500)

    import functools
    with pytest.raises(kube.KubeError) as info:
        client.call(functools.partial(create, Resource()), namespace="ns", name="s")
    assert len(calls) == 1
    assert info.value.msg.startswith("create Secret ns/s: the API server https://127.0.0.1:6443 answered 500")


def test_call_raw_retries_a_denial_while_the_server_is_not_ready(monkeypatch, new_clock):
    """A restarted API server answers 401/403 until its authenticators and RBAC caches sync."""
    client, dummy = _client(monkeypatch, new_clock)
    ready = [False, False, True]
    client.server_ready = lambda: ready.pop(0)
    fn = _sequence([_status(403), _status(401), "ok"])
    assert client.call_raw(fn) == "ok"
    assert client.retries == 2 and ready == [True]


def test_server_ready_is_false_without_an_answer(monkeypatch, new_clock):
    client, dummy = _client(monkeypatch, new_clock)

    class Api(object):
        def call_api(self, *args, **kwargs):
            raise _refused()

    client.api = Api()
    assert client.server_ready() is False


class ResourceNotFoundError(Exception):
    """Stands for kubernetes.dynamic.exceptions.ResourceNotFoundError (matched by class name)."""


def test_call_raw_retries_a_missing_kind_only_while_the_server_is_not_ready(monkeypatch, new_clock):
    client, dummy = _client(monkeypatch, new_clock)
    ready = [False, True]
    client.server_ready = lambda: ready.pop(0)
    fn = _sequence([ResourceNotFoundError("ServiceEntry"), "resource"])
    assert client.call_raw(fn) == "resource" and client.retries == 1
    # from a ready server a missing kind is final at once (the CRD is not installed)
    client.server_ready = lambda: True
    calls = []

    def missing():
        calls.append(1)
        raise ResourceNotFoundError("ServiceEntry")

    with pytest.raises(ResourceNotFoundError):
        client.call_raw(missing)
    assert len(calls) == 1
