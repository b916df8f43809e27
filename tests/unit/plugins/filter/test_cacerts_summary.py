"""Unit tests of plugins/filter/cacerts_summary.py: public facts of istio-system/cacerts, never its key."""

import base64
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # ansible_collections/multicloud/mesh -> the repo (make venv)

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.multicloud.mesh.plugins.filter.cacerts_summary import cacerts_summary  # noqa: E402
from ansible_collections.multicloud.mesh.plugins.module_utils import mesh_ca  # noqa: E402


def _secret(data):
    return {"metadata": {"namespace": "istio-system", "name": "cacerts"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


@pytest.fixture(scope="module")
def root():
    return mesh_ca.new_root("mesh1", "ec-p256", 3650)


@pytest.fixture(scope="module")
def data(root):
    cert, key = mesh_ca.new_intermediate(root, "c1", "ec-p256", 365)
    return mesh_ca.cacerts_data(root, cert, key)


def test_valid_secret_gives_fingerprints_only(root, data):
    out = cacerts_summary([_secret(data)], root=root.anchor_pem)
    assert out["valid"] and out["present"] and out["problems"] == []
    assert out["name"] == "istio-system/cacerts"
    assert out["keys"] == sorted(mesh_ca.CACERTS_KEYS)
    assert out["root_cert"]["fingerprint"] == mesh_ca.fingerprint(root.anchor)
    assert out["root_matches"] is True
    assert [c["fingerprint"] for c in out["chain"]] == [out["ca_cert"]["fingerprint"], out["root_cert"]["fingerprint"]]
    text = json.dumps(out)
    assert "PRIVATE KEY" not in text and "BEGIN" not in text
    assert data["ca-key.pem"].splitlines()[1] not in text


def test_no_secret():
    for value in ([], None):
        out = cacerts_summary(value)
        assert not out["present"] and not out["valid"] and out["problems"] == ["no Secret"]


def test_another_root_is_a_problem(data):
    other = mesh_ca.new_root("other", "ec-p256", 3650)
    out = cacerts_summary(_secret(data), root=other.anchor_pem)
    assert out["root_matches"] is False and not out["valid"]
    assert "is not the mesh root" in out["problems"][0]


def test_chain_not_to_root(root, data):
    other = mesh_ca.new_root("other", "ec-p256", 3650)
    bad = dict(data, **{"root-cert.pem": other.anchor_pem})
    out = cacerts_summary(_secret(bad))
    assert not out["valid"]
    assert "cert-chain.pem does not end with root-cert.pem" in out["problems"]


def test_missing_entry_and_key_mismatch(root, data):
    out = cacerts_summary(_secret({k: v for k, v in data.items() if k != "ca-key.pem"}))
    assert out["problems"] == ["missing or empty: ca-key.pem"]
    dummy, other_key = mesh_ca.new_intermediate(root, "c2", "ec-p256", 365)
    out = cacerts_summary(_secret(dict(data, **{"ca-key.pem": other_key})))
    assert "ca-key.pem does not match ca-cert.pem" in out["problems"]
    assert other_key.splitlines()[1] not in json.dumps(out)


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        cacerts_summary("text")
    with pytest.raises(AnsibleFilterError):
        cacerts_summary([{}, {}])
