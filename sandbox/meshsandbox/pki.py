"""Certificates and keys for the sandbox's local control planes (one CA per cluster)."""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject_cn, key, issuer_cert, issuer_key, *, ca=False, org=None, sans=(), usages=(), days=365):
    now = datetime.datetime.now(datetime.timezone.utc)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    subject = x509.Name(attrs)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
            content_commitment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if sans:
        names = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def make_cluster_pki(directory, service_ip="10.96.0.1"):
    """Create CA, serving, client and service-account keys for one cluster under ``directory``.

    Idempotent: an existing CA is kept so kubeconfigs stay valid across restarts.
    Returns a dict of file paths.
    """
    os.makedirs(directory, mode=0o700, exist_ok=True)
    paths = {name: os.path.join(directory, name) for name in (
        "ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key",
        "kcm.crt", "kcm.key", "scheduler.crt", "scheduler.key", "sa.key", "sa.pub")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    ca_key = _key()
    ca = _cert("multicloud-mesh-sandbox-ca", ca_key, None, None, ca=True, days=3650)
    _write(paths["ca.key"], _key_pem(ca_key))
    _write(paths["ca.crt"], ca.public_bytes(serialization.Encoding.PEM))
    server = (ExtendedKeyUsageOID.SERVER_AUTH,)
    client = (ExtendedKeyUsageOID.CLIENT_AUTH,)
    issued = {
        "apiserver": dict(cn="kube-apiserver", usages=server + client, sans=(
            "127.0.0.1", "localhost", service_ip, "kubernetes", "kubernetes.default",
            "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")),
        "admin": dict(cn="sandbox-admin", org="system:masters", usages=client),
        "kcm": dict(cn="system:kube-controller-manager", usages=client),
        "scheduler": dict(cn="system:kube-scheduler", usages=client),
    }
    for name, spec in issued.items():
        key = _key()
        cert = _cert(spec["cn"], key, ca, ca_key, org=spec.get("org"), sans=spec.get("sans", ()),
                     usages=spec["usages"])
        _write(paths[name + ".key"], _key_pem(key))
        _write(paths[name + ".crt"], cert.public_bytes(serialization.Encoding.PEM))
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(paths["sa.key"], sa.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.TraditionalOpenSSL,
                                             serialization.NoEncryption()))
    _write(paths["sa.pub"], sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    return paths
