# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.multicloud.mesh.plugins.module_utils import apply


def obj(rv="1", labels=None, time="2026-01-01T00:00:00Z", status=None):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n", "resourceVersion": rv, "generation": 1,
                         "labels": labels or {},
                         "managedFields": [{"manager": "multicloud.mesh", "operation": "Apply", "time": time}]},
            "data": {"a": "1"}, "status": status}


def test_differs_ignores_volatile_fields_and_status():
    assert not apply.differs(obj(), obj(rv="2", time="2026-02-02T00:00:00Z", status={"x": 1}))
    assert apply.differs(obj(), obj(labels={"l": "v"}))


def test_differs_sees_new_field_owner():
    after = obj()
    after["metadata"]["managedFields"].append({"manager": "other", "operation": "Update"})
    assert apply.differs(obj(), after)


def test_redact_secret_values_marks_changes():
    before = {"kind": "Secret", "metadata": {"name": "s", "managedFields": [{}]}, "data": {"a": "x", "b": "y"}}
    after = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "x", "b": "z"}}
    out = apply.redact(after, other=before)
    assert out["data"] == {"a": apply.REDACTED, "b": apply.REDACTED_CHANGED}
    assert apply.redact(before)["data"] == {"a": apply.REDACTED, "b": apply.REDACTED}
    assert "managedFields" not in apply.redact(before)["metadata"]
    assert before["data"]["a"] == "x"
    cm = apply.redact({"kind": "ConfigMap", "metadata": {}, "data": {"a": "x"}})
    assert cm["data"] == {"a": "x"}


def test_ref():
    assert apply.ref({"kind": "Secret", "metadata": {"name": "s", "namespace": "n"}}) == "Secret/n/s"
    assert apply.ref({"kind": "Namespace", "metadata": {"name": "n"}}) == "Namespace/n"


def test_deployment_ready():
    dep = {"metadata": {"generation": 2}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}
    assert apply.deployment_ready(dep)
    dep["status"]["observedGeneration"] = 1
    assert not apply.deployment_ready(dep)
    dep["status"].update(observedGeneration=2, availableReplicas=1)
    assert not apply.deployment_ready(dep)
    assert not apply.deployment_ready(None)
    assert apply.deployment_ready({"metadata": {"generation": 1}, "spec": {"replicas": 0},
                                   "status": {"observedGeneration": 1}})


def test_service_addresses():
    svc = {"status": {"loadBalancer": {"ingress": [{"ip": "172.16.0.1"}, {"hostname": "a.elb.example"}, {}]}}}
    assert apply.service_addresses(svc) == ["172.16.0.1", "a.elb.example"]
    assert apply.service_addresses({"status": {}}) == []


class FakeResource(object):
    namespaced = True

    def __init__(self, store, dry_run_log):
        self.store = store
        self.log = dry_run_log

    def get(self, name=None, namespace=None, **kwargs):
        if (namespace, name) not in self.store:
            err = Exception("not found")
            err.status = 404
            raise err
        return self.store[(namespace, name)]

    def server_side_apply(self, body=None, name=None, namespace=None, **kwargs):
        self.log.append(kwargs)
        current = self.store.get((namespace, name))
        new = dict(body)
        meta = dict(body["metadata"])
        meta["resourceVersion"] = "2" if current else "1"
        meta["managedFields"] = [{"manager": kwargs["field_manager"], "operation": "Apply", "time": "t"}]
        new["metadata"] = meta
        if current is not None and {k: v for k, v in current.items() if k != "metadata"} == \
                {k: v for k, v in body.items() if k != "metadata"}:
            new = current
        if kwargs.get("dry_run") != "All":
            self.store[(namespace, name)] = new
        return new


class FakeResources(object):
    def __init__(self, resource):
        self.resource = resource

    def get(self, api_version=None, kind=None):
        return self.resource


class FakeKube(object):
    server = "https://127.0.0.1:1"
    timeout = 5

    def __init__(self):
        self.store = {}
        self.log = []
        self.dynamic = type("D", (), {})()
        self.dynamic.resources = FakeResources(FakeResource(self.store, self.log))

    @staticmethod
    def call_raw(fn, idempotent=True, what=None, convert=False):
        return fn()


def test_apply_actions_and_check_mode():
    kube = FakeKube()
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": {"a": "1"}}
    check = apply.Applier(kube, check_mode=True)
    assert check.apply(cm)["action"] == "created"
    assert kube.store == {}
    assert kube.log[-1]["dry_run"] == "All" and kube.log[-1]["force_conflicts"] is True
    real = apply.Applier(kube, diff=True)
    assert real.apply(cm)["action"] == "created"
    assert real.apply(cm)["action"] == "unchanged"
    assert kube.log[-1]["field_manager"] == "multicloud.mesh" and "dry_run" not in kube.log[-1]
    changed = dict(cm, data={"a": "2"})
    assert real.apply(changed)["action"] == "updated"
    assert real.summary()["counts"] == {"created": 1, "unchanged": 1, "updated": 1}
    assert real.changed
    assert len(real.diff()["before"]) == 2
