# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Server-side apply with exact ``changed``, check mode and diff; deletes and readiness waits.

Every module that writes Kubernetes objects goes through ``Applier``:

- ``apply(obj)`` does a server-side apply (field manager ``multicloud.mesh``, conflicts
  forced) through the dynamic client. ``changed`` is exact: the object before and the
  object the server returns are compared without the fields the server bumps on every
  write (resourceVersion, generation, managedFields timestamps) and without ``status``
  (controllers own it). In check mode the same request is sent with ``dryRun=All``,
  so the prediction comes from the server (defaulting, admission, merge) and nothing
  is persisted. When a dry run cannot be done because the namespace or the CRD is
  only going to be created by the same run, the object is predicted as "create".
- ``delete(...)`` deletes (foreground) and optionally waits until the object is gone.
- ``wait_deployment_ready``, ``wait_service_address``, ``wait_crd_established`` use
  ``retry.wait_until``.
- Diffs (``before``/``after`` lists) redact Secret data.
- Every request goes through ``KubeClient.call_raw``: transient failures (API server
  unreachable or restarting, 429, 5xx) are retried with jittered backoff.

Objects are plain dicts (``apiVersion``, ``kind``, ``metadata``...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.multicloud.mesh.plugins.module_utils.kube import KubeError, explain
from ansible_collections.multicloud.mesh.plugins.module_utils.retry import WaitTimeout, wait_until

FIELD_MANAGER = "multicloud.mesh"
REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"
VOLATILE_METADATA = ("resourceVersion", "generation")


class ApplyError(Exception):
    """An apply, delete or wait failed; ``msg`` is fit for ``fail_json``."""

    def __init__(self, msg):
        super(ApplyError, self).__init__(msg)
        self.msg = msg


def ref(obj):
    """``Kind/namespace/name`` (or ``Kind/name``) of an object, for messages and summaries."""
    meta = obj.get("metadata") or {}
    if meta.get("namespace"):
        return "%s/%s/%s" % (obj.get("kind"), meta["namespace"], meta.get("name"))
    return "%s/%s" % (obj.get("kind"), meta.get("name"))


def normalize(obj):
    """A copy of ``obj`` without what changes on every write or is owned by controllers."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    fields = []
    for entry in meta.get("managedFields") or []:
        entry = dict(entry)
        entry.pop("time", None)
        fields.append(entry)
    if fields:
        meta["managedFields"] = sorted(fields, key=lambda e: (e.get("manager") or "", e.get("operation") or "",
                                                              e.get("subresource") or ""))
    return out


def differs(before, after):
    """Whether an apply turned ``before`` into a different ``after`` (see ``normalize``)."""
    return normalize(before) != normalize(after)


def redact(obj, other=None):
    """A copy of ``obj`` fit for a diff: Secret values hidden (marked when they differ from ``other``)."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    meta.pop("managedFields", None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if out.get("kind") == "Secret":
        for key in ("data", "stringData"):
            values = out.get(key)
            if not isinstance(values, dict):
                continue
            previous = ((other or {}).get(key) or {}) if other is not None else None
            for name in values:
                changed = previous is not None and previous.get(name) != values[name]
                values[name] = REDACTED_CHANGED if changed else REDACTED
    return out


def _to_dict(result):
    if result is None:
        return None
    if isinstance(result, dict):
        return result
    return result.to_dict()


def _status(exc):
    return getattr(exc, "status", None)


class Applier(object):
    """Applies and deletes objects in one cluster; collects a change summary and diffs.

    ``kube`` is a ``kube.KubeClient``. ``check_mode`` turns writes into server dry runs.
    ``results`` lists one dict per object handled:
    ``{"ref", "action": created|updated|unchanged|deleted|absent, "changed"}``.
    """

    def __init__(self, kube, check_mode=False, field_manager=FIELD_MANAGER, force=True, diff=False):
        self.kube = kube
        self.check_mode = check_mode
        self.field_manager = field_manager
        self.force = force
        self.want_diff = diff
        self.results = []
        self.before = []
        self.after = []

    # ---- reading ------------------------------------------------------------
    def resource(self, api_version, kind):
        """The dynamic resource of ``kind``, or None when the server does not serve it (yet)."""
        try:
            return self.kube.call_raw(lambda: self.kube.dynamic.resources.get(api_version=api_version, kind=kind))
        except Exception as exc:  # pylint: disable=broad-except
            if exc.__class__.__name__ in ("ResourceNotFoundError", "ResourceNotUniqueError"):
                return None
            raise ApplyError(explain(exc, self.kube.server).msg)

    def get(self, api_version, kind, name, namespace=None):
        """The live object as a dict, or None when it (or its kind) does not exist."""
        resource = self.resource(api_version, kind)
        if resource is None:
            return None
        try:
            return _to_dict(self.kube.call_raw(lambda: resource.get(
                name=name, namespace=namespace if resource.namespaced else None, _request_timeout=self.kube.timeout)))
        except Exception as exc:  # pylint: disable=broad-except
            if _status(exc) == 404:
                return None
            raise ApplyError(explain(exc, self.kube.server).msg)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        """Objects of a kind as dicts ([] when the kind is not served)."""
        resource = self.resource(api_version, kind)
        if resource is None:
            return []
        try:
            kwargs = {"label_selector": label_selector, "_request_timeout": self.kube.timeout}
            if resource.namespaced and namespace:
                kwargs["namespace"] = namespace
            return _to_dict(self.kube.call_raw(lambda: resource.get(**kwargs))).get("items") or []
        except Exception as exc:  # pylint: disable=broad-except
            if _status(exc) == 404:
                return []
            raise ApplyError(explain(exc, self.kube.server).msg)

    # ---- writing ------------------------------------------------------------
    def _record(self, obj_ref, action, before=None, after=None):
        changed = action in ("created", "updated", "deleted")
        self.results.append({"ref": obj_ref, "action": action, "changed": changed})
        if self.want_diff and changed:
            self.before.append(redact(normalize(before)) if before else None)
            self.after.append(redact(normalize(after), other=normalize(before)) if after else None)
        return {"ref": obj_ref, "action": action, "changed": changed, "object": after}

    def apply(self, obj, adjust=None):
        """Server-side apply ``obj``; returns ``{"ref", "action", "changed", "object"}``.

        ``adjust(body, live)`` may return a changed body once the live object is known
        (for fields another controller sets at runtime).
        """
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        meta = obj.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace")
        obj_ref = ref(obj)
        if not (api_version and kind and name):
            raise ApplyError("cannot apply an object without apiVersion, kind and metadata.name: %s" % obj_ref)
        resource = self.resource(api_version, kind)
        if resource is None:
            if self.check_mode:
                # Its CRD is created by this same run: the server cannot dry-run it yet.
                return self._record(obj_ref, "created", None, obj)
            raise ApplyError("the API server %s does not serve %s %s (is its CRD installed?)"
                             % (self.kube.server, api_version, kind))
        if not resource.namespaced:
            namespace = None
            body = copy.deepcopy(obj)
            body.get("metadata", {}).pop("namespace", None)
        else:
            body = obj
        before = self.get(api_version, kind, name, namespace)
        if adjust is not None:
            body = adjust(copy.deepcopy(body), before)
        kwargs = {"name": name, "namespace": namespace, "field_manager": self.field_manager,
                  "force_conflicts": self.force, "_request_timeout": self.kube.timeout}
        if self.check_mode:
            kwargs["dry_run"] = "All"
        try:
            after = _to_dict(self.kube.call_raw(lambda: resource.server_side_apply(body=body, **kwargs)))
        except Exception as exc:  # pylint: disable=broad-except
            if self.check_mode and before is None and _status(exc) == 404:
                # The namespace is only created by this same run.
                return self._record(obj_ref, "created", None, obj)
            err = explain(exc, self.kube.server)
            raise ApplyError("applying %s failed: %s" % (obj_ref, err.msg))
        if before is None:
            action = "created"
        elif differs(before, after):
            action = "updated"
        else:
            action = "unchanged"
        return self._record(obj_ref, action, before, after)

    def delete(self, api_version, kind, name, namespace=None, wait=True, timeout=120):  # pylint: disable=too-many-arguments
        """Delete an object (foreground propagation); with ``wait``, until it is gone.

        Returns ``{"ref", "action": deleted|absent, "changed"}``. In check mode nothing
        is deleted; the action says what would happen.
        """
        obj_ref = ref({"kind": kind, "metadata": {"name": name, "namespace": namespace}})
        resource = self.resource(api_version, kind)
        if resource is None:
            return self._record(obj_ref, "absent")
        if not resource.namespaced:
            namespace = None
        before = self.get(api_version, kind, name, namespace)
        if before is None:
            return self._record(obj_ref, "absent")
        if not self.check_mode:
            try:
                self.kube.call_raw(lambda: resource.delete(
                    name=name, namespace=namespace, body={"propagationPolicy": "Foreground"},
                    _request_timeout=self.kube.timeout))
            except Exception as exc:  # pylint: disable=broad-except
                if _status(exc) != 404:
                    raise ApplyError("deleting %s failed: %s" % (obj_ref, explain(exc, self.kube.server).msg))
            if wait:
                self.wait_gone(api_version, kind, name, namespace, timeout)
        return self._record(obj_ref, "deleted", before, None)

    def delete_object(self, obj, wait=True, timeout=120):
        meta = obj.get("metadata") or {}
        return self.delete(obj["apiVersion"], obj["kind"], meta.get("name"), meta.get("namespace"), wait, timeout)

    # ---- waiting ------------------------------------------------------------
    def _wait(self, probe, timeout, what, diagnose=None):
        """Poll ``probe``; on timeout the error names ``what`` and, with ``diagnose``, what the cluster says why."""
        try:
            return wait_until(probe, timeout=timeout, interval=1.0, what=what)
        except WaitTimeout as exc:
            why = ""
            if diagnose is not None:
                try:
                    why = diagnose()
                except Exception as diag_exc:  # pylint: disable=broad-except
                    why = "(could not read why: %s)" % (getattr(diag_exc, "msg", None) or diag_exc)
            raise ApplyError("%s in cluster %s%s" % (exc, self.kube.server, ": " + why if why else ""))
        except KubeError as exc:
            raise ApplyError(exc.msg)

    def deployment_diagnosis(self, name, namespace):
        """Why a Deployment is not ready, from its status, its pods, their nodes and Warning events (one line)."""
        dep = self.get("apps/v1", "Deployment", name, namespace)
        if dep is None:
            return "the Deployment does not exist"
        status = dep.get("status") or {}
        parts = ["replicas %s, updated %s, ready %s, available %s (generation %s, observed %s)" % (
            (dep.get("spec") or {}).get("replicas", 1), status.get("updatedReplicas", 0), status.get("readyReplicas", 0),
            status.get("availableReplicas", 0), dep["metadata"].get("generation"), status.get("observedGeneration"))]
        parts += ["%s=%s %s: %s" % (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                  for c in status.get("conditions") or [] if c.get("status") != "True"]
        labels = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join("%s=%s" % item for item in sorted(labels.items()))
        pods = self.list("v1", "Pod", namespace, selector) if selector else []
        for pod in pods:
            pstatus = pod.get("status") or {}
            if condition_true(pod, "Ready"):
                continue
            why = ["%s=%s %s" % (c.get("type"), c.get("reason"), c.get("message") or "")
                   for c in pstatus.get("conditions") or [] if c.get("status") != "True"]
            why += ["container %s %s" % (cs.get("name"), ((cs.get("state") or {}).get("waiting") or {}).get("reason"))
                    for cs in pstatus.get("containerStatuses") or [] if (cs.get("state") or {}).get("waiting")]
            node = (pod.get("spec") or {}).get("nodeName") or "-"
            parts.append("pod %s %s on node %s: %s" % (pod["metadata"]["name"], pstatus.get("phase"), node,
                                                       "; ".join(w.strip() for w in why) or "no condition says why"))
        if not pods:
            parts.append("no pod matches %s" % (selector or "its selector"))
        nodes = self.list("v1", "Node")
        not_ready = [n["metadata"]["name"] for n in nodes if not condition_true(n, "Ready")]
        if nodes:
            parts.append("nodes: %d, not Ready: %s" % (len(nodes), ", ".join(not_ready) or "none"))
        events = [e for e in self.list("v1", "Event", namespace) if e.get("type") == "Warning"
                  and ((e.get("involvedObject") or {}).get("name") or "").startswith(name)]
        for event in events[-3:]:
            parts.append("event %s %s: %s" % ((event.get("involvedObject") or {}).get("name"), event.get("reason"),
                                              (event.get("message") or "").strip()))
        return "; ".join(parts)

    def wait_gone(self, api_version, kind, name, namespace=None, timeout=120):
        obj_ref = ref({"kind": kind, "metadata": {"name": name, "namespace": namespace}})
        return self._wait(lambda: self.get(api_version, kind, name, namespace) is None, timeout,
                          "%s to be deleted" % obj_ref)

    def wait_all_gone(self, objects, timeout=120):
        """Wait until none of ``objects`` (dicts with apiVersion, kind, metadata) exists any more."""
        pending = list(objects)

        def probe():
            pending[:] = [o for o in pending if self.get(o["apiVersion"], o["kind"], o["metadata"]["name"],
                                                         o["metadata"].get("namespace")) is not None]
            return not pending
        try:
            return wait_until(probe, timeout=timeout, interval=1.0, what="deletion")
        except WaitTimeout:
            raise ApplyError("timed out after %ss waiting for the deletion of %s in cluster %s"
                             % (timeout, ", ".join(ref(o) for o in pending[:5]), self.kube.server))

    def wait_crd_established(self, name, timeout=60):
        def probe():
            crd = self.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            return crd is not None and condition_true(crd, "Established")
        return self._wait(probe, timeout, "CRD %s to be Established" % name)

    def wait_deployment_ready(self, name, namespace, timeout=300):
        """Wait until the Deployment's new ReplicaSet is fully rolled out and available."""
        def probe():
            return deployment_ready(self.get("apps/v1", "Deployment", name, namespace))
        return self._wait(probe, timeout, "Deployment %s/%s to be ready" % (namespace, name),
                          diagnose=lambda: self.deployment_diagnosis(name, namespace))

    def wait_service_address(self, name, namespace, timeout=300):
        """Wait for a LoadBalancer Service's ingress addresses (IPs or hostnames); returns them."""
        def probe():
            return service_addresses(self.get("v1", "Service", name, namespace))
        return self._wait(probe, timeout, "an address of LoadBalancer Service %s/%s" % (namespace, name))

    # ---- summary ------------------------------------------------------------
    @property
    def changed(self):
        return any(r["changed"] for r in self.results)

    def summary(self):
        """Counts per action and the refs of what changed."""
        counts = {}
        for result in self.results:
            counts[result["action"]] = counts.get(result["action"], 0) + 1
        return {"counts": counts, "changed": [r["ref"] + " " + r["action"] for r in self.results if r["changed"]]}

    def diff(self):
        return {"before": self.before, "after": self.after}


def condition_true(obj, cond_type):
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == cond_type:
            return cond.get("status") == "True"
    return False


def deployment_ready(dep):
    """Whether a Deployment (dict) is rolled out: observed, updated, available (like ``kubectl rollout status``)."""
    if not dep:
        return False
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    replicas = spec.get("replicas", 1)
    if replicas is None:
        replicas = 1
    if status.get("observedGeneration", 0) < (dep.get("metadata") or {}).get("generation", 0):
        return False
    if replicas == 0:
        return True
    return (status.get("updatedReplicas", 0) >= replicas and status.get("availableReplicas", 0) >= replicas
            and status.get("replicas", 0) == status.get("updatedReplicas", 0))


def service_addresses(svc):
    """IPs/hostnames of a LoadBalancer Service's status (empty list when none yet)."""
    ingress = (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")]
