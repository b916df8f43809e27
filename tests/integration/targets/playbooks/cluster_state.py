"""Print (JSON) what the mesh stages create (namespaces, Istio CRDs, istio-system objects, ServiceEntries),
per cluster of the sandbox home: the test asserts that a
check run left it unchanged. Reads each cluster with its admin kubeconfig in $MESH_SANDBOX_HOME/clusters
(the inventory's token kubeconfigs expire after 15 minutes on EKS). Usage: cluster_state.py HOST...
(the EKS emulator names the local cluster after the host, the GKE emulator g-<hash>-<host>)."""
import json
import sys

from kubernetes import client, config
from meshsandbox.clusters import ClusterManager


def state(path):
    api = config.new_client_from_config(config_file=path)
    core, ext, apps = client.CoreV1Api(api), client.ApiextensionsV1Api(api), client.AppsV1Api(api)
    namespaces = sorted(n.metadata.name for n in core.list_namespace().items)
    out = {
        "namespaces": [n for n in namespaces if n in ("istio-system", "mesh-ca")],
        "istio_crds": sorted(c.metadata.name for c in ext.list_custom_resource_definition().items
                             if c.metadata.name.endswith(".istio.io")),
        "istio_system_secrets": [], "istio_system_deployments": [], "istio_system_services": [],
        "service_entries": [],
    }
    if "serviceentries.networking.istio.io" in out["istio_crds"]:
        entries = client.CustomObjectsApi(api).list_cluster_custom_object("networking.istio.io", "v1", "serviceentries")
        out["service_entries"] = sorted("%s/%s" % (e["metadata"]["namespace"], e["metadata"]["name"]) for e in entries["items"])
    if "istio-system" in namespaces:
        out["istio_system_secrets"] = sorted(s.metadata.name for s in core.list_namespaced_secret("istio-system").items)
        out["istio_system_deployments"] = sorted(d.metadata.name for d in apps.list_namespaced_deployment("istio-system").items)
        out["istio_system_services"] = sorted(s.metadata.name for s in core.list_namespaced_service("istio-system").items)
    return out


def admin_kubeconfig(host, clusters):
    found = [c["admin_kubeconfig"] for c in clusters if c["name"] == host or c["name"].endswith("-" + host)]
    if len(found) != 1:
        sys.exit("no single sandbox cluster for %s among %s" % (host, [c["name"] for c in clusters]))
    return found[0]


CLUSTERS = ClusterManager().list()
print(json.dumps(dict((host, state(admin_kubeconfig(host, CLUSTERS))) for host in sys.argv[1:]), sort_keys=True))
