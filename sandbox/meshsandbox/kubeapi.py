"""A small Kubernetes helper for the sandbox itself (not the collection's module_utils)."""

import json
import sys
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient


def load(kubeconfig_path):
    with open(kubeconfig_path) as handle:
        data = json.load(handle) if kubeconfig_path.endswith(".kubeconfig") else None
    if data is None:
        return config.new_client_from_config(kubeconfig_path)
    return config.new_client_from_config_dict(data)


class Api:
    def __init__(self, kubeconfig_path):
        self.client = load(kubeconfig_path)
        self.dynamic = DynamicClient(self.client)
        self.core = client.CoreV1Api(self.client)

    def ensure(self, obj):
        """Create ``obj`` if absent (status included for kinds that take it at create)."""
        res = self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        meta = obj["metadata"]
        try:
            return res.get(name=meta["name"], namespace=meta.get("namespace"))
        except ApiException as exc:
            if exc.status != 404:
                raise
        created = res.create(body=obj, namespace=meta.get("namespace"))
        if obj.get("status"):
            body = {"status": obj["status"]}
            try:
                res.status.patch(body=body, name=meta["name"], namespace=meta.get("namespace"),
                                 content_type="application/merge-patch+json")
            except Exception:  # noqa: BLE001 - nodes take status on create already
                pass
        return created


def reconcile_forever(kubeconfig_path, reconcile, interval, label):
    """Call ``reconcile(api)`` every ``interval`` seconds for ever, as a controller does: an error (the API
    server restarting, a fault test) is logged with ``label``, the client made again, and the loop goes on."""
    api = None
    while True:
        try:
            if api is None:
                api = Api(kubeconfig_path)
            reconcile(api)
        except Exception as exc:  # noqa: BLE001 - keep serving through API server restarts
            print("%s: %s: %s" % (label, type(exc).__name__, exc), file=sys.stderr, flush=True)
            api = None
            time.sleep(2)
        time.sleep(interval)
