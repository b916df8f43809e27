"""The sandbox's LoadBalancer controller: what a cloud's service controller does.

A Service of type LoadBalancer gets ``status.loadBalancer.ingress``: an IP for clusters
that act as GKE, a hostname for clusters that act as EKS. An optional hook
(``meshsandbox.aws_elb``) mirrors EKS load balancers as classic ELBs in the AWS emulator,
so that a teardown that forgets a Service leaves a visible orphan.
"""

import hashlib
import json

from kubernetes.client.rest import ApiException

from . import kubeapi

FINALIZER = "sandbox.multicloud.mesh/load-balancer"


def address_for(state, namespace, name):
    digest = hashlib.sha256(("%s/%s/%s" % (state["name"], namespace, name)).encode()).hexdigest()
    if state["flavor"] == "eks":
        region = (state.get("extra_env") or {}).get("AWS_REGION", "eu-central-1")
        return {"hostname": "a%s-%s.%s.elb.amazonaws.com" % (digest[:16], digest[16:26], region)}
    # A stable IP per service inside the cluster's own /16.
    third, fourth = int(digest[:4], 16) % 250 + 1, int(digest[4:8], 16) % 250 + 1
    return {"ip": "%s.%d.%d" % (state["lb_ip_prefix"], third, fourth)}


def _hook():
    try:
        from . import aws_elb  # optional: provided by the AWS emulator
        return aws_elb
    except ImportError:
        return None


def reconcile_once(api, state, hook=None):
    """Assign addresses to LoadBalancer Services and release them when they go. Returns #changes."""
    changes = 0
    services = api.core.list_service_for_all_namespaces(_request_timeout=10).items
    for svc in services:
        ns, name = svc.metadata.namespace, svc.metadata.name
        finalizers = list(svc.metadata.finalizers or [])
        is_lb = svc.spec.type == "LoadBalancer"
        deleting = svc.metadata.deletion_timestamp is not None
        if is_lb and not deleting:
            want = address_for(state, ns, name)
            if hook and state["flavor"] == "eks":
                hook.ensure_elb(state, ns, name, want["hostname"], svc)
            if FINALIZER not in finalizers:
                api.core.patch_namespaced_service(
                    name, ns, {"metadata": {"finalizers": finalizers + [FINALIZER]}},
                    _content_type="application/merge-patch+json")
                changes += 1
            ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
            current = [{k: v for k, v in (("ip", i.ip), ("hostname", i.hostname)) if v} for i in ingress]
            if current != [want]:
                api.core.patch_namespaced_service_status(name, ns, {"status": {"loadBalancer": {"ingress": [want]}}})
                changes += 1
        elif FINALIZER in finalizers:
            # Deleted, or no longer type LoadBalancer: release the cloud side, then the finalizer.
            if hook and state["flavor"] == "eks":
                hook.delete_elb(state, ns, name)
            finalizers.remove(FINALIZER)
            try:
                api.core.patch_namespaced_service(
                    name, ns, {"metadata": {"finalizers": finalizers}},
                    _content_type="application/merge-patch+json")
                if not deleting:
                    api.core.patch_namespaced_service_status(name, ns, {"status": {"loadBalancer": {}}})
            except ApiException as exc:
                if exc.status != 404:
                    raise
            changes += 1
    return changes


def run(state_file, interval=0.5):
    with open(state_file) as handle:
        state = json.load(handle)
    hook = _hook()
    kubeapi.reconcile_forever(state["admin_kubeconfig"], lambda api: reconcile_once(api, state, hook), interval,
                              "lb-controller %s" % state["name"])
