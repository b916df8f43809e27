"""Throwaway test PKI: one root, an intermediate per cluster, as Secret istio-system/cacerts.

Stand-in for multicloud.mesh.mesh_ca in this test only (test keys, short-lived, never reused).
  cacerts.py WORKDIR KUBECONFIG CLUSTER      creates/keeps WORKDIR/root.{crt,key}, applies cacerts
"""
import base64
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client, config


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_cert(subject, issuer, key, issuer_key, path_len):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "multicloud.mesh test"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(issuer_key, hashes.SHA256()))


def root(workdir):
    crt, key = os.path.join(workdir, "root.crt"), os.path.join(workdir, "root.key")
    if not os.path.exists(crt):
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "multicloud.mesh test"),
                          x509.NameAttribute(NameOID.COMMON_NAME, "test root")])
        c = make_cert("test root", name, k, k, 1)
        with open(key, "wb") as handle:
            handle.write(key_pem(k))
        with open(crt, "wb") as handle:
            handle.write(pem(c))
    with open(crt, "rb") as handle:
        c = x509.load_pem_x509_certificate(handle.read())
    with open(key, "rb") as handle:
        k = serialization.load_pem_private_key(handle.read(), None)
    return c, k


def main(workdir, kubeconfig, cluster):
    os.makedirs(workdir, exist_ok=True)
    root_cert, root_key = root(workdir)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert("intermediate %s" % cluster, root_cert.subject, key, root_key, 0)
    data = {"ca-cert.pem": pem(cert), "ca-key.pem": key_pem(key), "root-cert.pem": pem(root_cert),
            "cert-chain.pem": pem(cert) + pem(root_cert)}
    api = client.CoreV1Api(config.new_client_from_config(kubeconfig))
    try:
        api.create_namespace({"metadata": {"name": "istio-system"}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    body = {"metadata": {"name": "cacerts", "namespace": "istio-system"}, "type": "Opaque",
            "data": dict((k, base64.b64encode(v).decode()) for k, v in data.items())}
    try:
        api.create_namespaced_secret("istio-system", body)
        print("created istio-system/cacerts in %s" % cluster)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        print("istio-system/cacerts exists in %s" % cluster)


if __name__ == "__main__":
    main(*sys.argv[1:4])
