# -*- coding: utf-8 -*-
"""Deleting Istio's CRDs against a fake API server that behaves like kube-apiserver 1.35's CRD finalizer.

The fake models what was seen in the sandbox (see the comment above CRD_API_VERSION in istio.py):
the finalizer lists the CRD's instances from a watch cache that exists only after a first request
for the resource; on a cold cache its pass fails (429 "storage is (re)initializing"), it records
Terminating=True/InstanceDeletionFailed and -- the lost wake-up -- is not run again until
something other than the Terminating condition changes (or the 5-minute informer resync, which a
test never waits for).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.multicloud.mesh.plugins.module_utils import istio
from ansible_collections.multicloud.mesh.plugins.module_utils.apply import ApplyError


class Status(Exception):
    def __init__(self, status):
        super(Status, self).__init__("HTTP %s" % status)
        self.status = status


def crd(name, plural, group="networking.istio.io", versions=(("v1", True),)):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": group, "names": {"plural": plural, "kind": plural.title()},
                     "versions": [{"name": v, "served": True, "storage": s} for v, s in versions]}}


class FakeApiServer(object):
    """CRDs, their watch caches and the CRD finalizer's passes."""

    def __init__(self, crds, cold_lists=1, stuck_forever=()):
        self.crds = dict((c["metadata"]["name"], c) for c in crds)
        self.warm = set()
        self.cold_lists = dict((self.path_of(c), cold_lists) for c in crds)
        self.stuck_forever = set(stuck_forever)
        self.requests = []
        self.server = "https://127.0.0.1:6443"
        self.timeout = 5

    @staticmethod
    def path_of(obj):
        return istio.crd_storage_path(obj)

    # what kube.dynamic.request sees
    def request(self, method, path, **kwargs):
        self.requests.append((method, path))
        owner = [n for n, c in self.crds.items() if self.path_of(c) == path]
        if not owner:
            raise Status(404)
        if self.cold_lists[path] > 0:  # the first list creates the cache, which is still filling
            self.cold_lists[path] -= 1
            raise Status(429)
        self.warm.add(owner[0])
        return {"items": []}

    def finalizer_pass(self, name):
        """One pass of the CRD finalizer (after a delete or a change outside Terminating)."""
        obj = self.crds[name]
        if name in self.warm and name not in self.stuck_forever:
            del self.crds[name]
            return
        obj["status"] = {"conditions": [{"type": "Terminating", "status": "True", "reason": "InstanceDeletionFailed",
                                         "message": "could not list instances: storage is (re)initializing"}]}

    def delete(self, name):
        obj = self.crds[name]
        obj["metadata"]["deletionTimestamp"] = "2026-12-03T05:00:00Z"
        obj["metadata"]["finalizers"] = [istio.CRD_CLEANUP_FINALIZER]
        self.finalizer_pass(name)

    def patch(self, name, body):
        self.requests.append(("PATCH", name))
        if name not in self.crds:
            raise Status(404)
        self.crds[name]["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
        self.finalizer_pass(name)


class FakeKube(object):
    def __init__(self, api):
        self.api = api
        self.server = api.server
        self.timeout = api.timeout
        self.dynamic = self

    def request(self, method, path, **kwargs):
        return self.api.request(method, path, **kwargs)

    @staticmethod
    def call_raw(fn, **kwargs):
        return fn()


class CrdResource(object):
    def __init__(self, api):
        self.api = api

    def patch(self, body, name, content_type=None, **kwargs):
        assert content_type == "application/merge-patch+json"  # never an apply: it would drop our spec fields
        return self.api.patch(name, body)


class FakeApplier(object):
    def __init__(self, api):
        self.api = api
        self.kube = FakeKube(api)

    def resource(self, api_version, kind):
        return CrdResource(self.api)

    def get(self, api_version, kind, name, namespace=None):
        assert kind == "CustomResourceDefinition"
        return self.api.crds.get(name)


ISTIO_CRDS = [crd("proxyconfigs.networking.istio.io", "proxyconfigs", versions=(("v1beta1", True),)),
              crd("gateways.networking.istio.io", "gateways",
                  versions=(("v1", False), ("v1beta1", False), ("v1alpha3", True)))]


def test_crd_storage_path_is_the_version_the_finalizer_lists():
    assert istio.crd_storage_path(ISTIO_CRDS[0]) == "/apis/networking.istio.io/v1beta1/proxyconfigs"
    assert istio.crd_storage_path(ISTIO_CRDS[1]) == "/apis/networking.istio.io/v1alpha3/gateways"
    unserved = crd("x.example.com", "xs", group="example.com")
    unserved["spec"]["versions"][0]["served"] = False
    assert istio.crd_storage_path(unserved) is None
    assert istio.crd_storage_path(None) is None


def test_warm_retries_the_429_of_a_filling_cache_and_gives_up_quietly(new_clock):
    api = FakeApiServer(ISTIO_CRDS, cold_lists=3)
    applier, clock = FakeApplier(api), new_clock()
    assert istio.warm_custom_resources(applier, ISTIO_CRDS[0], sleep=clock.sleep, clock=clock) is True
    assert api.requests == [("GET", "/apis/networking.istio.io/v1beta1/proxyconfigs")] * 4
    api = FakeApiServer(ISTIO_CRDS, cold_lists=10 ** 6)
    applier, clock = FakeApplier(api), new_clock()
    assert istio.warm_custom_resources(applier, ISTIO_CRDS[0], timeout=2, sleep=clock.sleep, clock=clock) is False
    assert 2 <= clock.now < 3
    assert istio.warm_custom_resources(applier, crd("gone.example.com", "gones", group="example.com")) is False


class UninstallApplier(FakeApplier):
    """Enough of apply.Applier for MeshInstaller._uninstall_cluster; the other kinds vanish at once."""

    def __init__(self, api):
        super(UninstallApplier, self).__init__(api)
        self.deleted = []
        self.results = []

    def get(self, api_version, kind, name, namespace=None):
        return self.api.crds.get(name) if kind == "CustomResourceDefinition" else None

    def list(self, *args, **kwargs):
        return []

    def delete(self, api_version, kind, name, namespace=None, wait=True, timeout=120):
        return {"changed": False}

    def delete_object(self, obj, wait=True, timeout=120):
        name = obj["metadata"]["name"]
        self.deleted.append((obj["kind"], name))
        if obj["kind"] == "CustomResourceDefinition":
            if name not in self.api.crds:
                return {"changed": False}
            self.api.delete(name)
        return {"changed": True}

    def wait_all_gone(self, objects, timeout=120):
        # Applier.wait_all_gone only polls: a CRD whose finalizer was dropped is still there after timeout
        left = [o["metadata"]["name"] for o in objects if self.get("", o["kind"], o["metadata"]["name"]) is not None]
        if left:
            raise ApplyError("timed out after %ss waiting for the deletion of %s" % (timeout, left))


def test_uninstall_with_cold_caches_removes_every_crd(monkeypatch):
    """The CI failure: the remote's CRDs deleted while their caches were cold. Before the fix the
    uninstall only waited and timed out on the CRD whose finalizer pass had failed."""
    api = FakeApiServer(ISTIO_CRDS)
    applier = UninstallApplier(api)
    inst = istio.MeshInstaller({"mesh_id": "m", "topology": "primary_remote", "wait": True, "wait_timeout": 120,
                                "injection_namespaces": [], "link": "remote_secrets"}, connect=None)
    run = istio.ClusterRun({"name": "remote", "network": "n2"}, FakeKube(api), applier)
    gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
               "metadata": {"name": "cross-network-gateway", "namespace": "istio-system"}}
    monkeypatch.setattr(inst, "rendered", lambda run, remote_pilot_address=None: [gateway] + [dict(c) for c in ISTIO_CRDS])
    inst._uninstall_cluster(run)
    assert api.crds == {}
    assert applier.deleted[0] == ("Gateway", "cross-network-gateway")  # instances before their CRDs
    # both caches were filled before the deletes (the 429 of a filling cache retried), so every first
    # finalizer pass succeeded and no CRD needed a nudge
    listed = set(r[1] for r in api.requests if r[0] == "GET")
    assert listed == set(["/apis/networking.istio.io/v1alpha3/gateways", "/apis/networking.istio.io/v1beta1/proxyconfigs"])
    assert [r for r in api.requests if r[0] == "PATCH"] == []


def test_warmed_caches_let_the_first_finalizer_pass_succeed(new_clock):
    api = FakeApiServer(ISTIO_CRDS)
    applier, clock = FakeApplier(api), new_clock()
    for obj in ISTIO_CRDS:
        assert istio.warm_custom_resources(applier, obj, sleep=clock.sleep, clock=clock)
    for name in list(api.crds):
        api.delete(name)
    assert api.crds == {}
    istio.wait_crds_gone(applier, [c["metadata"]["name"] for c in ISTIO_CRDS], 120, sleep=clock.sleep, clock=clock)
    assert [r for r in api.requests if r[0] == "PATCH"] == []


def test_a_failed_finalizer_pass_is_requeued_after_warming(new_clock):
    """The cache could not be warmed before the delete (or was rebuilt since): the wait re-lists and nudges."""
    api = FakeApiServer(ISTIO_CRDS, cold_lists=1)
    applier, clock = FakeApplier(api), new_clock()
    for name in list(api.crds):
        api.delete(name)
    istio.wait_crds_gone(applier, [c["metadata"]["name"] for c in ISTIO_CRDS], 120, sleep=clock.sleep, clock=clock)
    assert api.crds == {}
    assert clock.now < 5
    patches = sorted(r[1] for r in api.requests if r[0] == "PATCH")
    assert patches == ["gateways.networking.istio.io", "proxyconfigs.networking.istio.io"]


def test_a_crd_that_never_goes_times_out_with_its_reason_and_nudges_are_spaced(new_clock):
    api = FakeApiServer(ISTIO_CRDS[:1], cold_lists=0, stuck_forever=["proxyconfigs.networking.istio.io"])
    applier, clock = FakeApplier(api), new_clock()
    api.delete("proxyconfigs.networking.istio.io")
    with pytest.raises(ApplyError) as err:
        istio.wait_crds_gone(applier, ["proxyconfigs.networking.istio.io"], 30, sleep=clock.sleep, clock=clock)
    assert "CustomResourceDefinition/proxyconfigs.networking.istio.io (Terminating: InstanceDeletionFailed:" in err.value.msg
    assert "in cluster https://127.0.0.1:6443" in err.value.msg
    patches = [r for r in api.requests if r[0] == "PATCH"]
    assert 3 <= len(patches) <= 31  # at most one per probe, probes at most once a second
    assert api.crds["proxyconfigs.networking.istio.io"]["metadata"]["annotations"] == {
        istio.CRD_NUDGE_ANNOTATION: str(len(patches))}


def test_requeue_errors_other_than_gone_are_reported():
    class Forbidden(FakeApiServer):
        def patch(self, name, body):
            raise Status(403)
    api = Forbidden(ISTIO_CRDS[:1])
    assert istio.requeue_crd_finalizer(FakeApplier(FakeApiServer([])), "gone.example.com", 1) is False
    with pytest.raises(ApplyError) as err:
        istio.requeue_crd_finalizer(FakeApplier(api), "proxyconfigs.networking.istio.io", 1)
    assert err.value.msg.startswith("re-queueing the finalizer of CustomResourceDefinition/proxyconfigs.networking"
                                    ".istio.io failed: permission denied by https://127.0.0.1:6443 (403 Forbidden)")
