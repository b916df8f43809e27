# -*- coding: utf-8 -*-
"""Issue 14: DNS names and label values checked before use; secrets masked in module arguments."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.testing import patch_module_args

from ansible_collections.multicloud.mesh.plugins.module_utils import istio, kube, validate
from ansible_collections.multicloud.mesh.plugins.module_utils import service_entry as se
from ansible_collections.multicloud.mesh.plugins.modules import istio_multicluster, mesh_service_entry


# ---- validators -----------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["global", "cluster.local", "a", "mesh-1.example.com", "0a.b9",
                                   ".".join(["a" * 63] * 3) + "." + "b" * 61])  # 253 characters
def test_dns_name_accepts(value):
    assert validate.dns_name(value, "host_suffix") is None


@pytest.mark.parametrize("value,reason", [
    ("global\n", "has the character '\\n'"),               # "$" in a pattern let this one through
    ("global\n}\nevil:53 {", "has the character '\\n'"),
    ("glob}al", "has the character '}'"),
    ("my domain", "has the character ' '"),
    ("Global", "has the character 'G'"),
    ("a_b.local", "has the character '_'"),
    ("-global", "must start and end with a letter or digit"),
    ("global-", "must start and end with a letter or digit"),
    ("a..b", "empty label"),
    (".global", "empty label"),
    ("", "it is empty"),
    ("x" * 64 + ".local", "has 64 characters, at most 63"),
    (".".join(["a" * 63] * 4) + "x", "at most 253"),
])
def test_dns_name_refuses_and_says_why_and_the_fix(value, reason):
    message = validate.dns_name(value, "cluster_domain")
    assert message.startswith("cluster_domain %r is not a DNS name (" % value)
    assert reason in message
    assert "use dot-separated labels of 1-63 lowercase letters, digits and '-'" in message


@pytest.mark.parametrize("value", ["mesh1", "Mesh_1.prod", "a", "", "x" * 63, "9-9"])
def test_label_value_accepts(value):
    assert validate.label_value(value, "mesh_id") is None


@pytest.mark.parametrize("value,reason", [
    ("mesh1\n", "has the character '\\n'"),
    ("mesh 1", "has the character ' '"),
    ("mesh/1", "has the character '/'"),
    ("mesh:1", "has the character ':'"),
    ("-mesh", "must start and end with a letter or digit"),
    ("mesh.", "must start and end with a letter or digit"),
    ("_mesh", "must start and end with a letter or digit"),
    ("x" * 64, "has 64 characters, at most 63"),
])
def test_label_value_refuses_and_says_why_and_the_fix(value, reason):
    message = validate.label_value(value, "mesh_id", "mesh ID (a Kubernetes label value)")
    assert message.startswith("mesh_id %r is not a mesh ID (a Kubernetes label value) (" % value)
    assert reason in message
    assert "use at most 63 letters, digits, '-', '_' and '.'" in message


@pytest.mark.parametrize("check", [validate.dns_label, validate.dns_1035_label])
def test_labels_refuse_a_final_newline(check):
    assert check("default", "namespace") is None
    assert check("default\n", "namespace") is not None


# ---- mesh_service_entry: host_suffix and cluster_domain, before any cluster is contacted -------
def _se_params(**overrides):
    params = {"source": {"cluster_name": "c2", "name": "messenger", "namespace": "default"},
              "consumers": [{"cluster_name": "c1", "dns": "coredns_stub"}], "host_suffix": "global",
              "cluster_domain": "cluster.local", "entry_namespace": "istio-system", "gateway_port": 15443,
              "wait_timeout": 300, "dns": "istio_dns_proxy", "state": "present"}
    params.update(overrides)
    return params


def _never_connect(params):
    raise AssertionError("a cluster was contacted before the options were checked")


@pytest.mark.parametrize("option,value,needle", [
    ("host_suffix", "global\n}\nevil:53 {\n    forward . 203.0.113.1\n}\n#", "host_suffix 'global\\n}"),
    ("host_suffix", "Global", "host_suffix 'Global' is not a DNS name"),
    ("host_suffix", "mesh global", "host_suffix 'mesh global' is not a DNS name"),
    ("host_suffix", "a" * 64, "has 64 characters"),
    ("cluster_domain", "cluster.local\n}", "cluster_domain 'cluster.local\\n}' is not a DNS name"),
    ("cluster_domain", "cluster_local", "cluster_domain 'cluster_local' is not a DNS name"),
    ("cluster_domain", "cluster..local", "empty label"),
])
def test_service_entry_refuses_bad_names_before_connecting(option, value, needle):
    with pytest.raises(se.ServiceEntryError) as err:
        se.run(_se_params(**{option: value}), connector=_never_connect)
    assert needle in err.value.msg
    assert "use dot-separated labels" in err.value.msg


def test_service_entry_host_length_is_checked():
    suffix = ".".join(["a" * 60] * 4)  # 243 characters: a DNS name, but messenger.default.<it> is 261
    assert validate.dns_name(suffix, "host_suffix") is None
    with pytest.raises(se.ServiceEntryError) as err:
        se.run(_se_params(host_suffix=suffix), connector=_never_connect)
    assert "host_suffix %r makes the host" % suffix in err.value.msg
    assert "use a shorter host_suffix" in err.value.msg


@pytest.mark.parametrize("option,value", [("host_suffix", "global."), ("host_suffix", "mesh.example"),
                                          ("cluster_domain", "cluster.local."), ("cluster_domain", "corp.example")])
def test_service_entry_accepts_good_names(option, value):
    # validation passes, so the run goes on to connect (the connector is the first thing it calls)
    with pytest.raises(AssertionError, match="contacted"):
        se.run(_se_params(**{option: value}), connector=_never_connect)


def test_corefile_writer_refuses_what_validation_would():
    with pytest.raises(se.ServiceEntryError, match="host_suffix"):
        se.coredns_corefile("", "global\n}", "m.d.global\n}", "240.0.0.1")
    with pytest.raises(se.ServiceEntryError, match="host 'm.d.global x'"):
        se.coredns_corefile("", "global", "m.d.global x", "240.0.0.1")


# ---- istio_multicluster and mesh_ca: mesh_id (and network) are label values ---------------------
def _istio_params(**overrides):
    params = {"mesh_id": "mesh1", "clusters": [{"name": "c1", "network": "n1", "kubeconfig": "/x"}],
              "topology": "multi_primary", "values": {}, "wait_timeout": 300, "request_timeout": 30,
              "istio_version": "1.30.4"}
    params.update(overrides)
    return params


@pytest.mark.parametrize("overrides,needle", [
    ({"mesh_id": "mesh 1"}, "mesh_id 'mesh 1' is not a mesh ID (a Kubernetes label value)"),
    ({"mesh_id": "mesh1\n"}, "mesh_id 'mesh1\\n' is not a mesh ID"),
    ({"mesh_id": "m" * 64}, "has 64 characters"),
    ({"clusters": [{"name": "c1", "network": "net/1", "kubeconfig": "/x"}]},
     "clusters[0].network 'net/1' is not a network name (a Kubernetes label value)"),
])
def test_istio_refuses_bad_label_values_before_connecting(overrides, needle):
    def connect(params):
        raise AssertionError("connected")
    installer = istio.MeshInstaller(_istio_params(**overrides), connect=connect)
    with pytest.raises(istio.IstioError) as err:
        installer.prepare()
    assert needle in err.value.msg


# ---- no_log ----------------------------------------------------------------------------------
SECRET_WORDS = ("kubeconfig", "api_key", "token", "secret_key", "password", "root_key", "service_account_contents")


def _secret_options(spec, path=""):
    for name, option in spec.items():
        if name in SECRET_WORDS:
            yield path + name, option
        if option.get("options"):
            yield from _secret_options(option["options"], path + name + ".")


@pytest.mark.parametrize("name,spec", [
    ("kube", kube.KUBE_ARG_SPEC),
    ("istio_multicluster", istio_multicluster.ARG_SPEC),
    ("mesh_service_entry", mesh_service_entry.argument_spec()),
])
def test_every_secret_option_is_no_log(name, spec):
    found = list(_secret_options(spec))
    assert found, "no secret option found in %s: the test would pass for nothing" % name
    assert [path for path, option in found if option.get("no_log") is not True] == []


def test_mesh_ca_secret_options_are_no_log():
    # mesh_ca builds its spec in main(); read the spec it passes to AnsibleModule
    from ansible_collections.multicloud.mesh.plugins.modules import mesh_ca
    seen = {}

    class Stop(Exception):
        pass

    class Module(object):
        def __init__(self, argument_spec, **kwargs):
            seen.update(argument_spec)
            raise Stop()
    original = mesh_ca.AnsibleModule
    mesh_ca.AnsibleModule = Module
    try:
        with pytest.raises(Stop):
            mesh_ca.main()
    finally:
        mesh_ca.AnsibleModule = original
    found = dict(_secret_options(seen))
    assert set(found) >= {"kubeconfig", "api_key", "clusters.kubeconfig", "root_store.kubeconfig", "root_key"}
    assert [path for path, option in found.items() if option.get("no_log") is not True] == []


KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "it-info",
    "clusters": [{"name": "it-info", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="}}],
    "contexts": [{"name": "it-info", "context": {"cluster": "it-info", "user": "admin"}}],
    "users": [{"name": "admin", "user": {"token": "tok-SECRET-1", "client-key-data": "S0VZLVNFQ1JFVA=="}}],
}


def _module(args, spec):
    with patch_module_args(args):
        module = AnsibleModule(argument_spec=spec)
    kube.mask_kubeconfigs(module)
    return module


def _shown(module, data):
    return json.dumps(remove_values(data, module.no_log_values))


def test_kubeconfig_dict_credentials_masked_public_parts_kept():
    module = _module({"kubeconfig": KUBECONFIG}, dict(kube.KUBE_ARG_SPEC))
    shown = _shown(module, {"msg": "server v1.35.4 at https://127.0.0.1:6443 (context it-info)",
                            "echo": KUBECONFIG})
    assert "tok-SECRET-1" not in shown and "S0VZLVNFQ1JFVA==" not in shown
    # without mask_kubeconfigs these would be ********.35.4 and ******** (apiVersion v1 is a string of the dict)
    assert "server v1.35.4 at https://127.0.0.1:6443 (context it-info)" in shown


def test_kubeconfig_content_masked_whole_and_its_credentials():
    import yaml
    content = yaml.safe_dump(KUBECONFIG)
    module = _module({"kubeconfig": content}, dict(kube.KUBE_ARG_SPEC))
    shown = _shown(module, {"echo": content, "msg": "token tok-SECRET-1 rejected"})
    assert "tok-SECRET-1" not in shown and "client-key-data" not in shown
    assert "rejected" in shown


def test_kubeconfig_path_is_not_masked():
    module = _module({"kubeconfig": "/home/me/mesh-1.kubeconfig"}, dict(kube.KUBE_ARG_SPEC))
    assert "/home/me/mesh-1.kubeconfig does not exist" in _shown(
        module, {"msg": "kubeconfig file /home/me/mesh-1.kubeconfig does not exist"})


def test_nested_kubeconfigs_and_other_no_log_options():
    spec = mesh_service_entry.argument_spec()
    args = {"source": {"cluster_name": "c2", "name": "messenger", "kubeconfig": KUBECONFIG},
            "consumers": [{"cluster_name": "c1", "host": "https://127.0.0.1:7443", "api_key": "it-info"}]}
    module = _module(args, spec)
    shown = _shown(module, {"echo": args, "msg": "v1"})
    assert "tok-SECRET-1" not in shown and "S0VZLVNFQ1JFVA==" not in shown
    assert '"msg": "v1"' in shown
    # the api_key of another option stays masked even where it equals a public string of the kubeconfig
    assert "it-info" not in shown
