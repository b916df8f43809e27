"""What a cluster's istiod (run locally by meshsandbox.istiod) knows about a service of another cluster.

  verify_link.py VIEWER SOURCE SERVICE PORT [NAMESPACE] [CLIENT_WORKLOAD]

Prints JSON: the remote clusters istiod reads (/debug/clusterz), the cluster shards holding
the service's endpoints (/debug/endpointShardz), the network gateways (/debug/networkz), the
SOURCE cluster's east-west gateway address, and the endpoints istiod sends a sidecar of
CLIENT_WORKLOAD in VIEWER for the service (xds-probe, a plaintext ADS client).
"""
import json
import os
import subprocess
import sys
import time

from kubernetes import client, config

from meshsandbox.clusters import ClusterManager
from meshsandbox.istiod import LocalIstiod, istio_bin


def _last_json(text):
    """The probe's result line (istio's logger may also write to stdout)."""
    for line in reversed(text.splitlines()):
        if line.startswith('{"cluster"'):
            return json.loads(line)
    return None


def main(viewer, source, service, port, namespace="default", workload="greeter"):
    mgr = ClusterManager()
    vinfo, sinfo = mgr.get(viewer), mgr.get(source)
    istiod = LocalIstiod(vinfo)
    host = "%s.%s.svc.cluster.local" % (service, namespace)
    core_v = client.CoreV1Api(config.new_client_from_config(vinfo["admin_kubeconfig"]))
    core_s = client.CoreV1Api(config.new_client_from_config(sinfo["admin_kubeconfig"]))
    pods = [p for p in core_v.list_namespaced_pod(namespace, label_selector="app=%s" % workload).items if p.status.pod_ip]
    gw = core_s.read_namespaced_service("istio-eastwestgateway", "istio-system")
    gateway = [i.ip or i.hostname for i in (gw.status.load_balancer.ingress or [])]
    network = (core_v.read_namespace("istio-system").metadata.labels or {}).get("topology.istio.io/network")
    out = {}
    for _attempt in range(20):  # istiod debounces pushes (100ms+); give it a few seconds
        shards = istiod.debug("endpointShardz").get(host, {}).get(namespace, {}).get("Shards", {})
        probe = subprocess.run(
            [os.path.join(istio_bin(), "xds-probe"), "-addr", "127.0.0.1:%d" % istiod._state()["ports"]["grpc"],
             "-ip", pods[0].status.pod_ip, "-namespace", namespace, "-workload", workload, "-network", network or "",
             "-cluster", viewer, "-timeout", "5s", "-envoy-cluster", "outbound|%s||%s" % (port, host)],
            capture_output=True, text=True, check=False)
        out = {
            "clusterz": sorted(c["id"] for c in istiod.debug("clusterz")),
            "shards": sorted(k for k, v in shards.items() if v),
            "networkz": [{"network": g["Network"], "cluster": g["Cluster"], "addr": g["Addr"], "port": g["Port"]}
                         for g in istiod.debug("networkz") or []],
            "source_gateway": gateway,
            "eds": _last_json(probe.stdout) or {"error": (probe.stdout + probe.stderr)[-500:]},
        }
        if len(sys.argv) > 7 and sys.argv[7] == "expect-unlinked":
            if not out["shards"] or out["shards"] == ["Kubernetes/%s" % viewer]:
                break
        elif out["eds"].get("endpoints"):
            break
        time.sleep(1)
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:7])
