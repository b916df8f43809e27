"""Deploy a stand-in app (Service + Deployment; kwok runs no container) in the injection-labelled
namespace default: istiod's injection webhook gives its pods the sidecar (and the tlsMode label
istiod routes by), as on a real cluster.

  app.py KUBECONFIG NAME PORT
"""
import sys
from kubernetes import config, dynamic


def app(kubeconfig, name, port, ns="default"):
    api = config.new_client_from_config(kubeconfig)
    d = dynamic.DynamicClient(api)
    objs = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
         "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": port}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": name, "image": "example/%s:1" % name,
                                                        "ports": [{"containerPort": port}]}]}}}},
    ]
    for o in objs:
        r = d.resources.get(api_version=o["apiVersion"], kind=o["kind"])
        r.server_side_apply(body=o, namespace=o["metadata"].get("namespace"), field_manager="postcard-test", force_conflicts=True)


if __name__ == "__main__":
    app(sys.argv[1], sys.argv[2], int(sys.argv[3]))
