# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

import pytest

from ansible_collections.multicloud.mesh.plugins.module_utils import service_entry as se

OWNER = "c2.default.messenger"


def svc(ports, name="messenger", namespace="default"):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"ports": ports}}


def entry(name, addresses, owner=None, namespace="istio-system", hosts=None):
    labels = {se.OWNER_LABEL: owner} if owner else {}
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"addresses": addresses, "hosts": hosts or [name]}}


# ---- names --------------------------------------------------------------------------------
def test_global_host_and_names():
    assert se.global_host("messenger", "default") == "messenger.default.global"
    assert se.global_host("messenger", "default", ".mesh.") == "messenger.default.mesh"
    with pytest.raises(se.ServiceEntryError):
        se.global_host("a", "b", "")
    assert se.object_name("messenger.default.global") == "messenger-default-global"
    long_name = se.object_name("x" * 80 + ".default.global")
    assert len(long_name) <= 63 and long_name != se.object_name("x" * 81 + ".default.global")
    assert se.owner_value("c2", "default", "messenger") == OWNER
    assert se.owner_value("my cluster:1", "ns", "svc") == "my-cluster-1.ns.svc"
    assert len(se.owner_value("c" * 60, "default", "messenger")) <= 63


# ---- ports --------------------------------------------------------------------------------
@pytest.mark.parametrize("port,protocol", [
    ({"name": "http"}, "HTTP"),
    ({"name": "http-web"}, "HTTP"),
    ({"name": "grpc-api"}, "GRPC"),
    ({"name": "http2"}, "HTTP2"),
    ({"name": "https"}, "HTTPS"),
    ({"name": "tls-db"}, "TLS"),
    ({"name": "metrics"}, "TCP"),
    ({"name": "web", "appProtocol": "http"}, "HTTP"),
    ({"name": "http", "appProtocol": "grpc"}, "GRPC"),
])
def test_port_protocol(port, protocol):
    assert se.port_protocol(port) == protocol


def test_select_ports_keeps_names_and_selects():
    service = svc([{"name": "http", "port": 3000}, {"name": "grpc-api", "port": 9090},
                   {"name": "dns", "port": 53, "protocol": "UDP"}])
    assert se.select_ports(service) == [{"name": "http", "number": 3000, "protocol": "HTTP"},
                                        {"name": "grpc-api", "number": 9090, "protocol": "GRPC"}]
    assert se.select_ports(service, ["grpc-api"]) == [{"name": "grpc-api", "number": 9090, "protocol": "GRPC"}]


def test_select_ports_errors():
    service = svc([{"name": "http", "port": 3000}, {"name": "dns", "port": 53, "protocol": "UDP"}])
    with pytest.raises(se.ServiceEntryError) as err:
        se.select_ports(service, ["http", "grpc"])
    assert err.value.msg == ("port name(s) grpc not found in Service default/messenger; "
                             "its ports are: http, dns")
    with pytest.raises(se.ServiceEntryError, match="not TCP"):
        se.select_ports(service, ["dns"])
    with pytest.raises(se.ServiceEntryError, match="no TCP port"):
        se.select_ports(svc([{"name": "dns", "port": 53, "protocol": "UDP"}]))


def test_unnamed_port_gets_a_name():
    assert se.select_ports(svc([{"port": 8080}])) == [{"name": "tcp-8080", "number": 8080, "protocol": "TCP"}]


# ---- resolution ---------------------------------------------------------------------------
def lb(*ingress):
    return {"status": {"loadBalancer": {"ingress": list(ingress)}}}


def test_gateway_endpoints_resolution():
    assert se.gateway_endpoints(lb({"ip": "172.18.1.2"})) == (["172.18.1.2"], "STATIC")
    assert se.gateway_endpoints(lb({"hostname": "a1.elb.amazonaws.com"})) == (["a1.elb.amazonaws.com"], "DNS")
    assert se.gateway_endpoints(lb({"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.1"})) == \
        (["10.0.0.1", "10.0.0.2"], "STATIC")
    assert se.gateway_endpoints(lb({"ip": "10.0.0.1"}, {"hostname": "x.example"}))[1] == "DNS"
    assert se.gateway_endpoints(lb({"ip": "10.0.0.1", "hostname": "x.example"})) == (["10.0.0.1"], "STATIC")
    assert se.gateway_endpoints(lb({"ip": "2001:db8::1"})) == (["2001:db8::1"], "STATIC")


def test_gateway_without_address_is_never_an_endpoint():
    assert se.gateway_endpoints(lb()) == ([], None)
    assert se.gateway_endpoints({"status": {}}) == ([], None)
    assert se.gateway_endpoints(None) == ([], None)
    assert se.gateway_endpoints(lb({})) == ([], None)


# ---- addresses ----------------------------------------------------------------------------
def test_allocation_is_deterministic_and_in_range():
    first = se.allocate_address("messenger.default.global", "240.0.0.0/4", [])
    assert first == se.allocate_address("messenger.default.global", "240.0.0.0/4", [])
    assert ipaddress.ip_address(first) in ipaddress.ip_network("240.0.0.0/4")
    assert first not in ("240.0.0.0", "255.255.255.255")
    assert first != se.allocate_address("greeter.default.global", "240.0.0.0/4", [])


def test_allocation_keeps_current_and_avoids_used():
    host = "messenger.default.global"
    first = se.allocate_address(host, "240.0.0.0/4", [])
    assert se.allocate_address(host, "240.0.0.0/4", [], current="241.2.3.4") == "241.2.3.4"
    other = se.allocate_address(host, "240.0.0.0/4", [first])
    assert other != first
    # The current address is dropped when out of the range or taken by someone else.
    assert se.allocate_address(host, "240.0.0.0/4", [], current="10.0.0.1") == first
    assert se.allocate_address(host, "240.0.0.0/4", ["241.2.3.4"], current="241.2.3.4") == first


def test_small_ranges_and_exhaustion():
    assert se.allocate_address("h", "240.0.0.9/32", []) == "240.0.0.9"
    # /30: network and broadcast skipped, two usable addresses.
    got = set(se.allocate_address("h%d" % i, "10.1.1.0/30", []) for i in range(20))
    assert got <= {"10.1.1.1", "10.1.1.2"}
    assert se.allocate_address("h", "10.1.1.0/30", ["10.1.1.1"]) == "10.1.1.2"
    with pytest.raises(se.ServiceEntryError) as err:
        se.allocate_address("h", "10.1.1.0/30", ["10.1.1.1", "10.1.1.2"])
    assert "address range 10.1.1.0/30 is exhausted" in err.value.msg
    with pytest.raises(se.ServiceEntryError, match="240.0.0.9/32 is exhausted"):
        se.allocate_address("h", "240.0.0.9/32", ["240.0.0.9"])
    with pytest.raises(se.ServiceEntryError, match="not a network"):
        se.allocate_address("h", "nonsense", [])


def test_probing_fills_a_range_without_repeats():
    used = []
    for i in range(6):
        used.append(se.allocate_address("h%d" % i, "10.2.0.0/29", used))
    assert sorted(used) == ["10.2.0.%d" % i for i in range(1, 7)]


def test_used_addresses_skip_own_entries_and_prefixes():
    entries = [entry("mine", ["240.0.0.1"], owner=OWNER), entry("other", ["240.0.0.2/32", "240.0.0.3"]),
               {"metadata": {"name": "bare", "namespace": "x"}, "spec": {}}]
    assert se.used_addresses(entries, OWNER) == {"240.0.0.2": "istio-system/other", "240.0.0.3": "istio-system/other"}


def test_choose_address():
    entries = [entry("mine", ["245.1.1.1"], owner=OWNER), entry("seed", ["127.127.42.69"], namespace="default")]
    assert se.choose_address("messenger.default.global", "240.0.0.0/4", entries, OWNER, current="245.1.1.1") == "245.1.1.1"
    assert se.choose_address("h", "240.0.0.0/4", entries, OWNER, explicit="127.127.42.70") == "127.127.42.70"
    with pytest.raises(se.ServiceEntryError, match="127.127.42.69 is already used by ServiceEntry default/seed"):
        se.choose_address("h", "240.0.0.0/4", entries, OWNER, explicit="127.127.42.69")
    with pytest.raises(se.ServiceEntryError, match="not an IP"):
        se.choose_address("h", "240.0.0.0/4", entries, OWNER, explicit="abc")
    # Our own existing address is not "used" for us.
    assert se.choose_address("h", "245.1.1.1/32", entries, OWNER) == "245.1.1.1"


# ---- objects ------------------------------------------------------------------------------
PORTS = [{"name": "http", "number": 3000, "protocol": "HTTP"}]


def test_consumer_entry_has_the_seed_shape():
    obj = se.consumer_service_entry("messenger.default.global", PORTS, "240.1.2.3", ["172.18.0.7"], "STATIC",
                                    15443, "istio-system", OWNER, "c2/default/messenger")
    assert obj["apiVersion"] == "networking.istio.io/v1" and obj["kind"] == "ServiceEntry"
    assert obj["metadata"]["name"] == "messenger-default-global"
    assert obj["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "multicloud.mesh",
                                         se.OWNER_LABEL: OWNER, se.ROLE_LABEL: "consumer"}
    assert obj["spec"] == {
        "hosts": ["messenger.default.global"], "location": "MESH_INTERNAL",
        "ports": [{"number": 3000, "name": "http", "protocol": "HTTP"}],
        "resolution": "STATIC", "addresses": ["240.1.2.3"],
        "endpoints": [{"address": "172.18.0.7", "ports": {"http": 15443}}]}


def test_destination_rule_is_istio_mutual():
    obj = se.destination_rule("messenger.default.global", "istio-system", OWNER, "c2/default/messenger")
    assert obj["kind"] == "DestinationRule"
    assert obj["spec"] == {"host": "messenger.default.global", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}


def test_source_side_objects():
    entry_obj = se.source_service_entry("messenger.default.global", PORTS, "240.1.2.3", "messenger", "default",
                                        "istio-system", OWNER, "c2/default/messenger")
    assert entry_obj["spec"]["resolution"] == "DNS"
    assert entry_obj["spec"]["endpoints"] == [{"address": "messenger.default.svc.cluster.local"}]
    assert entry_obj["metadata"]["labels"][se.ROLE_LABEL] == "source"
    gateway = se.source_gateway("messenger.default.global", {"istio": "eastwestgateway"}, "istio-system", 15443,
                                OWNER, "c2/default/messenger")
    server = gateway["spec"]["servers"][0]
    assert gateway["spec"]["selector"] == {"istio": "eastwestgateway"}
    assert server["tls"] == {"mode": "AUTO_PASSTHROUGH"}
    assert server["hosts"] == ["messenger.default.global"]
    assert server["port"]["number"] == 15443 and server["port"]["protocol"] == "TLS"


# ---- DNS stubs ----------------------------------------------------------------------------
COREFILE = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"


def test_coredns_block_add_update_remove():
    one = se.coredns_corefile(COREFILE, "global", "messenger.default.global", "240.0.0.5")
    assert one.startswith(COREFILE)
    assert "global:53 {" in one and "240.0.0.5 messenger.default.global" in one
    two = se.coredns_corefile(one, "global", "greeter.default.global", "240.0.0.6")
    assert two.count("global:53 {") == 1
    assert se.coredns_hosts(two, "global") == {"messenger.default.global": "240.0.0.5",
                                               "greeter.default.global": "240.0.0.6"}
    moved = se.coredns_corefile(two, "global", "messenger.default.global", "240.0.0.7")
    assert se.coredns_hosts(moved, "global")["messenger.default.global"] == "240.0.0.7"
    assert se.coredns_corefile(two, "global", "greeter.default.global", "240.0.0.6") == two
    back = se.coredns_corefile(se.coredns_corefile(two, "global", "greeter.default.global", None),
                               "global", "messenger.default.global", None)
    assert back == COREFILE
    assert se.coredns_corefile(COREFILE, "global", "x.y.global", None) == COREFILE


def test_coredns_block_keeps_text_after_it():
    text = se.coredns_corefile(COREFILE, "global", "a.b.global", "240.0.0.1") + "extra:53 {\n}\n"
    assert se.coredns_corefile(text, "global", "a.b.global", None) == COREFILE + "extra:53 {\n}\n"


def test_kube_dns_stub_domains():
    assert json.loads(se.kube_dns_stub_domains(None, "global", ["10.0.0.53"])) == {"global": ["10.0.0.53"]}
    current = '{"corp.example": ["10.9.9.9"]}'
    both = se.kube_dns_stub_domains(current, "global", ["10.0.0.53"])
    assert json.loads(both) == {"corp.example": ["10.9.9.9"], "global": ["10.0.0.53"]}
    assert se.kube_dns_stub_domains(both, "global", ["10.0.0.53"]) == both
    assert json.loads(se.kube_dns_stub_domains(both, "global", None)) == {"corp.example": ["10.9.9.9"]}
    assert se.kube_dns_stub_domains('{"global": ["1.1.1.1"]}', "global", None) is None
    with pytest.raises(se.ServiceEntryError, match="not JSON"):
        se.kube_dns_stub_domains("{", "global", None)


def test_gateway_ref_defaults():
    assert se.gateway_ref(None) == ("istio-system", "istio-eastwestgateway")
    assert se.gateway_ref({"kind": "ingress"}) == ("istio-system", "istio-ingressgateway")
    assert se.gateway_ref({"kind": "eastwest", "name": "gw", "namespace": "gws"}) == ("gws", "gw")


# ---- validation before any change --------------------------------------------------------
class FakeKube(object):
    timeout = 5

    def __init__(self, server):
        self.server = server
        self.dynamic = None


def params(consumers, **extra):
    out = {"source": {"cluster_name": "c2", "kubeconfig": "k2", "name": "messenger", "namespace": "default"},
           "consumers": consumers, "state": "present"}
    out.update(extra)
    return out


def connector(options):
    return FakeKube({"k1": "https://127.0.0.1:1", "k2": "https://127.0.0.1:2"}[options["kubeconfig"]])


def test_consumer_that_is_the_source_is_refused():
    with pytest.raises(se.ServiceEntryError, match=r"consumer c2 is the source cluster \(same cluster_name\)"):
        se.run(params([{"cluster_name": "c2", "kubeconfig": "k1"}]), connector=connector)
    with pytest.raises(se.ServiceEntryError, match=r"consumer other is the source cluster c2 \(same API server"):
        se.run(params([{"cluster_name": "other", "kubeconfig": "k2"}]), connector=connector)
    with pytest.raises(se.ServiceEntryError, match="more than once"):
        se.run(params([{"cluster_name": "c1", "kubeconfig": "k1"}] * 2), connector=connector)


def test_connection_errors_name_the_cluster():
    def failing(options):
        raise se.KubeError("cannot reach the API server")
    with pytest.raises(se.ServiceEntryError, match="cluster c2: cannot reach"):
        se.run(params([]), connector=failing)
