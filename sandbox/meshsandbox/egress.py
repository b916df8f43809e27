"""The sandbox's cluster network: where a local API server's calls into the cluster go.

A real API server calls admission webhooks at a Service's ClusterIP, and the cluster's network
takes the call to a pod. In the sandbox the pods are kwok stand-ins (nothing listens at their
addresses), and the Service range (10.96.0.0/16) is not on this machine: a call to it would leave
the machine. So every API server of the sandbox sends its "cluster" traffic (webhooks) through an
HTTP CONNECT proxy on a Unix socket (``--egress-selector-config-file``, as GKE does through
Konnectivity), and this process is that proxy. It connects a call only where something real
listens, and only on loopback:

- a ClusterIP of a Service that selects istiod pods (``app: istiod``): the cluster's local istiod
  (``meshsandbox.istiod``), port 15017 -> its webhook server, 15012 -> its XDS/CA server;
- a ClusterIP of a Service without selector (Istio's remote profile: ``istiod`` with
  EndpointSlices to the primary's east-west gateway): the endpoint, as below;
- a load-balancer address of another sandbox cluster's east-west gateway, port 15017, when that
  cluster exposes istiod through it (Gateway ``istio-system/istiod-gateway``): that cluster's
  local istiod, as the gateway's TLS passthrough would.

Anything else is refused with 502 and the reason (in ``egress.log``), as a real network would
time out or refuse. The same process runs the cluster's istiod (the kubelet's part): while
Deployment ``istio-system/istiod`` exists, a local istiod runs; when it goes, the istiod stops.
"""

import json
import os
import socket
import socketserver
import sys
import threading
import time

from . import kubeapi

ISTIO_NS = "istio-system"
ISTIOD_PORTS = {15017: "https", 15012: "secure_grpc", 15010: "grpc"}


def socket_path(cluster_dir):
    """The proxy's Unix socket: in the cluster dir, or under /tmp when that path is too long."""
    path = os.path.join(cluster_dir, "egress.sock")
    if len(path) < 100:
        return path
    import hashlib
    return "/tmp/meshsandbox-egress-%s.sock" % hashlib.sha256(cluster_dir.encode()).hexdigest()[:16]


def selector_config(cluster_dir):
    """The API server's EgressSelectorConfiguration: cluster traffic through this proxy."""
    return {"apiVersion": "apiserver.k8s.io/v1beta1", "kind": "EgressSelectorConfiguration",
            "egressSelections": [{"name": "cluster", "connection": {
                "proxyProtocol": "HTTPConnect", "transport": {"uds": {"udsName": socket_path(cluster_dir)}}}}]}


class Refused(Exception):
    pass


def _home_of(state):
    return os.path.dirname(os.path.dirname(state["dir"]))


def _istiod_port(cluster_dir, admin_kubeconfig, target_port):
    from .clusters import pid_alive
    kind = ISTIOD_PORTS.get(target_port)
    if kind is None:
        raise Refused("istiod serves nothing on port %s in the sandbox" % target_port)
    try:
        with open(os.path.join(cluster_dir, "istiod", "state.json")) as handle:
            istiod = json.load(handle)
    except (OSError, ValueError):
        istiod = {}
    if not (istiod.get("pid") and pid_alive(istiod["pid"], admin_kubeconfig)):
        raise Refused("istiod of %s is not running (yet)" % os.path.basename(cluster_dir))
    return istiod["ports"][kind]


class Resolver:
    """Where a CONNECT target of cluster ``state`` goes: a loopback port, or Refused."""

    def __init__(self, state, api_factory=kubeapi.Api):
        self.state = state
        self.api_factory = api_factory
        self._apis = {}

    def api(self, kubeconfig):
        if kubeconfig not in self._apis:
            self._apis[kubeconfig] = self.api_factory(kubeconfig)
        return self._apis[kubeconfig]

    def resolve(self, host, port):
        api = self.api(self.state["admin_kubeconfig"])
        for svc in api.core.list_service_for_all_namespaces(_request_timeout=5).items:
            if svc.spec.cluster_ip == host:
                return self._service(api, svc, port)
        return self._external(host, port)

    def _service(self, api, svc, port):
        ns, name = svc.metadata.namespace, svc.metadata.name
        target = None
        for sp in svc.spec.ports or []:
            if sp.port == port:
                target = sp.target_port if isinstance(sp.target_port, int) else (
                    int(sp.target_port) if str(sp.target_port or "").isdigit() else sp.port)
        if target is None:
            raise Refused("Service %s/%s has no port %s" % (ns, name, port))
        selector = svc.spec.selector or {}
        if selector:
            if ns == ISTIO_NS and selector.get("app") == "istiod":
                return _istiod_port(self.state["dir"], self.state["admin_kubeconfig"], target)
            raise Refused("Service %s/%s selects kwok pods (%s): nothing listens behind them in the sandbox"
                          % (ns, name, selector))
        from kubernetes import client
        discovery = client.DiscoveryV1Api(api.client)
        slices = discovery.list_namespaced_endpoint_slice(
            ns, label_selector="kubernetes.io/service-name=%s" % name, _request_timeout=5).items
        for eps in slices:
            for ep in eps.endpoints or []:
                for address in ep.addresses or []:
                    return self._external(address, target)
        raise Refused("Service %s/%s has no selector and no endpoints" % (ns, name))

    def _external(self, host, port):
        """A load-balancer address of a sandbox cluster (this one or another)."""
        from .clusters import ClusterManager
        for info in ClusterManager(_home_of(self.state)).list():
            try:
                api = self.api(info["admin_kubeconfig"])
                services = api.core.list_namespaced_service(ISTIO_NS, _request_timeout=5).items
            except Exception:  # noqa: BLE001 - a cluster that is down owns no address
                continue
            for svc in services:
                ingress = (svc.status.load_balancer.ingress or []) if svc.status and svc.status.load_balancer else []
                if not any(host in (i.ip, i.hostname) for i in ingress):
                    continue
                if port != 15017 or (svc.metadata.labels or {}).get("istio") != "eastwestgateway":
                    raise Refused("%s:%s is %s/%s of cluster %s: in the sandbox only an east-west gateway's "
                                  "port 15017 (istiod exposed) is served"
                                  % (host, port, ISTIO_NS, svc.metadata.name, info["name"]))
                if not self._exposes_istiod(api):
                    raise Refused("%s:15017 is the east-west gateway of %s, which does not expose istiod "
                                  "(no Gateway %s/istiod-gateway)" % (host, info["name"], ISTIO_NS))
                return _istiod_port(os.path.dirname(info["admin_kubeconfig"]), info["admin_kubeconfig"], 15017)
        raise Refused("%s:%s is no address of this sandbox (no Service with that ClusterIP here, no load "
                      "balancer of any sandbox cluster): the sandbox sends nothing off this machine" % (host, port))

    @staticmethod
    def _exposes_istiod(api):
        try:
            gateway = api.dynamic.resources.get(api_version="networking.istio.io/v1", kind="Gateway").get(
                name="istiod-gateway", namespace=ISTIO_NS)
        except Exception:  # noqa: BLE001 - no CRD, no object
            return False
        return any((s.get("port") or {}).get("number") == 15017 for s in gateway.to_dict()["spec"].get("servers") or [])


def _log(msg):
    print("[egress %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def _pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) < 2 or parts[0] != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            return
        host, port = parts[1].rsplit(":", 1) if ":" in parts[1] else (parts[1], "")
        host = host.strip("[]")
        try:
            local = self.server.resolver.resolve(host, int(port))
            upstream = socket.create_connection(("127.0.0.1", local), timeout=5)
        except (Refused, OSError, ValueError) as exc:
            _log("refused CONNECT %s: %s" % (parts[1], exc))
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            return
        except Exception as exc:  # noqa: BLE001 - an API error: refuse this call, keep serving
            _log("refused CONNECT %s: %s: %s" % (parts[1], type(exc).__name__, exc))
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            return
        upstream.settimeout(None)
        _log("CONNECT %s -> 127.0.0.1:%d" % (parts[1], local))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        back = threading.Thread(target=_pipe, args=(upstream, conn), daemon=True)
        back.start()
        _pipe(conn, upstream)
        back.join(30)
        upstream.close()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(state):
    path = socket_path(state["dir"])
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    server = _Server(path, _Handler)
    os.chmod(path, 0o600)
    server.resolver = Resolver(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


def reconcile_istiod(state, api, seen):
    """The kubelet's part for istiod: run a local istiod while Deployment istio-system/istiod exists.

    It stops the istiod when the Deployment goes (``seen`` remembers it existed), and leaves alone
    one that a test started in a cluster without the Deployment (tests/integration mesh_service_entry).
    """
    from kubernetes import client
    from .clusters import ClusterManager
    from .istiod import LocalIstiod
    apps = client.AppsV1Api(api.client)
    try:
        dep = apps.read_namespaced_deployment("istiod", ISTIO_NS, _request_timeout=5)
        wanted = dep.metadata.deletion_timestamp is None
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        wanted = False
    info = ClusterManager(_home_of(state)).get(state["name"])
    if info is None:
        return
    istiod = LocalIstiod(info)
    if wanted:
        seen["istiod"] = True
        if not istiod.running():
            _log("Deployment istio-system/istiod exists: starting the local istiod")
            istiod.start()
            _log("local istiod ready")
    elif seen.pop("istiod", False) and istiod.running():
        _log("Deployment istio-system/istiod is gone: stopping the local istiod")
        istiod.stop()


def run(state_file, interval=1.0):
    with open(state_file) as handle:
        state = json.load(handle)
    serve(state)
    seen = {}
    kubeapi.reconcile_forever(state["admin_kubeconfig"], lambda api: reconcile_istiod(state, api, seen), interval,
                              "[egress] istiod runner")
