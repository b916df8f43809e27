# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Cross-cluster ServiceEntries: a service of one cluster made reachable from others.

The seed's last manual step, done by ``multicloud.mesh.mesh_service_entry``:

- consumers get a ServiceEntry for ``<name>.<namespace>.<suffix>`` (MESH_INTERNAL, the source
  Service's ports, a virtual address, endpoints = the source cluster's gateway on 15443,
  resolution DNS for a hostname gateway and STATIC for an IP one) and a DestinationRule with
  ISTIO_MUTUAL for that host;
- the source cluster gets what makes the gateway accept that host: Istio's AUTO_PASSTHROUGH
  servers only build SNI filter chains (``outbound_.<port>_._.<host>``) for services of the
  registry whose host matches the Gateway's ``hosts``; the cross-network Gateway exposes
  ``*.local`` only, and the ``.global`` -> ``.svc.cluster.local`` SNI rewrite filter of Istio
  1.1-1.8 is gone. So the source cluster gets a ServiceEntry for the same host whose endpoint is
  the local Service (``<name>.<namespace>.svc.<cluster domain>``, resolution DNS) and a Gateway
  on the gateway workload with AUTO_PASSTHROUGH for exactly that host.

Everything written carries ``app.kubernetes.io/managed-by: multicloud.mesh`` and an owner label
naming the source service, so ``state: absent`` (and pruning) removes exactly that.

The pure functions (allocation, object building, DNS blocks) are unit tested; ``run`` wires
them to clusters through ``kube.connect`` and ``apply.Applier``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json
import re

from ansible_collections.multicloud.mesh.plugins.module_utils.apply import Applier, ApplyError, ref
from ansible_collections.multicloud.mesh.plugins.module_utils.kube import KUBE_ARG_SPEC, KubeError
from ansible_collections.multicloud.mesh.plugins.module_utils.kube import connect as kube_connect
from ansible_collections.multicloud.mesh.plugins.module_utils.retry import WaitTimeout, wait_until
from ansible_collections.multicloud.mesh.plugins.module_utils import validate

ISTIO_API = "networking.istio.io/v1"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "multicloud.mesh"
OWNER_LABEL = "multicloud.mesh/service-entry-owner"
ROLE_LABEL = "multicloud.mesh/service-entry-role"
OWNER_ANNOTATION = "multicloud.mesh/service-entry-source"
MANAGED_KINDS = ("ServiceEntry", "DestinationRule", "Gateway")
INSTALL_ISTIO = "install Istio first (multicloud.mesh.istio_multicluster)"
GATEWAY_DEFAULTS = {"eastwest": "istio-eastwestgateway", "ingress": "istio-ingressgateway"}
DEFAULT_RANGE = "240.0.0.0/4"
DNS_MODES = ("istio_dns_proxy", "coredns_stub", "kube_dns_stub")

# Istio's protocol selection: appProtocol, else the port name's prefix before "-".
PROTOCOLS = {"http": "HTTP", "http2": "HTTP2", "https": "HTTPS", "grpc": "GRPC", "grpc-web": "GRPC",
             "h2c": "HTTP2", "mongo": "MONGO", "tls": "TLS", "tcp": "TCP"}

COREDNS_BEGIN = "# BEGIN multicloud.mesh %s (managed by multicloud.mesh.mesh_service_entry; do not edit)"
COREDNS_END = "# END multicloud.mesh %s"


class ServiceEntryError(Exception):
    """Bad input or a cluster state the module cannot work with; ``msg`` is fit for fail_json."""

    def __init__(self, msg):
        super(ServiceEntryError, self).__init__(msg)
        self.msg = msg


# ---- names and labels --------------------------------------------------------------------
def global_host(name, namespace, suffix="global"):
    """``<name>.<namespace>.<suffix>``, the host consumers call (the seed's messenger.default.global)."""
    suffix = (suffix or "").strip(".")
    if not suffix:
        raise ServiceEntryError("host_suffix must not be empty")
    return "%s.%s.%s" % (name, namespace, suffix)


def _shorten(text, limit):
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return text[:limit - 11].rstrip("-.") + "-" + digest


def object_name(host):
    """A DNS-1123 label for the objects of ``host`` (dots become dashes, long names hashed)."""
    name = re.sub(r"[^a-z0-9-]+", "-", host.lower()).strip("-")
    return _shorten(name, 63)


def owner_value(cluster_name, namespace, name):
    """The owner label value naming the source service: ``<cluster>.<namespace>.<name>``, label-safe."""
    raw = "%s.%s.%s" % (cluster_name, namespace, name)
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-._")
    return _shorten(value, 63)


def owner_labels(owner, role):
    return {MANAGED_BY_LABEL: MANAGED_BY, OWNER_LABEL: owner, ROLE_LABEL: role}


def owner_selector(owner):
    return "%s=%s,%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY, OWNER_LABEL, owner)


def _meta(name, namespace, owner, role, source_ref):
    return {"name": name, "namespace": namespace, "labels": owner_labels(owner, role),
            "annotations": {OWNER_ANNOTATION: source_ref}}


# ---- source Service and gateway ------------------------------------------------------------
def port_protocol(port):
    """Istio protocol of a Service port (dict): appProtocol first, then the name's prefix."""
    app = (port.get("appProtocol") or "").lower()
    if app in PROTOCOLS:
        return PROTOCOLS[app]
    name = (port.get("name") or "").lower()
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    return PROTOCOLS.get(name.split("-", 1)[0], "TCP")


def select_ports(service, names=None):
    """The Service's ports to expose as ServiceEntry ports: ``[{"name", "number", "protocol"}]``.

    ``names`` (port names) selects some; unknown names are an error naming the known ones.
    UDP/SCTP ports cannot be routed through Istio's gateways and are left out (an error if named).
    """
    spec = (service or {}).get("spec") or {}
    ports = spec.get("ports") or []
    svc_ref = "%s/%s" % ((service.get("metadata") or {}).get("namespace"), (service.get("metadata") or {}).get("name"))
    out = []
    for port in ports:
        name = port.get("name") or ("tcp-%d" % port["port"])
        out.append({"name": name, "number": port["port"], "protocol": port_protocol(port),
                    "l4": (port.get("protocol") or "TCP").upper()})
    known = [p["name"] for p in out]
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ServiceEntryError("port name(s) %s not found in Service %s; its ports are: %s"
                                    % (", ".join(unknown), svc_ref, ", ".join(known) or "none"))
        out = [p for p in out if p["name"] in names]
        bad = [p["name"] for p in out if p["l4"] != "TCP"]
        if bad:
            raise ServiceEntryError("port(s) %s of Service %s are not TCP; Istio's gateways only carry TCP"
                                    % (", ".join(bad), svc_ref))
    else:
        out = [p for p in out if p["l4"] == "TCP"]
    if not out:
        raise ServiceEntryError("Service %s has no TCP port to expose" % svc_ref)
    for port in out:
        del port["l4"]
    return out


def gateway_endpoints(service):
    """``(addresses, resolution)`` from a gateway Service's status.

    Each ingress entry gives its IP, else its hostname. STATIC when all are IPs, DNS when any is
    a hostname (an EKS ELB). ``([], None)`` while the load balancer has no address yet.
    """
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    addresses = []
    for entry in ingress:
        address = entry.get("ip") or entry.get("hostname")
        if address and address not in addresses:
            addresses.append(address)
    if not addresses:
        return [], None
    return addresses, ("STATIC" if all(_is_ip(a) for a in addresses) else "DNS")


def _is_ip(text):
    try:
        ipaddress.ip_address(u"%s" % text)
        return True
    except ValueError:
        return False


def gateway_has_port(service, port):
    return any(p.get("port") == port for p in ((service or {}).get("spec") or {}).get("ports") or [])


# ---- virtual addresses -------------------------------------------------------------------
def parse_range(cidr):
    try:
        return ipaddress.ip_network(u"%s" % cidr, strict=False)
    except ValueError as exc:
        raise ServiceEntryError("address_range %r is not a network (CIDR): %s" % (cidr, exc))


def _usable(network):
    """(first address as int, count): network and broadcast addresses skipped below /31 (/127)."""
    first, count = int(network.network_address), network.num_addresses
    if network.prefixlen < network.max_prefixlen - 1:
        first, count = first + 1, count - 2
    return first, count


def in_range(address, network):
    try:
        addr = ipaddress.ip_address(u"%s" % address)
    except ValueError:
        return False
    if addr.version != network.version:
        return False
    first, count = _usable(network)
    return first <= int(addr) < first + count


def allocate_address(host, cidr, used, current=None):
    """A virtual address for ``host`` from ``cidr``, not in ``used``; stable across runs.

    ``current`` (the address on the existing ServiceEntry) is kept when it is still in the range
    and free. Otherwise the search starts at a slot derived from the host's hash and probes
    forward, so the same host gets the same address in every cluster where that slot is free.
    """
    network = parse_range(cidr)
    used = set(str(u) for u in used or ())
    if current and in_range(current, network) and current not in used:
        return current
    first, count = _usable(network)
    used_here = set(u for u in used if in_range(u, network))
    if count <= 0 or len(used_here) >= count:
        raise ServiceEntryError("address range %s is exhausted: its %d usable address(es) are all used by "
                                "other ServiceEntries; choose a larger address_range or an explicit address"
                                % (network, max(count, 0)))
    start = int(hashlib.sha256(host.encode("utf-8")).hexdigest(), 16) % count
    for step in range(len(used_here) + 1):
        candidate = str(ipaddress.ip_address(first + (start + step) % count))
        if candidate not in used_here:
            return candidate
    raise ServiceEntryError("address range %s is exhausted" % network)  # pragma: no cover


def used_addresses(entries, owner):
    """Addresses of ServiceEntries not owned by ``owner``: ``{address: "namespace/name"}``."""
    out = {}
    for entry in entries:
        meta = entry.get("metadata") or {}
        if (meta.get("labels") or {}).get(OWNER_LABEL) == owner:
            continue
        for address in (entry.get("spec") or {}).get("addresses") or []:
            out.setdefault(address.split("/")[0], "%s/%s" % (meta.get("namespace"), meta.get("name")))
    return out


def choose_address(host, cidr, entries, owner, current=None, explicit=None):
    """The address for ``host`` in one cluster whose ServiceEntries are ``entries``."""
    used = used_addresses(entries, owner)
    if explicit:
        if not _is_ip(explicit):
            raise ServiceEntryError("address %r is not an IP address" % explicit)
        if explicit in used:
            raise ServiceEntryError("address %s is already used by ServiceEntry %s" % (explicit, used[explicit]))
        return explicit
    return allocate_address(host, cidr, used, current)


# ---- objects ------------------------------------------------------------------------------
def _service_entry(host, ports, address, resolution, endpoints, namespace, owner, side, source_ref):
    """A MESH_INTERNAL ServiceEntry for ``host`` at ``address`` (both sides share this shape)."""
    return {
        "apiVersion": ISTIO_API, "kind": "ServiceEntry",
        "metadata": _meta(object_name(host), namespace, owner, side, source_ref),
        "spec": {
            "hosts": [host],
            "location": "MESH_INTERNAL",
            "ports": [{"number": p["number"], "name": p["name"], "protocol": p["protocol"]} for p in ports],
            "resolution": resolution,
            "addresses": [address],
            "endpoints": endpoints,
        },
    }


def consumer_service_entry(host, ports, address, gateway_addresses, resolution, gateway_port,
                           namespace, owner, source_ref):
    """The consumer's ServiceEntry: the seed's shape, endpoints = the source gateway on 15443."""
    endpoints = [{"address": a, "ports": dict((p["name"], gateway_port) for p in ports)}
                 for a in gateway_addresses]
    return _service_entry(host, ports, address, resolution, endpoints, namespace, owner, "consumer", source_ref)


def destination_rule(host, namespace, owner, source_ref):
    """ISTIO_MUTUAL for the host: the client sidecar sets SNI outbound_.<port>_._.<host>."""
    return {
        "apiVersion": ISTIO_API, "kind": "DestinationRule",
        "metadata": _meta(object_name(host), namespace, owner, "consumer", source_ref),
        "spec": {"host": host, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
    }


def source_service_entry(host, ports, address, service_name, service_namespace, namespace, owner,
                         source_ref, cluster_domain="cluster.local"):
    """The source's ServiceEntry: the .global host served by the local Service (resolution DNS)."""
    endpoints = [{"address": "%s.%s.svc.%s" % (service_name, service_namespace, cluster_domain)}]
    return _service_entry(host, ports, address, "DNS", endpoints, namespace, owner, "source", source_ref)


def source_gateway(host, selector, namespace, gateway_port, owner, source_ref):
    """AUTO_PASSTHROUGH on the gateway workload for exactly this host (SNI routing to its clusters)."""
    return {
        "apiVersion": ISTIO_API, "kind": "Gateway",
        "metadata": _meta(object_name(host), namespace, owner, "source", source_ref),
        "spec": {
            "selector": dict(selector),
            "servers": [{"port": {"number": gateway_port, "name": "tls-%s" % object_name(host)[:50],
                                  "protocol": "TLS"},
                         "tls": {"mode": "AUTO_PASSTHROUGH"}, "hosts": [host]}],
        },
    }


# ---- DNS stubs ----------------------------------------------------------------------------
def _coredns_block_re(suffix):
    return re.compile(r"(?ms)^[ \t]*" + re.escape(COREDNS_BEGIN % suffix) + r"[ \t]*\n(.*?)^[ \t]*"
                      + re.escape(COREDNS_END % suffix) + r"[ \t]*\n?")


def coredns_hosts(corefile, suffix):
    """``{host: address}`` of the managed block for ``suffix`` in a Corefile."""
    match = _coredns_block_re(suffix).search(corefile or "")
    out = {}
    if match:
        for line in match.group(1).splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) == 2 and _is_ip(parts[0]):
                out[parts[1]] = parts[0]
    return out


def render_coredns_block(suffix, hosts):
    lines = [COREDNS_BEGIN % suffix, "%s:53 {" % suffix, "    errors", "    cache 30", "    hosts {"]
    lines += ["        %s %s" % (hosts[h], h) for h in sorted(hosts)]
    lines += ["    }", "}", COREDNS_END % suffix]
    return "\n".join(lines) + "\n"


def coredns_corefile(corefile, suffix, host, address):
    """The Corefile with ``host`` -> ``address`` in its managed ``<suffix>:53`` block (None: remove it).

    Only the block between the BEGIN/END markers is touched; it is dropped when empty.
    """
    corefile = corefile or ""
    # ServiceEntryRun.validate checks these first; never write a name that could start new Corefile syntax
    for label, name in (("host_suffix", suffix), ("host", host)):
        problem = validate.dns_name(name, label)
        if problem:
            raise ServiceEntryError(problem)
    hosts = coredns_hosts(corefile, suffix)
    if address is None:
        hosts.pop(host, None)
    else:
        hosts[host] = address
    pattern = _coredns_block_re(suffix)
    block = render_coredns_block(suffix, hosts) if hosts else ""
    if pattern.search(corefile):
        return pattern.sub(lambda m: block, corefile, count=1)
    if not block:
        return corefile
    if corefile and not corefile.endswith("\n"):
        corefile += "\n"
    return corefile + block


def kube_dns_stub_domains(stub_domains, suffix, nameservers):
    """kube-dns ``stubDomains`` JSON with ``suffix`` -> ``nameservers`` (None: remove the key).

    Returns the new JSON text, or None when no stub domain is left.
    """
    try:
        domains = json.loads(stub_domains) if stub_domains else {}
    except ValueError:
        raise ServiceEntryError("ConfigMap kube-system/kube-dns has stubDomains that are not JSON")
    original = dict(domains)
    if nameservers is None:
        domains.pop(suffix, None)
    else:
        domains[suffix] = list(nameservers)
    if stub_domains and domains == original:
        return stub_domains
    if not domains:
        return None
    return json.dumps(domains, sort_keys=True)


# ---- parameters ---------------------------------------------------------------------------
def kube_params(options):
    return dict((k, options.get(k)) for k in KUBE_ARG_SPEC)


def gateway_ref(gateway):
    gateway = gateway or {}
    kind = gateway.get("kind") or "eastwest"
    return gateway.get("namespace") or "istio-system", gateway.get("name") or GATEWAY_DEFAULTS[kind]


# ---- orchestration ------------------------------------------------------------------------
class Cluster(object):
    """One connected cluster of a run: its name, role, client and applier."""

    def __init__(self, name, role, options, check_mode, diff, connector):
        self.name = name
        self.role = role
        self.options = options
        try:
            self.kube = connector(kube_params(options))
        except KubeError as exc:
            raise ServiceEntryError("cluster %s: %s" % (name, exc.msg))
        self.applier = Applier(self.kube, check_mode=check_mode, diff=diff)

    def require_kinds(self, kinds):
        for kind in kinds:
            if self.applier.resource(ISTIO_API, kind) is None:
                raise ServiceEntryError("cluster %s (%s) does not serve %s %s: %s"
                                        % (self.name, self.kube.server, ISTIO_API, kind, INSTALL_ISTIO))

    def require_namespace(self, namespace):
        if self.applier.get("v1", "Namespace", namespace) is None:
            raise ServiceEntryError("namespace %s does not exist in cluster %s: %s"
                                    % (namespace, self.name, INSTALL_ISTIO))

    def owned(self, owner):
        out = []
        for kind in MANAGED_KINDS:
            for obj in self.applier.list(ISTIO_API, kind, label_selector=owner_selector(owner)):
                obj.setdefault("apiVersion", ISTIO_API)
                obj.setdefault("kind", kind)
                out.append(obj)
        return out

    def prune(self, owner, keep, timeout):
        """Delete objects of ``owner`` in this cluster that are not in ``keep`` (refs)."""
        for obj in self.owned(owner):
            if ref(obj) not in keep:
                self.applier.delete_object(obj, wait=True, timeout=timeout)


class ServiceEntryRun(object):
    """One module run: validate everything, then write (or delete) on every side."""

    def __init__(self, params, check_mode=False, diff=False, connector=kube_connect):
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.connector = connector
        src = params["source"]
        self.src = src
        self.suffix = (params.get("host_suffix") or "global").strip(".")
        self.host = global_host(src["name"], src.get("namespace") or "default", self.suffix)
        self.namespace = src.get("namespace") or "default"
        self.owner = owner_value(src["cluster_name"], self.namespace, src["name"])
        self.source_ref = "%s/%s/%s" % (src["cluster_name"], self.namespace, src["name"])
        self.entry_namespace = params.get("entry_namespace") or "istio-system"
        self.timeout = params.get("wait_timeout") or 300
        self.source = None
        self.consumers = []

    # -- validation and connection --
    def validate(self):
        """Every problem in the options at once, before any cluster is contacted."""
        p, src = self.params, self.src
        problems = validate.errors(
            validate.dns_1035_label(src["name"], "source.name", "Service name"),
            validate.dns_label(self.namespace, "source.namespace", "namespace name"),
            validate.dns_label(self.entry_namespace, "entry_namespace", "namespace name"),
            validate.ip_address(p["address"], "address") if p.get("address") else None,
            validate.port(p.get("gateway_port"), "gateway_port"),
            validate.at_least(p.get("wait_timeout"), "wait_timeout"),
            *[validate.ip_address(server, "dns_nameservers") for server in p.get("dns_nameservers") or []])
        if p.get("host_suffix") is not None and not p["host_suffix"].strip("."):
            problems.append("host_suffix must not be empty (leave it out for the default, global)")
        elif validate.dns_name(self.suffix, "host_suffix"):
            # written into consumers' CoreDNS Corefile (dns=coredns_stub) and kube-dns stubDomains
            problems.append(validate.dns_name(self.suffix, "host_suffix"))
        elif len(self.host) > validate.DNS_NAME_MAX:
            problems.append("host_suffix %r makes the host %r %d characters long, at most %d are allowed: use a "
                            "shorter host_suffix" % (self.suffix, self.host, len(self.host), validate.DNS_NAME_MAX))
        cluster_domain = p.get("cluster_domain")
        if cluster_domain is not None:
            # one trailing dot (an absolute name, cluster.local.) is fine
            problems += validate.errors(validate.dns_name(cluster_domain[:-1] if cluster_domain.endswith(".")
                                                          else cluster_domain, "cluster_domain"))
        try:
            parse_range(p.get("address_range") or DEFAULT_RANGE)
        except ServiceEntryError as exc:
            problems.append(exc.msg)
        modes = [p.get("dns")] + [c.get("dns") for c in p.get("consumers") or []]
        # (removing a link needs no nameservers: absent only takes out the module's own stub lines)
        if "kube_dns_stub" in modes and not p.get("dns_nameservers") and p.get("state", "present") == "present":
            problems.append("dns=kube_dns_stub needs dns_nameservers (the DNS servers that answer for .%s names)"
                            % self.suffix)
        if problems:
            raise ServiceEntryError("; ".join(problems))

    def connect(self):
        problems = self.consumer_problems()
        if problems:
            raise ServiceEntryError("; ".join(problems))
        self.source = Cluster(self.src["cluster_name"], "source", self.src, self.check_mode, self.diff,
                              self.connector)
        for options in self.params.get("consumers") or []:
            cluster = Cluster(options["cluster_name"], "consumer", options, self.check_mode, self.diff,
                              self.connector)
            if cluster.kube.server.rstrip("/") == self.source.kube.server.rstrip("/"):
                raise ServiceEntryError("consumer %s is the source cluster %s (same API server %s); a service "
                                        "is exposed to other clusters only"
                                        % (cluster.name, self.source.name, cluster.kube.server))
            self.consumers.append(cluster)

    def dns_mode(self, cluster):
        return cluster.options.get("dns") or self.params.get("dns") or "istio_dns_proxy"

    def read_source(self):
        applier = self.source.applier
        service = applier.get("v1", "Service", self.src["name"], self.namespace)
        if service is None:
            raise ServiceEntryError("Service %s/%s not found in source cluster %s (%s)"
                                    % (self.namespace, self.src["name"], self.source.name, self.source.kube.server))
        ports = select_ports(service, self.src.get("ports"))
        gw_ns, gw_name = gateway_ref(self.src.get("gateway"))
        gateway_port = self.params.get("gateway_port") or 15443
        state = {}

        def probe():
            gateway = applier.get("v1", "Service", gw_name, gw_ns)
            if gateway is None:
                raise ServiceEntryError("gateway Service %s/%s not found in source cluster %s: %s, or name the "
                                        "gateway with source.gateway" % (gw_ns, gw_name, self.source.name,
                                                                         INSTALL_ISTIO))
            if not gateway_has_port(gateway, gateway_port):
                raise ServiceEntryError("gateway Service %s/%s in cluster %s has no port %d (gateway_port)"
                                        % (gw_ns, gw_name, self.source.name, gateway_port))
            state["gateway"] = gateway
            return gateway_endpoints(gateway)[0]
        try:
            wait_until(probe, timeout=self.timeout, interval=1.0,
                       what="an address of gateway Service %s/%s" % (gw_ns, gw_name))
        except WaitTimeout:
            raise ServiceEntryError("gateway Service %s/%s in source cluster %s has no load balancer address after "
                                    "%ss (wait_timeout); no ServiceEntry is written with an empty endpoint"
                                    % (gw_ns, gw_name, self.source.name, self.timeout))
        except (KubeError, ApplyError) as exc:
            raise ServiceEntryError(exc.msg)
        gateway = state["gateway"]
        addresses, resolution = gateway_endpoints(gateway)
        selector = (gateway.get("spec") or {}).get("selector") or {}
        if not selector:
            raise ServiceEntryError("gateway Service %s/%s has no pod selector; cannot bind a Gateway to it"
                                    % (gw_ns, gw_name))
        return {"service": service, "ports": ports, "gateway_namespace": gw_ns, "gateway_name": gw_name,
                "gateway_port": gateway_port, "addresses": addresses, "resolution": resolution,
                "selector": selector}

    def _address_for(self, cluster):
        entries = cluster.applier.list(ISTIO_API, "ServiceEntry")
        current = None
        for entry in entries:
            labels = (entry.get("metadata") or {}).get("labels") or {}
            if labels.get(OWNER_LABEL) == self.owner and labels.get(ROLE_LABEL) == cluster.role:
                current = ((entry.get("spec") or {}).get("addresses") or [None])[0]
        try:
            return choose_address(self.host, self.params.get("address_range") or DEFAULT_RANGE, entries,
                                  self.owner, current=current, explicit=self.params.get("address"))
        except ServiceEntryError as exc:
            raise ServiceEntryError("cluster %s: %s" % (cluster.name, exc.msg))

    def _dns_precheck(self, cluster):
        mode = self.dns_mode(cluster)
        if mode == "coredns_stub":
            if cluster.applier.get("v1", "ConfigMap", "coredns", "kube-system") is None:
                raise ServiceEntryError("dns=coredns_stub but cluster %s has no ConfigMap kube-system/coredns"
                                        % cluster.name)
        elif mode == "kube_dns_stub":
            if not self.params.get("dns_nameservers"):
                raise ServiceEntryError("dns=kube_dns_stub needs dns_nameservers (the DNS servers that answer "
                                        "for .%s names)" % self.suffix)
            if cluster.applier.get("v1", "ConfigMap", "kube-dns", "kube-system") is None:
                raise ServiceEntryError("dns=kube_dns_stub but cluster %s has no ConfigMap kube-system/kube-dns"
                                        % cluster.name)

    def _dns_apply(self, cluster, address):
        """Edit the cluster's DNS stub for the host (address None: remove it). Returns an action or None.

        The host's line in the marked CoreDNS block is removed whenever the mode is not
        coredns_stub (another mode chosen later, or state=absent): those lines are only ever ours.
        """
        mode = self.dns_mode(cluster)
        coredns_action = self._coredns_apply(cluster, address if mode == "coredns_stub" else None)
        if mode == "coredns_stub":
            return coredns_action
        if mode == "kube_dns_stub":
            return self._kube_dns_apply(cluster, address)
        return coredns_action if coredns_action not in (None, "unchanged") else None

    def _coredns_apply(self, cluster, address):
        applier = cluster.applier
        live = applier.get("v1", "ConfigMap", "coredns", "kube-system")
        if live is None:
            return None
        corefile = (live.get("data") or {}).get("Corefile") or ""
        wanted = coredns_corefile(corefile, self.suffix, self.host, address)
        if wanted == corefile:
            return "unchanged"
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "coredns", "namespace": "kube-system"}, "data": {"Corefile": wanted}}
        return applier.apply(body)["action"]

    def _kube_dns_apply(self, cluster, address):
        applier = cluster.applier
        live = applier.get("v1", "ConfigMap", "kube-dns", "kube-system")
        if live is None:
            return None
        if address is None and self._suffix_still_used(cluster):
            return "unchanged"
        current = (live.get("data") or {}).get("stubDomains")
        nameservers = None if address is None else self.params.get("dns_nameservers")
        wanted = kube_dns_stub_domains(current, self.suffix, nameservers)
        if wanted == current:
            return "unchanged"
        # Only the stubDomains key is ours; omitted (no domain left) it is removed by the apply.
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-dns", "namespace": "kube-system"}}
        if wanted is not None:
            body["data"] = {"stubDomains": wanted}
        return applier.apply(body)["action"]

    def _suffix_still_used(self, cluster):
        """Whether another managed ServiceEntry of this suffix remains in the cluster."""
        for entry in cluster.applier.list(ISTIO_API, "ServiceEntry",
                                          label_selector="%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY)):
            if ((entry.get("metadata") or {}).get("labels") or {}).get(OWNER_LABEL) == self.owner:
                continue
            if any(h.endswith("." + self.suffix) for h in (entry.get("spec") or {}).get("hosts") or []):
                return True
        return False

    # -- present --
    def present(self):
        self.source.require_kinds(("ServiceEntry", "Gateway"))
        for cluster in self.consumers:
            cluster.require_kinds(("ServiceEntry", "DestinationRule"))
        for cluster in [self.source] + self.consumers:
            cluster.require_namespace(self.entry_namespace)
        src = self.read_source()
        source_address = self._address_for(self.source)
        consumer_addresses = [self._address_for(c) for c in self.consumers]
        for cluster in self.consumers:
            self._dns_precheck(cluster)

        # Everything is known and valid: write.
        source_objects = [
            source_service_entry(self.host, src["ports"], source_address, self.src["name"], self.namespace,
                                 self.entry_namespace, self.owner, self.source_ref,
                                 self.params.get("cluster_domain") or "cluster.local"),
            source_gateway(self.host, src["selector"], src["gateway_namespace"], src["gateway_port"],
                           self.owner, self.source_ref),
        ]
        source_actions = [self.source.applier.apply(o)["action"] for o in source_objects]
        self.source.prune(self.owner, set(ref(o) for o in source_objects), self.timeout)
        entries = []
        for cluster, address in zip(self.consumers, consumer_addresses):
            entry = consumer_service_entry(self.host, src["ports"], address, src["addresses"], src["resolution"],
                                           src["gateway_port"], self.entry_namespace, self.owner, self.source_ref)
            rule = destination_rule(self.host, self.entry_namespace, self.owner, self.source_ref)
            entry_action = cluster.applier.apply(entry)["action"]
            rule_action = cluster.applier.apply(rule)["action"]
            cluster.prune(self.owner, set([ref(entry), ref(rule)]), self.timeout)
            dns_action = self._dns_apply(cluster, address)
            entries.append({
                "cluster_name": cluster.name, "server": cluster.kube.server,
                "host": self.host, "address": address,
                "service_entry": {"name": entry["metadata"]["name"], "namespace": self.entry_namespace,
                                  "action": entry_action, "spec": entry["spec"]},
                "destination_rule": {"name": rule["metadata"]["name"], "namespace": self.entry_namespace,
                                     "action": rule_action},
                "endpoints": [{"address": a, "port": src["gateway_port"]} for a in src["addresses"]],
                "resolution": src["resolution"],
                "dns": {"mode": self.dns_mode(cluster), "action": dns_action},
            })
        source = {
            "cluster_name": self.source.name, "server": self.source.kube.server, "host": self.host,
            "address": source_address,
            "service": "%s/%s" % (self.namespace, self.src["name"]),
            "ports": src["ports"],
            "gateway": {"name": src["gateway_name"], "namespace": src["gateway_namespace"],
                        "addresses": src["addresses"], "resolution": src["resolution"],
                        "port": src["gateway_port"]},
            "objects": [{"ref": ref(o), "action": a} for o, a in zip(source_objects, source_actions)],
        }
        return {"host": self.host, "owner": self.owner, "source": source, "entries": entries}

    # -- absent --
    def absent(self):
        removed = {}
        for cluster in [self.source] + self.consumers:
            objects = cluster.owned(self.owner)
            for obj in objects:
                cluster.applier.delete_object(obj, wait=True, timeout=self.timeout)
            if cluster.role == "consumer":
                self._dns_apply(cluster, None)
            removed[cluster.name] = sorted(ref(o) for o in objects)
        return {"host": self.host, "owner": self.owner, "removed": removed,
                "source": {"cluster_name": self.source.name, "server": self.source.kube.server, "host": self.host},
                "entries": []}

    def consumer_problems(self):
        """The consumers' names: none twice, none the source's (found without contacting a cluster)."""
        names = [c["cluster_name"] for c in self.params.get("consumers") or []]
        dupes = sorted(set(n for n in names if names.count(n) > 1))
        if dupes:
            return ["consumers list cluster(s) %s more than once" % ", ".join(dupes)]
        if self.src["cluster_name"] in names:
            return ["consumer %s is the source cluster (same cluster_name); a service is exposed to other "
                    "clusters only" % self.src["cluster_name"]]
        return []

    def run(self):
        self.validate()
        if self.params.get("validate_only"):
            problems = self.consumer_problems()
            if problems:
                raise ServiceEntryError("; ".join(problems))
            return {"changed": False, "host": self.host,
                    "msg": "the options are valid (host %s); no cluster was contacted" % self.host}
        try:
            self.connect()
            result = self.present() if self.params.get("state", "present") == "present" else self.absent()
        except ApplyError as exc:
            raise ServiceEntryError(exc.msg)
        except KubeError as exc:
            raise ServiceEntryError(exc.msg)
        clusters = [self.source] + self.consumers
        result["changed"] = any(c.applier.changed for c in clusters)
        result["changes"] = dict((c.name, c.applier.summary()) for c in clusters)
        if self.diff:
            result["diff"] = {"before": dict((c.name, c.applier.diff()["before"]) for c in clusters),
                              "after": dict((c.name, c.applier.diff()["after"]) for c in clusters)}
        return result


def run(params, check_mode=False, diff=False, connector=kube_connect):
    """Run the module's logic; raises ServiceEntryError for anything fit for fail_json."""
    return ServiceEntryRun(params, check_mode=check_mode, diff=diff, connector=connector).run()
