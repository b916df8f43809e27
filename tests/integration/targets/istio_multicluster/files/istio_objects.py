"""Print (JSON) what is left of Istio in a cluster: the uninstall check of the test.

  istio_objects.py KUBECONFIG
"""
import json
import sys

from kubernetes import client, config, dynamic

KEEP_IN_ISTIO_SYSTEM = {("Secret", "cacerts"), ("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


def main(kubeconfig):
    api = config.new_client_from_config(kubeconfig)
    dyn = dynamic.DynamicClient(api)
    left = []
    for crd in dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").get().items:
        if crd.spec.group.endswith("istio.io"):
            left.append("CustomResourceDefinition/" + crd.metadata.name)
    for kind, api_version in (("MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1"),
                              ("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1"),
                              ("ClusterRole", "rbac.authorization.k8s.io/v1"),
                              ("ClusterRoleBinding", "rbac.authorization.k8s.io/v1")):
        for item in dyn.resources.get(api_version=api_version, kind=kind).get().items:
            if "istio" in item.metadata.name:
                left.append("%s/%s" % (kind, item.metadata.name))
    for kind, api_version in (("Deployment", "apps/v1"), ("Service", "v1"), ("ConfigMap", "v1"), ("Secret", "v1"),
                              ("ServiceAccount", "v1"), ("Role", "rbac.authorization.k8s.io/v1"),
                              ("RoleBinding", "rbac.authorization.k8s.io/v1"),
                              ("PodDisruptionBudget", "policy/v1"),
                              ("HorizontalPodAutoscaler", "autoscaling/v2")):
        for item in dyn.resources.get(api_version=api_version, kind=kind).get(namespace="istio-system").items:
            if (kind, item.metadata.name) not in KEEP_IN_ISTIO_SYSTEM:
                left.append("%s/istio-system/%s" % (kind, item.metadata.name))
    for cm in client.CoreV1Api(api).list_config_map_for_all_namespaces(label_selector="istio.io/config=true").items:
        left.append("ConfigMap/%s/%s (made by istiod)" % (cm.metadata.namespace, cm.metadata.name))
    for lease in client.CoordinationV1Api(api).list_namespaced_lease("istio-system").items:
        left.append("Lease/istio-system/%s" % lease.metadata.name)
    for ns in client.CoreV1Api(api).list_namespace().items:
        labels = ns.metadata.labels or {}
        for key in ("istio-injection", "topology.istio.io/network", "istio.io/rev"):
            if key in labels:
                left.append("Namespace/%s label %s" % (ns.metadata.name, key))
    print(json.dumps({"left": left}))


if __name__ == "__main__":
    main(sys.argv[1])
