"""Workload certificates from each cluster's istiod (run locally by meshsandbox.istiod), as a sidecar gets them.

  workload_cert.py WORKDIR CLUSTER:SA [CLUSTER:SA ...]

For each cluster: a ServiceAccount SA in namespace default, a token for it (TokenRequest, audience
istio-ca, 10 minutes), and xds-probe -csr against that cluster's istiod (its secure gRPC port, TLS
verified with root-cert.pem of istio-system/cacerts): a new key and CSR for
spiffe://cluster.local/ns/default/sa/SA, CreateCertificate with the token. Then checks with
cryptography, against what the cluster's cacerts and the other clusters' root bundles (ConfigMap
istio-ca-root-cert, which istiod publishes in every namespace) say:
  - the leaf's URI SAN is the SPIFFE id;
  - the leaf is signed by the cluster's intermediate (ca-cert.pem of cacerts);
  - the chain goes up to the root of cacerts (root-cert.pem);
  - the leaf verifies against each other cluster's root bundle (the cross-cluster trust of mTLS);
  - the leaf does NOT verify against a throwaway root of another mesh with the same subject as the
    real root (the check can fail, and says why).
Prints JSON: subjects, SHA-256 fingerprints (colon hex, as mesh_ca returns them) and results. Never a
key or a token (the token file is 0600 in WORKDIR, the key never leaves xds-probe's memory).
"""
import base64
import datetime
import json
import os
import subprocess
import sys
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID
from kubernetes import client, config

from meshsandbox.clusters import ClusterManager
from meshsandbox.istiod import LocalIstiod, istio_bin

NAMESPACE = "default"
TRUST_DOMAIN = "cluster.local"


def fingerprint(cert):
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def load_chain(data):
    return x509.load_pem_x509_certificates(data if isinstance(data, bytes) else data.encode())


def issued_by(cert, issuer):
    """None when issuer signed cert, else why not."""
    try:
        cert.verify_directly_issued_by(issuer)
        return None
    except (ValueError, TypeError, InvalidSignature) as exc:
        return "%s: %s" % (type(exc).__name__, str(exc) or "bad signature")


def verify(chain, anchors):
    """(ok, reason): chain (leaf first) leads to one of anchors, every link signed and valid now."""
    now = datetime.datetime.now(datetime.timezone.utc)
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return False, "%s is not valid now" % cert.subject.rfc4514_string()
    anchor_fps = set(fingerprint(a) for a in anchors)
    for i, cert in enumerate(chain):
        if fingerprint(cert) in anchor_fps:
            return True, "reached the anchor %s" % cert.subject.rfc4514_string()
        reasons = []
        for anchor in anchors:
            why = issued_by(cert, anchor)
            if why is None:
                return True, "%s signed by the anchor %s" % (
                    cert.subject.rfc4514_string() or "the leaf", anchor.subject.rfc4514_string())
            reasons.append(why)
        if i + 1 == len(chain):
            return False, "no root of the bundle signed %s (issuer %s): %s" % (
                cert.subject.rfc4514_string() or "the leaf", cert.issuer.rfc4514_string(), "; ".join(reasons))
        why = issued_by(cert, chain[i + 1])
        if why is not None:
            return False, "chain link %d not signed by link %d: %s" % (i, i + 1, why)
    return False, "empty chain"


def throwaway_root(like):
    """A self-signed root of another mesh: same subject as the real root, another key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(like.subject).issuer_name(like.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


def write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(data)


def root_bundle(core, wait=30):
    """The roots a cluster's workloads trust: ConfigMap istio-ca-root-cert in their namespace."""
    deadline = time.time() + wait
    while True:
        try:
            cm = core.read_namespaced_config_map("istio-ca-root-cert", NAMESPACE)
            return load_chain(cm.data["root-cert.pem"])
        except client.ApiException as exc:
            if exc.status != 404 or time.time() > deadline:
                raise SystemExit("workload_cert.py: no ConfigMap %s/istio-ca-root-cert after %ss (%s)"
                                 % (NAMESPACE, wait, exc.status))
        time.sleep(1)


def request(workdir, name, sa):
    info = ClusterManager().get(name)
    core = client.CoreV1Api(config.new_client_from_config(info["admin_kubeconfig"]))
    cacerts = core.read_namespaced_secret("cacerts", "istio-system").data
    intermediate = x509.load_pem_x509_certificate(base64.b64decode(cacerts["ca-cert.pem"]))
    roots = load_chain(base64.b64decode(cacerts["root-cert.pem"]))
    root_file = os.path.join(workdir, "%s-root-cert.pem" % name)
    with open(root_file, "wb") as handle:
        handle.write(base64.b64decode(cacerts["root-cert.pem"]))
    try:
        core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": sa}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    token = core.create_namespaced_service_account_token(
        sa, NAMESPACE, {"spec": {"audiences": ["istio-ca"], "expirationSeconds": 600}}).status.token
    token_file = os.path.join(workdir, "%s-%s.token" % (name, sa))
    write_private(token_file, token)
    chain_file = os.path.join(workdir, "%s-%s-chain.pem" % (name, sa))
    port = LocalIstiod(info)._state()["ports"]["secure_grpc"]
    probe = subprocess.run(
        [os.path.join(istio_bin(), "xds-probe"), "-csr", "-addr", "127.0.0.1:%d" % port, "-root-cert", root_file,
         "-token", token_file, "-namespace", NAMESPACE, "-service-account", sa, "-cluster", name,
         "-trust-domain", TRUST_DOMAIN, "-out", chain_file, "-timeout", "20s"],
        capture_output=True, text=True, check=False)
    os.unlink(token_file)
    summary = [line for line in probe.stdout.splitlines() if line.startswith('{"')]
    if probe.returncode != 0 or not summary:
        raise SystemExit("workload_cert.py: xds-probe -csr against istiod of %s failed (rc=%d): %s"
                         % (name, probe.returncode, (probe.stderr or probe.stdout)[-800:]))
    with open(chain_file, "rb") as handle:
        chain = load_chain(handle.read())
    leaf = chain[0]
    san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    own_ok, own_reason = verify(chain, roots)
    by_intermediate = issued_by(leaf, intermediate)
    return core, chain, {
        "probe": json.loads(summary[-1]),
        "spiffe_id": "spiffe://%s/ns/%s/sa/%s" % (TRUST_DOMAIN, NAMESPACE, sa),
        "leaf_uris": san.get_values_for_type(x509.UniformResourceIdentifier),
        "leaf_sha256": fingerprint(leaf),
        "leaf_issuer": leaf.issuer.rfc4514_string(),
        "intermediate": {"subject": intermediate.subject.rfc4514_string(), "sha256": fingerprint(intermediate)},
        "signed_by_intermediate": {"ok": by_intermediate is None, "reason": by_intermediate},
        "chain_subjects": [c.subject.rfc4514_string() for c in chain],
        "chain_root_sha256": fingerprint(chain[-1]),
        "cacerts_root_sha256": [fingerprint(r) for r in roots],
        "verifies_own_root": {"ok": own_ok, "reason": own_reason},
    }


def main(workdir, *specs):
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    out, chains, cores = {}, {}, {}
    for spec in specs:
        name, sa = spec.split(":")
        cores[name], chains[name], out[name] = request(workdir, name, sa)
    for name in out:
        cross = {}
        for other in out:
            if other != name:
                bundle = root_bundle(cores[other])
                ok, reason = verify(chains[name], bundle)
                cross[other] = {"ok": ok, "reason": reason, "bundle_sha256": [fingerprint(r) for r in bundle]}
        out[name]["verifies_with_root_bundle_of"] = cross
        foreign = throwaway_root(chains[name][-1])
        ok, reason = verify(chains[name], [foreign])
        out[name]["verifies_with_foreign_root"] = {"ok": ok, "reason": reason, "root_sha256": fingerprint(foreign)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
