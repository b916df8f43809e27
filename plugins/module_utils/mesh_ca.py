# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where the mesh CA is made: the root CA, one intermediate per cluster, Istio's ``cacerts``.

Pure logic (no Kubernetes, no files), so every decision is unit-testable:

- ``new_root`` / ``load_root``: a generated or user-supplied root (a bundle whose first
  certificate is the signing CA and whose last is the trust anchor, for enterprise PKI);
  ``load_public_root``: the same certificates without the key (checking intermediates and
  building ``cacerts`` need no key; only signing does).
- ``new_intermediate``: an intermediate CA per cluster as Istio's plug-in CA expects it
  (O=Istio, CN "Intermediate CA <cluster>", L=<cluster>, CA:true pathlen:0, keyCertSign,
  SAN DNS istiod.istio-system.svc and the SPIFFE trust domain URI).
- ``plan_cacerts``: decide whether a cluster's existing ``cacerts`` can be kept byte-for-byte
  or its intermediate must be reissued (missing, unreadable, key mismatch, not signed by the
  current root, expiring within the renew window, rotation requested).
- ``describe``: fingerprints, subjects and dates for results and diffs; never key material.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import traceback

CRYPTOGRAPHY_IMP_ERR = None
try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMP_ERR = traceback.format_exc()

KEY_TYPES = ("ec-p256", "rsa-2048", "rsa-4096")
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "multicloud.mesh"
CACERTS_NAMESPACE = "istio-system"
CACERTS_NAME = "cacerts"
CACERTS_KEYS = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")
STORE_CERT_KEY = "root-cert.pem"
STORE_KEY_KEY = "root-key.pem"
ISTIOD_SAN_DNS = "istiod.istio-system.svc"
ISTIO_ORG = "Istio"
# Backdate notBefore a little so that clusters whose clocks lag accept new certificates.
CLOCK_SKEW = datetime.timedelta(minutes=5)


class CAError(Exception):
    """A CA problem with a message fit for ``fail_json`` (never containing key material)."""

    def __init__(self, msg):
        super(CAError, self).__init__(msg)
        self.msg = msg


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _text(value):
    if isinstance(value, bytes):
        return value.decode("ascii")
    return value


def _nl(pem):
    pem = _text(pem or "")
    return pem if pem.endswith("\n") else pem + "\n"


# --- keys -----------------------------------------------------------------------------

def generate_key(key_type):
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type in ("rsa-2048", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type.split("-")[1]))
    raise CAError("key_type %r is not supported; use one of %s" % (key_type, ", ".join(KEY_TYPES)))


def key_type_of(key):
    """The KEY_TYPES name of a private or public key (or a descriptive string)."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ec-p256" if key.curve.name == "secp256r1" else "ec-%s" % key.curve.name
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "rsa-%d" % key.key_size
    return type(key).__name__


def key_pem(key):
    """PKCS#8 PEM of a private key (deterministic for the same key)."""
    return _text(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def cert_pem(cert):
    return _text(cert.public_bytes(serialization.Encoding.PEM))


def load_key(pem, what):
    """Load a PEM private key; the error never echoes the key."""
    try:
        return serialization.load_pem_private_key(_text(pem).encode("ascii"), password=None)
    except TypeError:
        raise CAError("%s is encrypted; supply it without a passphrase" % what)
    except (ValueError, UnicodeError):
        raise CAError("%s is not a PEM private key" % what)
    except Exception:  # pylint: disable=broad-except
        raise CAError("%s is not a PEM private key of a supported type" % what)


def load_certs(pem, what):
    """Load every certificate of a PEM bundle (at least one)."""
    try:
        certs = x509.load_pem_x509_certificates(_text(pem).encode("ascii"))
    except (ValueError, UnicodeError, AttributeError):
        certs = []
    if not certs:
        raise CAError("%s is not a PEM certificate" % what)
    return certs


def public_keys_match(key, cert):
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.DER, public) == \
        cert.public_key().public_bytes(serialization.Encoding.DER, public)


# --- certificate facts ----------------------------------------------------------------

def fingerprint(cert):
    return ":".join("%02X" % b for b in bytearray(cert.fingerprint(hashes.SHA256())))


def _basic_constraints(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def is_ca(cert):
    constraints = _basic_constraints(cert)
    return bool(constraints and constraints.ca)


def path_length(cert):
    constraints = _basic_constraints(cert)
    return constraints.path_length if constraints else None


def can_sign_certs(cert):
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return bool(usage.key_cert_sign)


def not_after(cert):
    return cert.not_valid_after_utc


def not_before(cert):
    return cert.not_valid_before_utc


def signed_by(cert, issuer):
    """True when ``issuer`` directly issued ``cert`` (names and signature)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def describe(cert):
    """Public facts of a certificate for results and diffs."""
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": "%X" % cert.serial_number,
        "not_before": not_before(cert).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": not_after(cert).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fingerprint": fingerprint(cert),
        "key_type": key_type_of(cert.public_key()),
    }


# --- root -----------------------------------------------------------------------------

class RootCA(object):
    """The signing CA of the mesh with its chain up to the trust anchor.

    ``cert``/``key`` sign the intermediates; ``chain`` holds the certificates above ``cert``
    (empty for a self-signed root). ``source`` says where it came from.
    """

    def __init__(self, cert, key, chain=None, source="generated"):
        self.cert = cert
        self.key = key
        self.chain = list(chain or [])
        self.source = source

    @property
    def anchor(self):
        return self.chain[-1] if self.chain else self.cert

    @property
    def cert_pem(self):
        return cert_pem(self.cert)

    @property
    def bundle_pem(self):
        """The signing CA and its chain, as stored and appended to cert-chain.pem."""
        return "".join(cert_pem(c) for c in [self.cert] + self.chain)

    @property
    def anchor_pem(self):
        return cert_pem(self.anchor)

    @property
    def key_pem(self):
        return key_pem(self.key)

    @property
    def fingerprint(self):
        return fingerprint(self.cert)

    def describe(self):
        info = describe(self.cert)
        info["source"] = self.source
        info["anchor_fingerprint"] = fingerprint(self.anchor)
        return info


def _name(org, common_name, locality=None, unit=None):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    if locality:
        attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _ca_key_usage():
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                         encipher_only=False, decipher_only=False)


def _days(days, what):
    if not isinstance(days, int) or days < 1:
        raise CAError("%s must be a positive number of days, got %r" % (what, days))
    return datetime.timedelta(days=days)


def new_root(mesh_id, key_type="ec-p256", validity_days=3650, now=None):
    """A self-signed root CA for the mesh (CA:true, pathlen:1: root -> intermediate -> workloads)."""
    now = now or utcnow()
    key = generate_key(key_type)
    subject = _name(ISTIO_ORG, "Root CA", unit=mesh_id or None)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + _days(validity_days, "root_validity_days"))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256()))
    return RootCA(cert, key, source="generated")


def load_root(cert_text, key_text, source="user", now=None):
    """Validate a root given as PEM (certificate bundle + key) and return a RootCA.

    Refuses: a key that does not match the first certificate, a certificate that is not a
    CA or may not sign CAs (pathlen 0, no keyCertSign), an expired one, a chain whose
    links do not verify.
    """
    what = {"user": "root_cert", "store": "the root in the root store"}.get(source, source)
    load_certs(cert_text, what)
    key = load_key(key_text, what.replace("root_cert", "root_key").replace("the root in", "the root key in"))
    root = load_public_root(cert_text, source, now, key=key)
    root.key = key
    return root


def load_public_root(cert_text, source="store", now=None, key=None):
    """The certificates of a root without its key (``RootCA.key`` is None), validated like
    ``load_root`` except for the key: enough to check intermediates and to build ``cacerts``
    data, not to sign. Used when nothing has to be signed, so the key is never read."""
    now = now or utcnow()
    what = {"user": "root_cert", "store": "the root in the root store"}.get(source, source)
    certs = load_certs(cert_text, what)
    cert = certs[0]
    if key is not None and not public_keys_match(key, cert):
        raise CAError("%s: the private key does not match the certificate %s (fingerprint %s)"
                      % (what, cert.subject.rfc4514_string(), fingerprint(cert)))
    if not is_ca(cert):
        raise CAError("%s: %s is not a CA certificate (basicConstraints CA:true is missing)"
                      % (what, cert.subject.rfc4514_string()))
    if path_length(cert) == 0:
        raise CAError("%s: %s has pathlen 0, so it cannot sign the intermediate CAs of the clusters"
                      % (what, cert.subject.rfc4514_string()))
    if not can_sign_certs(cert):
        raise CAError("%s: %s may not sign certificates (keyUsage has no keyCertSign)"
                      % (what, cert.subject.rfc4514_string()))
    if not_after(cert) <= now:
        raise CAError("%s: %s expired on %s" % (what, cert.subject.rfc4514_string(), describe(cert)["not_after"]))
    for child, parent in zip(certs, certs[1:]):
        if not signed_by(child, parent):
            raise CAError("%s: the bundle is not a chain: %s is not issued by %s"
                          % (what, child.subject.rfc4514_string(), parent.subject.rfc4514_string()))
    return RootCA(cert, None, chain=certs[1:], source=source)


def store_text(root):
    """Content of a file root store: the certificate bundle, then the key (write it 0600)."""
    return root.bundle_pem + root.key_pem


def store_certs_text(lines):
    """The certificates of a file root store, from its lines up to the private key.

    ``lines`` is an iterable of lines (an open file): reading stops at the key's BEGIN line, so
    the key is neither parsed nor kept. Returns "" when there is no certificate.
    """
    kept = []
    for line in lines:
        line = _text(line)
        if line.startswith("-----BEGIN") and "PRIVATE KEY-----" in line:
            break
        kept.append(line)
    text = "".join(kept)
    return text if "-----BEGIN CERTIFICATE-----" in text else ""


def split_store_text(text):
    """Split a file root store into (certificates PEM, key PEM)."""
    text = _text(text or "")
    marker = "-----BEGIN"
    certs, keys = [], []
    for block in text.split(marker)[1:]:
        block = marker + block
        (keys if "PRIVATE KEY-----" in block.split("\n", 1)[0] else certs).append(block.strip() + "\n")
    if not certs or len(keys) != 1:
        raise CAError("the root store file must hold the root certificate(s) and exactly one private key in PEM")
    return "".join(certs), keys[0]


# --- intermediates --------------------------------------------------------------------

def intermediate_common_name(cluster):
    return "Intermediate CA %s" % cluster


def new_intermediate(root, cluster, key_type="ec-p256", validity_days=365, trust_domain="cluster.local", now=None):
    """Issue the intermediate CA of one cluster; returns (cert PEM, key PEM).

    Its lifetime never reaches past the signing CA's.
    """
    now = now or utcnow()
    key = generate_key(key_type)
    end = min(now + _days(validity_days, "intermediate_validity_days"), not_after(root.cert))
    san = [x509.DNSName(ISTIOD_SAN_DNS)]
    if trust_domain:
        san.append(x509.UniformResourceIdentifier("spiffe://%s" % trust_domain))
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(_name(ISTIO_ORG, intermediate_common_name(cluster), locality=cluster))
            .issuer_name(root.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .sign(root.key, hashes.SHA256()))
    return cert_pem(cert), key_pem(key)


def cacerts_data(root, ca_cert_pem, ca_key_pem):
    """The four entries of Istio's ``cacerts`` secret, as text."""
    return {
        "ca-cert.pem": ca_cert_pem,
        "ca-key.pem": ca_key_pem,
        "root-cert.pem": root.anchor_pem,
        "cert-chain.pem": _nl(ca_cert_pem) + root.bundle_pem,
    }


def reissue_reason(existing, root, cluster, renew_before_days=30, rotate=False, now=None):
    """Why the intermediate in ``existing`` (cacerts data as text, or None) must be reissued.

    Returns None when it can be kept.
    """
    now = now or utcnow()
    if rotate:
        return "rotation requested"
    if not existing or not existing.get("ca-cert.pem") or not existing.get("ca-key.pem"):
        return "no cacerts"
    try:
        cert = load_certs(existing["ca-cert.pem"], "ca-cert.pem")[0]
        key = load_key(existing["ca-key.pem"], "ca-key.pem")
    except CAError as exc:
        return "unreadable: %s" % exc.msg
    if not public_keys_match(key, cert):
        return "ca-key.pem does not match ca-cert.pem"
    if not is_ca(cert):
        return "ca-cert.pem is not a CA"
    if not signed_by(cert, root.cert):
        return "not signed by the current root"
    if cert.subject != _name(ISTIO_ORG, intermediate_common_name(cluster), locality=cluster):
        return "subject %s is not the one of cluster %s" % (cert.subject.rfc4514_string(), cluster)
    left = not_after(cert) - now
    if left <= datetime.timedelta(0):
        return "expired"
    if left < datetime.timedelta(days=renew_before_days):
        # Reissuing only helps when the signing CA lives longer than this intermediate.
        if not_after(root.cert) - not_after(cert) > datetime.timedelta(days=1):
            return "expires within %d days" % renew_before_days
    return None


def plan_cacerts(existing, root, cluster, key_type="ec-p256", validity_days=365, renew_before_days=30,
                 rotate=False, trust_domain="cluster.local", now=None):
    """Decide the ``cacerts`` data of one cluster.

    ``existing`` is the current secret data decoded to text (or None). Returns a dict:
    ``data`` (the desired four entries), ``reissued`` (bool), ``reason`` (why, or None),
    ``changed`` (data differs from ``existing``), ``cert`` (the intermediate certificate).
    A kept intermediate is reused byte-for-byte.
    """
    reason = reissue_reason(existing, root, cluster, renew_before_days, rotate, now)
    if reason and root.key is None:
        raise CAError("cluster %s needs a new intermediate (%s) and the root was read without its key"
                      % (cluster, reason))
    if reason:
        ca_cert, ca_key = new_intermediate(root, cluster, key_type, validity_days, trust_domain, now)
    else:
        ca_cert, ca_key = existing["ca-cert.pem"], existing["ca-key.pem"]
    data = cacerts_data(root, ca_cert, ca_key)
    current = dict((k, (existing or {}).get(k)) for k in CACERTS_KEYS)
    return {
        "data": data,
        "reissued": bool(reason),
        "reason": reason,
        "changed": current != data,
        "cert": load_certs(ca_cert, "ca-cert.pem")[0],
    }


def verify_cacerts(data, now=None):
    """Check a cacerts data set is consistent; returns a list of problems (empty when fine)."""
    now = now or utcnow()
    problems = []
    try:
        cert = load_certs(data["ca-cert.pem"], "ca-cert.pem")[0]
        key = load_key(data["ca-key.pem"], "ca-key.pem")
        chain = load_certs(data["cert-chain.pem"], "cert-chain.pem")
        anchor = load_certs(data["root-cert.pem"], "root-cert.pem")[0]
    except (CAError, KeyError) as exc:
        return [getattr(exc, "msg", "missing %s" % exc)]
    if not public_keys_match(key, cert):
        problems.append("ca-key.pem does not match ca-cert.pem")
    if chain[0] != cert:
        problems.append("cert-chain.pem does not start with ca-cert.pem")
    if chain[-1] != anchor:
        problems.append("cert-chain.pem does not end with root-cert.pem")
    for child, parent in zip(chain, chain[1:]):
        if not signed_by(child, parent):
            problems.append("%s is not signed by %s" % (child.subject.rfc4514_string(), parent.subject.rfc4514_string()))
    if not is_ca(cert) or path_length(cert) != 0:
        problems.append("ca-cert.pem is not a CA with pathlen 0")
    if not not_before(cert) <= now < not_after(cert):
        problems.append("ca-cert.pem is not valid now")
    return problems
