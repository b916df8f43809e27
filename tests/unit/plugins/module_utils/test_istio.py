# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os

import pytest
import yaml

from ansible_collections.multicloud.mesh.plugins.module_utils import istio, reader_token


def clusters(*specs):
    return [{"name": n, "network": net, "kubeconfig": "/k/%s" % n} for n, net in specs]


def test_validate_clusters_fills_primaries():
    out = istio.validate_clusters(clusters(("a", "n1"), ("b", "n2")))
    assert [c["primary"] for c in out] == [True, True]
    out = istio.validate_clusters(clusters(("a", "n1"), ("b", "n2")), topology="primary_remote")
    assert [c.get("primary") for c in out] == [True, None]


@pytest.mark.parametrize("specs,networks,needle", [
    ((("a", "n1"), ("a", "n2")), None, "duplicate cluster name 'a'"),
    ((("a", "n1"), ("b", "")), None, "has no network"),
    ((("a", "n1"), ("b", "n3")), ["n1", "n2"], "network 'n3', which is not in networks"),
    ((("Bad_Name", "n1"),), None, "not a DNS label"),
    ((), None, "clusters is empty"),
])
def test_validate_clusters_errors(specs, networks, needle):
    with pytest.raises(istio.IstioError) as err:
        istio.validate_clusters(clusters(*specs), networks)
    assert needle in err.value.msg


def test_two_primaries_rejected_in_primary_remote():
    cl = clusters(("a", "n1"), ("b", "n2"))
    for c in cl:
        c["primary"] = True
    with pytest.raises(istio.IstioError):
        istio.validate_clusters(cl, topology="primary_remote")


def test_check_values_refuses_module_owned_keys():
    istio.check_values({"pilot": {"env": {}}})
    with pytest.raises(istio.IstioError) as err:
        istio.check_values({"global": {"meshID": "x", "multiCluster": {"clusterName": "y"}}})
    assert "meshID" in err.value.msg and "clusterName" in err.value.msg


def test_control_plane_iop_sets_mesh_identity_and_merges_values():
    iop = istio.control_plane_iop("mesh1", {"name": "c1", "network": "n1", "primary": True}, "default",
                                  {"global": {"logging": {"level": "info"}}, "pilot": {"autoscaleEnabled": False}})
    values = iop["spec"]["values"]
    assert values["global"]["meshID"] == "mesh1"
    assert values["global"]["multiCluster"]["clusterName"] == "c1"
    assert values["global"]["network"] == "n1"
    assert values["global"]["logging"] == {"level": "info"}
    assert values["pilot"] == {"autoscaleEnabled": False}
    assert iop["spec"]["profile"] == "default"


def test_control_plane_iop_turns_the_sidecar_dns_proxy_on_unless_values_say_otherwise():
    meta = istio.control_plane_iop("m", {"name": "c1", "network": "n1"})["spec"]["values"]["meshConfig"][
        "defaultConfig"]["proxyMetadata"]
    assert meta == {"ISTIO_META_DNS_CAPTURE": "true"}
    values = {"meshConfig": {"defaultConfig": {"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "false", "X": "1"}},
                             "accessLogFile": "/dev/stdout"}}
    merged = istio.control_plane_iop("m", {"name": "c1", "network": "n1"}, values=values)["spec"]["values"]
    assert merged["meshConfig"] == values["meshConfig"]
    remote = istio.control_plane_iop("m", {"name": "c2", "network": "n2"}, topology="primary_remote")
    assert remote["spec"]["values"]["meshConfig"]["defaultConfig"]["proxyMetadata"] == istio.DNS_PROXY_METADATA


def test_remote_iop_uses_remote_profile_and_pilot_address():
    iop = istio.control_plane_iop("m", {"name": "c2", "network": "n2"}, topology="primary_remote",
                                  remote_pilot_address="172.16.0.9")
    assert iop["spec"]["profile"] == "remote"
    assert iop["spec"]["values"]["global"]["remotePilotAddress"] == "172.16.0.9"
    assert iop["spec"]["values"]["istiodRemote"]["injectionPath"] == "/inject/cluster/c2/net/n2"


def test_eastwest_iop_matches_upstream_sample():
    iop = istio.eastwest_iop("n1")
    gw = iop["spec"]["components"]["ingressGateways"][0]
    assert gw["name"] == "istio-eastwestgateway"
    assert gw["label"]["topology.istio.io/network"] == "n1"
    assert [p["port"] for p in gw["k8s"]["service"]["ports"]] == [15021, 15443, 15012, 15017]
    assert gw["k8s"]["env"] == [{"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": "n1"}]
    assert iop["spec"]["profile"] == "empty"


def test_cross_network_gateway_is_auto_passthrough_on_15443():
    gw = istio.cross_network_gateway()
    server = gw["spec"]["servers"][0]
    assert server["port"]["number"] == 15443 and server["tls"]["mode"] == "AUTO_PASSTHROUGH"
    assert gw["metadata"]["name"] == "cross-network-gateway"


def test_known_checksums():
    table = {"9.9.9": {"linux-amd64": ["abc"]}, "9.9.8": {"linux-amd64": ["__PLACEHOLDER__"]}}
    assert istio.known_checksums("9.9.9", "linux-amd64", table) == ["abc"]
    with pytest.raises(istio.IstioError) as err:
        istio.known_checksums("1.29.0", "linux-amd64", table)
    assert "no known istioctl checksum" in err.value.msg
    with pytest.raises(istio.IstioError):
        istio.known_checksums("9.9.8", "linux-amd64", table)
    with pytest.raises(istio.IstioError):
        istio.known_checksums("9.9.9", "darwin-arm64", table)


def test_find_istioctl_verifies_sha256(tmp_path):
    good = tmp_path / "istio-9.9.9" / "istioctl"
    good.parent.mkdir()
    good.write_bytes(b"binary")
    digest = hashlib.sha256(b"binary").hexdigest()
    table = {"9.9.9": {istio.platform(): [digest]}}
    env = {"MULTICLOUD_MESH_ISTIO_BIN": str(tmp_path), "PATH": ""}
    assert istio.find_istioctl("9.9.9", environ=env, table=table) == str(good)
    assert istio.find_istioctl("9.9.9", istioctl_path=str(good), table=table) == str(good)
    bad = tmp_path / "other"
    bad.write_bytes(b"tampered")
    with pytest.raises(istio.IstioError) as err:
        istio.find_istioctl("9.9.9", istioctl_path=str(bad), table=table)
    assert "is not the known checksum" in err.value.msg


def test_candidate_paths_order(tmp_path):
    paths = istio.candidate_paths("1.30.4", {"MULTICLOUD_MESH_ISTIO_BIN": "/b", "PATH": ""}, home="/h")
    assert paths == ["/b/istio-1.30.4/istioctl", "/h/.cache/multicloud.mesh/bin/istio-1.30.4/istioctl",
                     "/usr/local/lib/multicloud.mesh/istio-1.30.4/istioctl"]


def test_render_parses_istioctl_output():
    seen = {}

    def runner(argv, timeout):
        seen["argv"] = argv
        with open(argv[-1]) as handle:
            seen["iop"] = yaml.safe_load(handle)
        return 0, "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n---\n\n---\n" \
                  "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n", ""
    out = istio.render("/bin/istioctl", {"spec": {"profile": "x"}}, runner=runner)
    assert [o["kind"] for o in out] == ["ServiceAccount", "ConfigMap"]
    assert seen["argv"][:3] == ["/bin/istioctl", "manifest", "generate"]
    assert seen["iop"] == {"spec": {"profile": "x"}}
    assert not os.path.exists(seen["argv"][-1])


def test_render_failure_is_clear():
    with pytest.raises(istio.IstioError) as err:
        istio.render("/bin/istioctl", {}, runner=lambda argv, t: (1, "", "Error: unknown profile"))
    assert "unknown profile" in err.value.msg


def test_prepare_namespaces_and_drops_empty_cabundle():
    objs = istio.prepare([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio"}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "v"}, "webhooks": [{"name": "w", "clientConfig": {"caBundle": ""}}]},
    ])
    assert objs[0]["metadata"]["namespace"] == "istio-system"
    assert "namespace" not in objs[1]["metadata"]
    assert objs[1]["webhooks"][0]["clientConfig"] == {}


def _managed(manager, fields):
    return {"manager": manager, "operation": "Apply" if manager == "multicloud.mesh" else "Update",
            "fieldsV1": {"f:webhooks": {'k:{"name":"w"}': dict(("f:" + f, {}) for f in fields)}}}


def test_keep_runtime_fields_leaves_cabundle_and_an_owned_by_istiod_policy_to_istiod():
    body = {"kind": "ValidatingWebhookConfiguration",
            "webhooks": [{"name": "w", "failurePolicy": "Ignore", "clientConfig": {"caBundle": "eA=="}}]}
    # istiod switched the policy (Update): it owns it now; we leave it out, neither reset nor co-owned
    live = {"metadata": {"managedFields": [_managed("multicloud.mesh", ["name", "clientConfig"]),
                                           _managed("pilot-discovery", ["failurePolicy"])]},
            "webhooks": [{"name": "w", "failurePolicy": "Fail", "clientConfig": {"caBundle": "Q0E="}}]}
    out = istio.keep_runtime_fields(body, live)
    assert out["webhooks"][0] == {"name": "w", "clientConfig": {}}
    # we still own it (istiod has not switched yet): the live value is sent, ownership stays
    live["metadata"]["managedFields"] = [_managed("multicloud.mesh", ["name", "failurePolicy"])]
    live["webhooks"][0]["failurePolicy"] = "Ignore"
    body["webhooks"][0]["failurePolicy"] = "Ignore"
    assert istio.keep_runtime_fields(body, live)["webhooks"][0]["failurePolicy"] == "Ignore"
    fresh = istio.keep_runtime_fields({"kind": "ValidatingWebhookConfiguration",
                                       "webhooks": [{"name": "w", "failurePolicy": "Ignore"}]}, None)
    assert fresh["webhooks"][0]["failurePolicy"] == "Ignore"
    assert istio.keep_runtime_fields({"kind": "ConfigMap"}, live) == {"kind": "ConfigMap"}


def kinds(objs):
    return [o["kind"] for o in objs]


def test_apply_and_delete_order():
    objs = [{"apiVersion": a, "kind": k, "metadata": {"name": k.lower()}} for a, k in [
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
        ("apps/v1", "Deployment"),
        ("networking.istio.io/v1", "Gateway"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("v1", "Namespace"),
    ]]
    assert kinds(istio.apply_order(objs)) == ["Namespace", "CustomResourceDefinition", "ServiceAccount",
                                              "ClusterRole", "Deployment", "MutatingWebhookConfiguration", "Gateway"]
    assert kinds(istio.delete_order(objs)) == ["Gateway", "ServiceAccount", "Deployment", "ClusterRole",
                                               "MutatingWebhookConfiguration", "Namespace", "CustomResourceDefinition"]


def test_remote_secret_has_inline_token_ca_and_server():
    secret = istio.remote_secret("mesh1", "c2", "https://127.0.0.1:6443", "tok", "-----CA-----\n")
    assert secret["metadata"]["labels"]["istio/multiCluster"] == "true"
    assert secret["metadata"]["annotations"]["networking.istio.io/cluster"] == "c2"
    config = yaml.safe_load(base64.b64decode(secret["data"]["c2"]))
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == b"-----CA-----\n"
    assert config["users"][0]["user"] == {"token": "tok"}
    assert config["current-context"] == "c2"


def test_remote_secret_carries_the_token_expiry_in_an_annotation():
    secret = istio.remote_secret("mesh1", "c2", "https://h", "tok", "ca", expires="2027-03-03T10:00:00Z")
    assert secret["metadata"]["annotations"]["multicloud.mesh/token-expires"] == "2027-03-03T10:00:00Z"
    assert reader_token.from_remote_secret(secret, "c2") == "tok"
    assert reader_token.from_remote_secret(secret, "c3") is None


def test_link_plan():
    cl = [{"name": "a", "primary": True}, {"name": "b", "primary": True}, {"name": "c", "primary": True}]
    assert istio.link_plan(cl) == {"a": ["b", "c"], "b": ["a", "c"], "c": ["a", "b"]}
    assert istio.link_plan(cl, link="none") == {"a": [], "b": [], "c": []}
    pr = [{"name": "a", "primary": True}, {"name": "b"}]
    assert istio.link_plan(pr, topology="primary_remote") == {"a": ["b"], "b": []}


def test_check_cacerts():
    assert "has no Secret" in istio.check_cacerts(None)
    assert "without ca-key.pem" in istio.check_cacerts(
        {"data": {"ca-cert.pem": "x", "root-cert.pem": "x", "cert-chain.pem": "x"}})
    assert istio.check_cacerts({"data": dict((k, "x") for k in istio.CACERTS_KEYS)}) is None


# ---- MeshInstaller.prepare: every check happens before any write ----
def _deployment(name, annotations=None, image="docker.io/istio/pilot:1.30.4"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"template": {"metadata": {"annotations": annotations or {}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_needs_istiod_marks_injected_gateways_and_istio_config_only():
    assert istio.needs_istiod(_deployment("istio-eastwestgateway", {"sidecar.istio.io/inject": "true"}, "auto"))
    assert istio.needs_istiod(_deployment("gw", image="auto"))
    assert istio.needs_istiod({"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "g"}})
    assert not istio.needs_istiod(_deployment("istiod", {"sidecar.istio.io/inject": "false"}))
    assert not istio.needs_istiod(_deployment("istio-ingressgateway", {"sidecar.istio.io/inject": "false"}))
    assert not istio.needs_istiod({"apiVersion": "admissionregistration.k8s.io/v1",
                                   "kind": "MutatingWebhookConfiguration", "metadata": {"name": "m"}})


class FakeKube(object):
    def __init__(self, name, reachable=True):
        self.server = "https://127.0.0.1:1%s" % name[-1]
        self.name = name
        self.reachable = reachable

    def version(self):
        if not self.reachable:
            raise istio.IstioError("cannot reach the API server %s" % self.server)
        return {"git_version": "v1.35.4"}


class FakeApplier(object):
    secrets = {}
    writes = []

    def __init__(self, kube, check_mode=False, diff=False):
        self.kube = kube
        self.changed = False

    def get(self, api_version, kind, name, namespace=None):
        return self.secrets.get(self.kube.name)

    def apply(self, obj, adjust=None):
        self.writes.append(obj)


def cacerts(root="cm9vdA=="):
    return {"data": {"ca-cert.pem": "x", "ca-key.pem": "x", "root-cert.pem": root, "cert-chain.pem": "x"}}


def installer(tmp_path, clusters_, **extra):
    binary = tmp_path / "istioctl"
    binary.write_bytes(b"istioctl")
    params = {"mesh_id": "m", "clusters": clusters_, "networks": None, "topology": "multi_primary",
              "values": {}, "injection_namespaces": ["default"], "istio_version": "1.30.4",
              "istioctl_path": str(binary), "state": "present", "require_cacerts": True, "request_timeout": 5}
    params.update(extra)
    unreachable = set(params.pop("unreachable", []))
    inst = istio.MeshInstaller(params, connect=lambda conn: FakeKube(conn["kubeconfig"], conn["kubeconfig"] not in unreachable),
                               applier_class=FakeApplier)
    return inst, hashlib.sha256(b"istioctl").hexdigest()


def test_prepare_checks_before_writing(tmp_path, monkeypatch):
    cl = [{"name": "a", "network": "n1", "kubeconfig": "ka"}, {"name": "b", "network": "n2", "kubeconfig": "kb"}]
    inst, digest = installer(tmp_path, cl, unreachable=["kb"])
    monkeypatch.setitem(istio.ISTIOCTL_SHA256, "1.30.4", {istio.platform(): [digest]})
    FakeApplier.secrets = {"ka": cacerts(), "kb": cacerts()}
    FakeApplier.writes = []
    with pytest.raises(istio.IstioError) as err:
        inst.prepare()
    assert err.value.msg.startswith("cluster b: cannot reach")
    inst, digest = installer(tmp_path, cl)
    FakeApplier.secrets = {"ka": cacerts(), "kb": None}
    with pytest.raises(istio.IstioError) as err:
        inst.prepare()
    assert "cluster b has no Secret istio-system/cacerts" in err.value.msg
    inst, digest = installer(tmp_path, cl)
    FakeApplier.secrets = {"ka": cacerts(), "kb": cacerts("b3RoZXI=")}
    with pytest.raises(istio.IstioError) as err:
        inst.prepare()
    assert "different root certificates" in err.value.msg
    inst, digest = installer(tmp_path, cl, require_cacerts=False)
    FakeApplier.secrets = {}
    inst.prepare()
    assert [r.name for r in inst.runs] == ["a", "b"]
    assert inst.istioctl_info["sha256"] == digest
    assert FakeApplier.writes == []


def test_prepare_in_check_mode_predicts_without_cacerts(tmp_path, monkeypatch):
    """Check mode cannot see the cacerts an earlier task (mesh_ca) would create: warn, do not fail."""
    cl = [{"name": "a", "network": "n1", "kubeconfig": "ka"}, {"name": "b", "network": "n2", "kubeconfig": "kb"}]
    inst, digest = installer(tmp_path, cl)
    monkeypatch.setitem(istio.ISTIOCTL_SHA256, "1.30.4", {istio.platform(): [digest]})
    inst.check_mode = True
    FakeApplier.secrets = {"ka": cacerts(), "kb": None}
    FakeApplier.writes = []
    inst.prepare()
    assert [r.cacerts_missing for r in inst.runs] == [False, True]
    assert len(inst.warnings) == 1 and "cluster b has no Secret istio-system/cacerts" in inst.warnings[0]
    assert FakeApplier.writes == []
    # an incomplete Secret or different roots still fail in check mode
    inst, digest = installer(tmp_path, cl)
    inst.check_mode = True
    FakeApplier.secrets = {"ka": cacerts(), "kb": {"data": {"ca-cert.pem": "x"}}}
    with pytest.raises(istio.IstioError) as err:
        inst.prepare()
    assert "without ca-key.pem" in err.value.msg
    inst, digest = installer(tmp_path, cl)
    inst.check_mode = True
    FakeApplier.secrets = {"ka": cacerts(), "kb": cacerts("b3RoZXI=")}
    with pytest.raises(istio.IstioError) as err:
        inst.prepare()
    assert "different root certificates" in err.value.msg


def test_prepare_rejects_unknown_version_before_connecting(tmp_path):
    calls = []
    params = {"mesh_id": "m", "clusters": [{"name": "a", "network": "n1", "kubeconfig": "ka"}], "networks": None,
              "topology": "multi_primary", "values": {}, "injection_namespaces": [], "istio_version": "1.29.6",
              "istioctl_path": None, "state": "present", "require_cacerts": True}
    inst = istio.MeshInstaller(params, connect=calls.append, applier_class=FakeApplier)
    with pytest.raises(istio.IstioError) as err:
        inst.prepare()
    assert "1.29.6 has no known istioctl checksum" in err.value.msg
    assert calls == []


def test_control_plane_iop_renders_the_default_revision_validator_unless_values_say_otherwise():
    iop = istio.control_plane_iop("m", {"name": "a", "network": "n"})
    assert iop["spec"]["values"]["defaultRevision"] == "default"
    iop = istio.control_plane_iop("m", {"name": "a", "network": "n"}, values={"defaultRevision": ""})
    assert iop["spec"]["values"]["defaultRevision"] == ""


def test_validate_only_checks_options_and_istioctl_and_contacts_no_cluster(tmp_path, monkeypatch):
    contacted = []
    inst, digest = installer(tmp_path, None)
    inst.connect = lambda conn: contacted.append(conn) or FakeKube(conn["kubeconfig"], True)
    monkeypatch.setitem(istio.ISTIOCTL_SHA256, "1.30.4", {istio.platform(): [digest]})
    inst.prepare(validate_only=True)  # no clusters yet (site.yml's preflight)
    assert inst.istioctl_info["sha256"] == digest and inst.runs == [] and contacted == []
    inst = installer(tmp_path, [{"name": "a", "network": "n1", "kubeconfig": "ka"}])[0]
    inst.connect = contacted.append
    inst.prepare(validate_only=True)  # clusters given: checked, not contacted
    assert contacted == []
    inst = installer(tmp_path, None, istio_version="1.30.44")[0]
    with pytest.raises(istio.IstioError, match="istio_version 1.30.44 has no known istioctl checksum"):
        inst.prepare(validate_only=True)
    inst = installer(tmp_path, [])[0]
    with pytest.raises(istio.IstioError, match="clusters is empty"):
        inst.prepare()  # a real run still needs clusters
