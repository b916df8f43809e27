# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import ssl
import stat

import pytest
import yaml

from ansible_collections.multicloud.mesh.plugins.module_utils import kube, kubeconfig

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_write_kubeconfig_is_0600_idempotent_and_redacts_diff(tmp_path):
    path = str(tmp_path / "sub" / "kc")
    changed, diff = kubeconfig.write_kubeconfig(path, "mesh-1", "https://127.0.0.1:6443", CA,
                                                {"token": "s3cret"}, check_mode=True)
    assert changed and not os.path.exists(path)
    changed, diff = kubeconfig.write_kubeconfig(path, "mesh-1", "https://127.0.0.1:6443", CA, {"token": "s3cret"})
    assert changed
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = yaml.safe_load(open(path))
    assert data["current-context"] == "mesh-1"
    assert data["users"][0]["user"]["token"] == "s3cret"
    assert "s3cret" not in repr(diff)
    changed, _diff = kubeconfig.write_kubeconfig(path, "mesh-1", "https://127.0.0.1:6443", CA, {"token": "s3cret"})
    assert not changed
    os.chmod(path, 0o644)
    changed, _diff = kubeconfig.write_kubeconfig(path, "mesh-1", "https://127.0.0.1:6443", CA, {"token": "s3cret"})
    assert changed and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_resolve_params_takes_awx_bearer_token_environment():
    env = {"K8S_AUTH_HOST": "https://10.0.0.1", "K8S_AUTH_API_KEY": "tok", "K8S_AUTH_VERIFY_SSL": "false"}
    resolved = kube.resolve_params({"host": None, "api_key": None, "validate_certs": None}, environ=env)
    assert resolved["host"] == "https://10.0.0.1"
    assert resolved["api_key"] == "tok"
    assert resolved["validate_certs"] is False
    given = kube.resolve_params({"host": "https://given", "api_key": None}, environ=env)
    assert given == {"host": "https://given", "api_key": None}
    per_cluster = kube.resolve_params({"kubeconfig": "/k", "context": None}, environ={"K8S_AUTH_CONTEXT": "other"})
    assert per_cluster["context"] is None


def test_load_kubeconfig_from_path_string_and_dict(tmp_path):
    config = kubeconfig.build_kubeconfig("c1", "https://127.0.0.1:1", CA, {"token": "t"})
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(config))
    assert kube.load_kubeconfig_dict(str(path))["clusters"][0]["name"] == "c1"
    assert kube.load_kubeconfig_dict(yaml.safe_dump(config))["current-context"] == "c1"
    assert kube.load_kubeconfig_dict(config) is config
    with pytest.raises(kube.KubeError, match="does not exist"):
        kube.load_kubeconfig_dict(str(tmp_path / "missing"))
    with pytest.raises(kube.KubeError, match="no 'clusters'"):
        kube.load_kubeconfig_dict("a: 1\nb: 2\n")


def test_build_configuration_rejects_unknown_context_and_no_cluster():
    config = kubeconfig.build_kubeconfig("c1", "https://127.0.0.1:1", CA, {"token": "t"})
    with pytest.raises(kube.KubeError, match="context 'other' is not in the kubeconfig; known contexts: c1"):
        kube.build_configuration({"kubeconfig": config, "context": "other"})
    with pytest.raises(kube.KubeError, match="no cluster given"):
        kube.build_configuration({})


class StatusError(Exception):
    def __init__(self, status, body=""):
        super(StatusError, self).__init__("HTTP %s" % status)
        self.status = status
        self.body = body


def test_explain_classifies_errors():
    assert "401" in kube.explain(StatusError(401), "https://s").msg
    assert "403" in kube.explain(StatusError(403, "forbidden: user x"), "https://s").msg
    cert = Exception("outer")
    cert.__cause__ = ssl.SSLError(1, "CERTIFICATE_VERIFY_FAILED")
    assert "TLS certificate" in kube.explain(cert, "https://s").msg
    refused = Exception("outer")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    msg = kube.explain(refused, "https://s").msg
    assert msg.startswith("cannot reach the API server https://s") and "ConnectionRefusedError" in msg
