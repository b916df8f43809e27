"""Print (JSON) what the mesh stages create, per cluster of the sandbox home: the test asserts that a
check run left it unchanged. Usage: cluster_state.py KUBECONFIG_DIR HOST..."""
import json
import sys

from kubernetes import client, config


def state(path):
    api = config.new_client_from_config(config_file=path)
    core, ext, apps = client.CoreV1Api(api), client.ApiextensionsV1Api(api), client.AppsV1Api(api)
    namespaces = sorted(n.metadata.name for n in core.list_namespace().items)
    out = {
        "namespaces": [n for n in namespaces if n in ("istio-system", "mesh-ca", "postcard")],
        "istio_crds": sorted(c.metadata.name for c in ext.list_custom_resource_definition().items
                             if c.metadata.name.endswith(".istio.io")),
        "istio_system_secrets": [], "istio_system_deployments": [], "istio_system_services": [],
    }
    if "istio-system" in namespaces:
        out["istio_system_secrets"] = sorted(s.metadata.name for s in core.list_namespaced_secret("istio-system").items)
        out["istio_system_deployments"] = sorted(d.metadata.name for d in apps.list_namespaced_deployment("istio-system").items)
        out["istio_system_services"] = sorted(s.metadata.name for s in core.list_namespaced_service("istio-system").items)
    return out


print(json.dumps(dict((host, state("%s/%s" % (sys.argv[1], host))) for host in sys.argv[2:]), sort_keys=True))
