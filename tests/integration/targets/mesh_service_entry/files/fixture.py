"""Test fixtures of the mesh_service_entry target that Ansible modules do not cover.

  fixture.py crds GOMOD OUT             Istio's real ServiceEntry, DestinationRule and Gateway CRDs,
                                        extracted from crd-all.gen.yaml of the pinned Istio module
  fixture.py lb-stop CLUSTER            stop that sandbox cluster's LoadBalancer controller (its own
                                        pid from the sandbox state, checked against its command line)
  fixture.py set-address KUBECONFIG NAMESPACE NAME IP
                                        set a LoadBalancer Service's status address (the cloud's part)
  fixture.py istiod-view CLUSTER HOST PORT [EXPECT]
                                        start the cluster's local istiod (meshsandbox.istiod, real
                                        pilot-discovery) if needed and print as JSON what it serves a
                                        sidecar of that cluster for HOST: the EDS endpoints of Envoy
                                        cluster outbound|PORT||HOST (xds-probe) and the TLS mode of
                                        the DestinationRule for HOST in its config store. EXPECT (an
                                        address, or "none") polls until the endpoints show it.
  fixture.py istiod-stop CLUSTER        stop that local istiod
  fixture.py mesh-config CLUSTER [VALUES_JSON]
                                        apply the ConfigMap istio-system/istio that istio_multicluster
                                        renders for CLUSTER (collection code + istioctl)
  fixture.py istiod-dns CLUSTER HOST [none]
                                        NDS name table for a sidecar with the cluster's mesh-wide
                                        proxyMetadata (xds-probe -name-table); fails unless HOST maps
                                        to its ServiceEntry's addresses (none: unless absent)
"""

import json

import os
import re
import signal
import subprocess
import sys
import time

import yaml

CRDS = ("serviceentries.networking.istio.io", "destinationrules.networking.istio.io",
        "gateways.networking.istio.io")


def istio_module_dir(gomod):
    """$(go env GOMODCACHE)/istio.io/istio@<version> of the version pinned in ``gomod``; downloads the
    module source (no build) when it is not in the module cache yet."""
    with open(gomod) as handle:
        match = re.search(r"^\s*(?:require\s+)?istio\.io/istio\s+(\S+)", handle.read(), re.M)
    if not match:
        sys.exit("istio.io/istio is not required in %s" % gomod)
    cache = subprocess.check_output(["go", "env", "GOMODCACHE"], text=True).strip()
    path = os.path.join(cache, "istio.io", "istio@" + match.group(1))
    if not os.path.isdir(path):
        env = dict(os.environ, GOFLAGS="-mod=mod")
        subprocess.check_call(["go", "mod", "download", "istio.io/istio"], cwd=os.path.dirname(gomod), env=env)
    return path


def cmd_crds(gomod, out):
    source = os.path.join(istio_module_dir(gomod), "manifests", "charts", "base", "files", "crd-all.gen.yaml")
    with open(source) as handle:
        docs = [d for d in yaml.safe_load_all(handle)
                if d and d.get("kind") == "CustomResourceDefinition" and d["metadata"]["name"] in CRDS]
    found = sorted(d["metadata"]["name"] for d in docs)
    if found != sorted(CRDS):
        sys.exit("%s lacks CRDs: %s" % (source, ", ".join(sorted(set(CRDS) - set(found)))))
    with open(out, "w") as handle:
        yaml.safe_dump_all(docs, handle)
    print("%s <- %s" % (out, source))


def cmd_lb_stop(cluster):
    from meshsandbox.clusters import ClusterManager, pid_alive
    mgr = ClusterManager()
    state = mgr._load(cluster)  # pylint: disable=protected-access
    pid = (state or {}).get("pids", {}).get("lb-controller")
    if not pid or not pid_alive(pid, state["dir"]):
        print("lb-controller of %s is not running" % cluster)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not pid_alive(pid, state["dir"]):
            print("stopped lb-controller of %s (pid %d)" % (cluster, pid))
            return
        time.sleep(0.2)
    sys.exit("lb-controller of %s (pid %d) did not stop" % (cluster, pid))


def cmd_set_address(kubeconfig, namespace, name, address):
    from kubernetes import client, config
    config.load_kube_config(kubeconfig)
    entry = {"hostname": address} if re.search(r"[a-z]", address) else {"ip": address}
    client.CoreV1Api().patch_namespaced_service_status(
        name, namespace, {"status": {"loadBalancer": {"ingress": [entry]}}})
    print("%s/%s -> %s" % (namespace, name, address))


def _probe(istiod, istio_bin, cluster, host, port):
    grpc = istiod._state()["ports"]["grpc"]  # pylint: disable=protected-access
    probe = subprocess.run(
        [os.path.join(istio_bin(), "xds-probe"), "-addr", "127.0.0.1:%d" % grpc,
         "-ip", "10.250.0.9", "-namespace", "default", "-workload", "probe", "-cluster", cluster,
         "-timeout", "5s", "-envoy-cluster", "outbound|%s||%s" % (port, host)],
        capture_output=True, text=True, check=False)
    for line in reversed(probe.stdout.splitlines()):
        if line.startswith('{"cluster"'):
            return json.loads(line).get("endpoints") or []
    raise SystemExit("xds-probe gave no result: %s" % (probe.stdout + probe.stderr)[-800:])


def cmd_istiod_view(cluster, host, port, expect=None):
    from meshsandbox.clusters import ClusterManager
    from meshsandbox.istiod import LocalIstiod, istio_bin
    istiod = LocalIstiod(ClusterManager().get(cluster))
    istiod.start()
    out = {}
    deadline = time.monotonic() + 30
    while True:
        rules = [c for c in istiod.debug("configz") or []
                 if c.get("kind") == "DestinationRule" and (c.get("spec") or {}).get("host") == host]
        endpoints = _probe(istiod, istio_bin, cluster, host, port)
        out = {"host": host, "endpoints": [{"address": e["address"], "port": e["port"]} for e in endpoints],
               "tls_mode": ((((rules or [{}])[0].get("spec") or {}).get("trafficPolicy") or {}).get("tls") or {})
               .get("mode")}
        addresses = [e["address"] for e in out["endpoints"]]
        done = (not addresses and not rules) if expect == "none" else \
            (expect in addresses if expect else bool(addresses))
        if done or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(json.dumps(out))


def _collection_istio():
    sys.path.insert(0, os.environ["ANSIBLE_COLLECTIONS_PATH"])
    from ansible_collections.multicloud.mesh.plugins.module_utils import istio  # pylint: disable=import-error
    return istio


def cmd_mesh_config(cluster, values="{}"):
    """Install c1's mesh config as multicloud.mesh.istio_multicluster renders it: its IstioOperator
    (control_plane_iop with VALUES) through the checksum-verified istioctl; only the ConfigMap
    istio-system/istio (the mesh config istiod and the injector read) is applied."""
    from kubernetes import client
    from meshsandbox.clusters import ClusterManager
    from meshsandbox.istiod import istio_bin
    istio = _collection_istio()
    istioctl = istio.find_istioctl(istio.DEFAULT_ISTIO_VERSION, os.path.join(istio_bin(), "istioctl"))
    objects = istio.render(istioctl, istio.control_plane_iop(
        "it-se-mesh", {"name": cluster, "network": "net-" + cluster}, values=json.loads(values)))
    cms = [o for o in objects if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == "istio"]
    if len(cms) != 1:
        raise SystemExit("the rendered control plane has %d ConfigMaps 'istio'" % len(cms))
    cm = cms[0]
    cm["metadata"] = {"name": "istio", "namespace": istio.ISTIO_NAMESPACE, "labels": cm["metadata"].get("labels")}
    api = client.CoreV1Api(_api_client(ClusterManager().get(cluster)))
    try:
        api.create_namespace({"metadata": {"name": istio.ISTIO_NAMESPACE}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    try:
        api.replace_namespaced_config_map("istio", istio.ISTIO_NAMESPACE, cm)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        api.create_namespaced_config_map(istio.ISTIO_NAMESPACE, cm)
    print(json.dumps({"proxyMetadata": (yaml.safe_load(cm["data"]["mesh"]).get("defaultConfig") or {})
                      .get("proxyMetadata")}))


def _api_client(info):
    from kubernetes import config
    return config.new_client_from_config(info["admin_kubeconfig"])


def cmd_istiod_dns(cluster, host, expect=None):
    """The name table c1's istiod sends a sidecar whose environment is the proxyMetadata of the
    mesh config in the cluster (ConfigMap istio-system/istio, read back here), through xds-probe
    -name-table (which, like pilot-agent, asks for it only with ISTIO_META_DNS_CAPTURE true).
    Exits 1 unless HOST maps to exactly the ServiceEntry's addresses (EXPECT 'none': unless
    HOST is absent)."""
    from kubernetes import client
    from meshsandbox.clusters import ClusterManager
    from meshsandbox.istiod import LocalIstiod, istio_bin
    info = ClusterManager().get(cluster)
    api = _api_client(info)
    try:
        cm = client.CoreV1Api(api).read_namespaced_config_map("istio", "istio-system")
    except client.ApiException as exc:
        raise SystemExit("cluster %s has no mesh config (ConfigMap istio-system/istio): %s" % (cluster, exc.reason))
    metadata = (yaml.safe_load(cm.data["mesh"]).get("defaultConfig") or {}).get("proxyMetadata") or {}
    entries = client.CustomObjectsApi(api).list_cluster_custom_object(
        "networking.istio.io", "v1", "serviceentries")["items"]
    addresses = sorted(a for e in entries if host in e["spec"].get("hosts", []) for a in e["spec"].get("addresses", []))
    istiod = LocalIstiod(info)
    istiod.start()
    grpc = istiod._state()["ports"]["grpc"]  # pylint: disable=protected-access
    deadline = time.monotonic() + 30
    while True:
        probe = subprocess.run(
            [os.path.join(istio_bin(), "xds-probe"), "-addr", "127.0.0.1:%d" % grpc, "-ip", "10.250.0.9",
             "-namespace", "default", "-workload", "probe", "-cluster", cluster, "-timeout", "5s",
             "-proxy-metadata", json.dumps(metadata), "-name-table"],
            capture_output=True, text=True, check=False)
        lines = [ln for ln in probe.stdout.splitlines() if ln.startswith('{"dns_capture"')]
        if not lines:
            raise SystemExit("xds-probe gave no name table: %s" % (probe.stdout + probe.stderr)[-800:])
        result = json.loads(lines[-1])
        got = sorted(((result.get("name_table") or {}).get(host)) or [])
        ok = (not got) if expect == "none" else (bool(addresses) and got == addresses)
        if ok or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(json.dumps({"host": host, "proxyMetadata": metadata, "dns_capture": result["dns_capture"],
                      "name_table_ips": got, "service_entry_addresses": addresses,
                      "reason": result.get("reason")}))
    if not ok:
        raise SystemExit("FAIL: %s: name table has %s, %s" % (
            host, got or "no entry", "expected none" if expect == "none"
            else "expected the ServiceEntry's addresses %s" % addresses))


def cmd_istiod_stop(cluster):
    from meshsandbox.clusters import ClusterManager
    from meshsandbox.istiod import LocalIstiod
    info = ClusterManager().get(cluster)
    if info:
        LocalIstiod(info).stop()


if __name__ == "__main__":
    commands = {"crds": cmd_crds, "lb-stop": cmd_lb_stop, "set-address": cmd_set_address,
                "istiod-view": cmd_istiod_view, "istiod-stop": cmd_istiod_stop,
                "mesh-config": cmd_mesh_config, "istiod-dns": cmd_istiod_dns}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
