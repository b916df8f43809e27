"""Unit tests of plugins/module_utils/mesh_ca.py: root, intermediates, cacerts and reuse decisions."""

import datetime
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # ansible_collections/multicloud/mesh -> the repo (make venv)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from ansible_collections.multicloud.mesh.plugins.module_utils import mesh_ca  # noqa: E402
from ansible_collections.multicloud.mesh.plugins.module_utils.mesh_ca import CAError  # noqa: E402

NOW = datetime.datetime(2026, 1, 15, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def root():
    return mesh_ca.new_root("mesh1", "ec-p256", 3650, now=NOW)


@pytest.fixture(scope="module")
def other_root():
    return mesh_ca.new_root("mesh1", "ec-p256", 3650, now=NOW)


def plan(existing, root_ca, cluster="mesh-1", **kw):
    kw.setdefault("now", NOW)
    return mesh_ca.plan_cacerts(existing, root_ca, cluster, **kw)


def ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls).value


# --- root -------------------------------------------------------------------------------

@pytest.mark.parametrize("key_type,cls,size", [("ec-p256", ec.EllipticCurvePrivateKey, 256),
                                               ("rsa-2048", rsa.RSAPrivateKey, 2048)])
def test_root_is_a_self_signed_ca(key_type, cls, size):
    root_ca = mesh_ca.new_root("mesh1", key_type, 3650, now=NOW)
    cert = root_ca.cert
    assert isinstance(root_ca.key, cls) and root_ca.key.key_size == size
    assert cert.subject == cert.issuer
    assert mesh_ca.signed_by(cert, cert)
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.ca and constraints.path_length == 1
    assert ext(cert, x509.KeyUsage).key_cert_sign
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Istio"
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=3650)
    assert cert.not_valid_before_utc < NOW
    assert root_ca.source == "generated" and root_ca.anchor is cert


def test_unknown_key_type_and_bad_lifetime():
    with pytest.raises(CAError, match="key_type"):
        mesh_ca.generate_key("dsa-1024")
    with pytest.raises(CAError, match="root_validity_days"):
        mesh_ca.new_root("m", "ec-p256", 0)


def test_store_text_round_trip(root):
    certs, key = mesh_ca.split_store_text(mesh_ca.store_text(root))
    again = mesh_ca.load_root(certs, key, source="store", now=NOW)
    assert again.fingerprint == root.fingerprint
    assert mesh_ca.store_text(again) == mesh_ca.store_text(root)  # byte-for-byte stable
    with pytest.raises(CAError, match="exactly one private key"):
        mesh_ca.split_store_text(certs)


# --- intermediates ----------------------------------------------------------------------

@pytest.mark.parametrize("key_type", ["ec-p256", "rsa-2048"])
def test_intermediate_chain_verifies(root, key_type, tmp_path):
    result = plan(None, root, "mesh-2", key_type=key_type, validity_days=365)
    data, cert = result["data"], result["cert"]
    assert result["reissued"] and result["changed"] and result["reason"] == "no cacerts"
    assert sorted(data) == sorted(mesh_ca.CACERTS_KEYS)
    assert mesh_ca.signed_by(cert, root.cert)
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.ca and constraints.path_length == 0
    usage = ext(cert, x509.KeyUsage)
    assert usage.key_cert_sign and usage.digital_signature
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Istio"
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Intermediate CA mesh-2"
    san = ext(cert, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == ["istiod.istio-system.svc"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://cluster.local"]
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=365)
    assert mesh_ca.key_type_of(cert.public_key()) == key_type
    assert data["root-cert.pem"] == root.cert_pem
    assert data["cert-chain.pem"] == data["ca-cert.pem"] + root.cert_pem
    assert mesh_ca.verify_cacerts(data, now=NOW) == []
    # openssl agrees: the intermediate verifies against the root.
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    out = subprocess.run(["openssl", "verify", "-attime", str(int(NOW.timestamp())), "-CAfile", str(tmp_path / "root-cert.pem"), str(tmp_path / "ca-cert.pem")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_intermediate_never_outlives_the_root():
    short = mesh_ca.new_root("m", "ec-p256", 100, now=NOW)
    cert = plan(None, short, validity_days=365)["cert"]
    assert cert.not_valid_after_utc == short.cert.not_valid_after_utc


def test_private_key_not_in_description(root):
    cert = plan(None, root)["cert"]
    info = mesh_ca.describe(cert)
    assert "PRIVATE" not in repr(info) and "PRIVATE" not in repr(root.describe())
    assert info["subject"] == "CN=Intermediate CA mesh-1,L=mesh-1,O=Istio"
    assert len(info["fingerprint"].split(":")) == 32


# --- reuse decisions --------------------------------------------------------------------

def test_valid_intermediate_is_kept_byte_for_byte(root):
    first = plan(None, root)["data"]
    again = plan(dict(first), root)
    assert not again["reissued"] and not again["changed"] and again["reason"] is None
    assert again["data"] == first


def test_rotation_reissues(root):
    first = plan(None, root)["data"]
    rotated = plan(dict(first), root, rotate=True)
    assert rotated["reissued"] and rotated["reason"] == "rotation requested"
    assert rotated["data"]["ca-cert.pem"] != first["ca-cert.pem"]
    assert rotated["data"]["root-cert.pem"] == first["root-cert.pem"]


def test_other_root_reissues(root, other_root):
    first = plan(None, other_root)["data"]
    result = plan(dict(first), root)
    assert result["reissued"] and result["reason"] == "not signed by the current root"
    assert mesh_ca.signed_by(result["cert"], root.cert)


def test_expiring_within_renew_window_reissues(root):
    first = plan(None, root, validity_days=40)["data"]
    assert plan(dict(first), root, renew_before_days=30)["reason"] is None
    later = NOW + datetime.timedelta(days=15)
    result = plan(dict(first), root, renew_before_days=30, now=later)
    assert result["reissued"] and result["reason"] == "expires within 30 days"
    expired = plan(dict(first), root, now=NOW + datetime.timedelta(days=41))
    assert expired["reason"] == "expired"


def test_no_flapping_when_root_expires_first():
    short = mesh_ca.new_root("m", "ec-p256", 20, now=NOW)
    first = plan(None, short)["data"]
    # The intermediate already ends with the root: reissuing would not help, so keep it.
    assert plan(dict(first), short, renew_before_days=30)["reason"] is None


def test_broken_or_foreign_data_reissues(root):
    first = plan(None, root)["data"]
    other = plan(None, root, "mesh-2")["data"]
    mixed = dict(first, **{"ca-key.pem": other["ca-key.pem"]})
    assert plan(mixed, root)["reason"] == "ca-key.pem does not match ca-cert.pem"
    assert plan(dict(first, **{"ca-cert.pem": "junk"}), root)["reason"].startswith("unreadable")
    assert plan(dict(other), root, "mesh-1")["reason"].startswith("subject")
    assert plan({"ca-cert.pem": first["ca-cert.pem"]}, root)["reason"] == "no cacerts"


def test_stale_chain_is_rewritten_without_reissuing(root):
    first = plan(None, root)["data"]
    stale = dict(first, **{"cert-chain.pem": first["ca-cert.pem"]})
    result = plan(stale, root)
    assert not result["reissued"] and result["changed"]
    assert result["data"] == first


# --- user-supplied roots ----------------------------------------------------------------

def _enterprise(now=NOW):
    """An enterprise root and an issuing sub-CA (pathlen 1) under it."""
    top = mesh_ca.new_root("corp", "rsa-2048", 3650, now=now)
    key = mesh_ca.generate_key("ec-p256")
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp"), x509.NameAttribute(NameOID.COMMON_NAME, "Mesh Issuing CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(top.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1000))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .sign(top.key, hashes.SHA256()))
    return top, cert, key


def test_user_root_accepted(root):
    loaded = mesh_ca.load_root(root.cert_pem, root.key_pem, source="user", now=NOW)
    assert loaded.fingerprint == root.fingerprint and loaded.source == "user"


def test_user_sub_ca_bundle_builds_full_chain():
    top, cert, key = _enterprise()
    bundle = mesh_ca.cert_pem(cert) + top.cert_pem
    user = mesh_ca.load_root(bundle, mesh_ca.key_pem(key), now=NOW)
    assert user.anchor == top.cert
    data = plan(None, user)["data"]
    assert data["root-cert.pem"] == top.cert_pem
    assert data["cert-chain.pem"] == data["ca-cert.pem"] + bundle
    assert mesh_ca.verify_cacerts(data, now=NOW) == []


def test_mismatched_user_key_refused(root, other_root):
    with pytest.raises(CAError, match="does not match") as info:
        mesh_ca.load_root(root.cert_pem, other_root.key_pem, now=NOW)
    assert "PRIVATE" not in info.value.msg


def test_non_ca_user_root_refused(root):
    leaf_pem, leaf_key = mesh_ca.new_intermediate(root, "x", now=NOW)
    with pytest.raises(CAError, match="pathlen 0"):
        mesh_ca.load_root(leaf_pem, leaf_key, now=NOW)
    key = mesh_ca.generate_key("ec-p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not a ca")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    with pytest.raises(CAError, match="not a CA"):
        mesh_ca.load_root(mesh_ca.cert_pem(cert), mesh_ca.key_pem(key), now=NOW)


def test_expired_and_garbage_user_roots_refused(root):
    with pytest.raises(CAError, match="expired"):
        mesh_ca.load_root(root.cert_pem, root.key_pem, now=NOW + datetime.timedelta(days=4000))
    with pytest.raises(CAError, match="root_cert is not a PEM certificate"):
        mesh_ca.load_root("hello", root.key_pem)
    with pytest.raises(CAError, match="root_key is not a PEM private key"):
        mesh_ca.load_root(root.cert_pem, "hello")


def test_broken_bundle_refused(root, other_root):
    with pytest.raises(CAError, match="not a chain"):
        mesh_ca.load_root(root.cert_pem + other_root.cert_pem, root.key_pem, now=NOW)


# --- the root without its key (runs that sign nothing) ----------------------------------

def test_store_certs_text_stops_before_the_key(root, tmp_path):
    path = tmp_path / "root-ca.pem"
    path.write_text(mesh_ca.store_text(root))

    class Lines(object):
        """A file's lines, recording how many were handed out."""

        def __init__(self, text):
            self.lines, self.given = text.splitlines(True), []

        def __iter__(self):
            for line in self.lines:
                self.given.append(line)
                yield line

    lines = Lines(path.read_text())
    text = mesh_ca.store_certs_text(lines)
    assert text == root.bundle_pem
    assert "PRIVATE KEY" not in text
    # nothing after the key's BEGIN line was read
    assert lines.given[-1].startswith("-----BEGIN PRIVATE KEY")
    given = [line.strip() for line in lines.given]
    assert not any(line in given for line in root.key_pem.splitlines()[1:])
    assert mesh_ca.store_certs_text(["-----BEGIN PRIVATE KEY-----\n", "abc\n"]) == ""
    assert mesh_ca.store_certs_text([]) == ""


def test_public_root_checks_and_keeps_intermediates(root, other_root):
    public = mesh_ca.load_public_root(root.bundle_pem, source="store", now=NOW)
    assert public.key is None and public.fingerprint == root.fingerprint and public.source == "store"
    existing = plan(None, root)["data"]
    kept = plan(existing, public)
    assert not kept["reissued"] and not kept["changed"] and kept["data"] == existing
    assert mesh_ca.reissue_reason(existing, mesh_ca.load_public_root(other_root.bundle_pem, now=NOW), "mesh-1",
                                  now=NOW) == "not signed by the current root"


def test_public_root_cannot_sign(root):
    public = mesh_ca.load_public_root(root.bundle_pem, source="store", now=NOW)
    with pytest.raises(CAError, match="needs a new intermediate \\(no cacerts\\) and the root was read without its key"):
        plan(None, public)
    with pytest.raises(CAError, match="rotation requested"):
        plan(plan(None, root)["data"], public, rotate=True)


def test_public_root_refuses_what_load_root_refuses(root, other_root):
    with pytest.raises(CAError, match="expired"):
        mesh_ca.load_public_root(root.cert_pem, now=NOW + datetime.timedelta(days=4000))
    with pytest.raises(CAError, match="not a chain"):
        mesh_ca.load_public_root(root.cert_pem + other_root.cert_pem, now=NOW)
    leaf_pem = mesh_ca.new_intermediate(root, "x", now=NOW)[0]
    with pytest.raises(CAError, match="pathlen 0"):
        mesh_ca.load_public_root(leaf_pem, now=NOW)
