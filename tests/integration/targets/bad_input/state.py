#!/usr/bin/env python
"""What a bad-input row could have changed, read from the real APIs: one JSON line on stdout.

  state.py [--ec2-iam] (environment: AWS_ENDPOINT_URL, AWS_REGION, GKE_API_ENDPOINT from the
                       emulators' env.sh; BAD_INPUT_KUBECONFIG: admin kubeconfig of the plain
                       cluster; BAD_INPUT_SCRATCH: the folder every row's output paths point into)

Keys: aws (EKS clusters of the AWS emulator; with --ec2-iam also its VPCs, subnets and IAM roles,
which only the eks_cluster role creates: boto3 takes seconds to start, so only the baseline, the
eks_cluster role's rows and the final snapshot ask for them), gke (clusters of the GKE
emulator), kube (kind/namespace/name@resourceVersion of the object kinds the modules and roles
write, on the plain cluster), files (every path under the scratch folder). The playbook calls it
after every row; bad_input.py compares each snapshot with the one taken before the first row.

  --settle: first wait (up to 120 s) until the plain cluster's own controllers are done with it: every
  namespace has its default ServiceAccount and kube-root-ca.crt ConfigMap, and two reads 3 s apart
  are equal. The baseline is taken with it: a cluster just started still gets these objects from
  kube-controller-manager, and a baseline taken before them made every row look like a change.
"""
import base64
import json
import os
import ssl
import sys
import tempfile
import time
import urllib.request

import yaml

KINDS = [  # what mesh_ca, istio_multicluster, mesh_service_entry and the roles write
    "/api/v1/namespaces", "/api/v1/secrets", "/api/v1/configmaps", "/api/v1/services",
    "/api/v1/serviceaccounts", "/apis/apps/v1/deployments",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
]


def _get(url, context=None):
    """GET a JSON document; three tries (a loaded machine can be slow to answer), then the error."""
    for attempt in range(3):
        try:
            with urllib.request.urlopen(url, timeout=60, context=context) as resp:
                return json.load(resp)
        except (OSError, ValueError) as exc:
            if attempt == 2:
                raise RuntimeError("state.py: cannot read %s: %s" % (url, exc))
            time.sleep(2)
    return None  # not reached


def aws(ec2_iam):
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    clusters = sorted(c["name"] for c in _get(endpoint + "/_sandbox/status").get("clusters", []))
    if not ec2_iam:
        return {"clusters": clusters}
    import boto3  # pylint: disable=import-outside-toplevel
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    iam = boto3.client("iam", endpoint_url=endpoint)
    return {"clusters": clusters,
            "vpcs": sorted(v["CidrBlock"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")),
            "subnets": sorted(s["CidrBlock"] for s in ec2.describe_subnets()["Subnets"] if not s.get("DefaultForAz")),
            "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"])}


def gke():
    return sorted(c["name"] for c in _get(os.environ["GKE_API_ENDPOINT"] + "/_emulator/state").get("clusters", []))


def _ssl_context(config, folder):
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    paths = {}
    for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
        paths[key] = os.path.join(folder, key)
        with open(os.open(paths[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(base64.b64decode(cluster.get(key) or user.get(key)))
    context = ssl.create_default_context(cafile=paths["certificate-authority-data"])
    context.load_cert_chain(paths["client-certificate-data"], paths["client-key-data"])
    return cluster["server"], context


def kube():
    with open(os.environ["BAD_INPUT_KUBECONFIG"]) as handle:
        config = yaml.safe_load(handle)
    folder = tempfile.mkdtemp(prefix="bad-input-state-")
    try:
        server, context = _ssl_context(config, folder)
    finally:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)
    objects = []
    for path in KINDS:
        for item in _get(server + path, context).get("items", []):
            meta = item["metadata"]
            objects.append("%s %s/%s@%s" % (path.rsplit("/", 1)[1], meta.get("namespace", ""), meta["name"],
                                            meta["resourceVersion"]))
    return sorted(objects)


def files():
    root = os.environ["BAD_INPUT_SCRATCH"]
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _dirs, names in os.walk(root) for f in names)


def settle(timeout=120.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        objects = kube()
        names = {o.rsplit("@", 1)[0] for o in objects}   # "kind namespace/name"
        namespaces = [n.split("/", 1)[1] for n in names if n.startswith("namespaces ")]
        ready = all("serviceaccounts %s/default" % ns in names and "configmaps %s/kube-root-ca.crt" % ns in names
                    for ns in namespaces)
        if ready and objects == last:
            return
        last = objects if ready else None
        time.sleep(3)
    sys.exit("state.py --settle: the plain cluster's controllers did not settle within %ds" % timeout)


if __name__ == "__main__":
    if "--settle" in sys.argv[1:]:
        settle()
    json.dump({"aws": aws("--ec2-iam" in sys.argv[1:]), "gke": gke(), "kube": kube(), "files": files()}, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
