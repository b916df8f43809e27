"""The reader token of SOURCE in HOLDER's remote secret: what it says of itself, and whether SOURCE accepts it.

  reader_token.py show HOLDER SOURCE [--save FILE]
      JSON: sha256 of the token (never the token), its iat/exp, life in days, the Secret it is bound
      to, the Secret's token-expires annotation, and "accepted" (a TokenReview on SOURCE).
      --save writes the token to FILE (0600), for a later "review".
  reader_token.py review SOURCE FILE
      JSON: whether SOURCE's API server still accepts the token saved in FILE.
  reader_token.py plant HOLDER SOURCE EXPIRES_IN AGE_DAYS FILE
      Replaces the token in HOLDER's remote secret of SOURCE by one that time would have made: the
      same claims, signed with SOURCE's own ServiceAccount key, issued AGE_DAYS days ago and
      expiring in EXPIRES_IN seconds. Prints what "show" prints for it (SOURCE must accept it, or
      the test would prove nothing), and saves the planted token to FILE (0600).

HOLDER and SOURCE are sandbox cluster names. Nothing secret is printed.
"""
import base64
import hashlib
import json
import os
import sys
import time

import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from kubernetes import client, config

from meshsandbox.clusters import ClusterManager

NAMESPACE = "istio-system"


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _api(name):
    return config.new_client_from_config(ClusterManager().get(name)["admin_kubeconfig"])


def _remote_secret(holder, source):
    return client.CoreV1Api(_api(holder)).read_namespaced_secret("istio-remote-secret-%s" % source, NAMESPACE)


def _token_of(secret, source):
    kubeconfig = yaml.safe_load(base64.b64decode(secret.data[source]))
    return kubeconfig["users"][0]["user"]["token"], kubeconfig


def _accepted(source, token):
    review = client.AuthenticationV1Api(_api(source)).create_token_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
    return bool(review.status.authenticated) and \
        review.status.user.username == "system:serviceaccount:%s:istio-reader-service-account" % NAMESPACE


def _iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)) if seconds else None


def describe(source, token, annotation=None):
    claims = json.loads(_unb64url(token.split(".")[1]))
    bound = (claims.get("kubernetes.io") or {}).get("secret") or {}
    return {"sha256": hashlib.sha256(token.encode()).hexdigest(), "iat": _iso(claims.get("iat")),
            "exp": _iso(claims.get("exp")),
            "life_days": round((claims["exp"] - claims["iat"]) / 86400.0, 3) if claims.get("exp") else None,
            "bound_to": bound.get("name"), "annotation": annotation, "accepted": _accepted(source, token)}


def _save(path, token):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)


def show(holder, source, save=None):
    secret = _remote_secret(holder, source)
    token = _token_of(secret, source)[0]
    if save:
        _save(save, token)
    return describe(source, token, (secret.metadata.annotations or {}).get("multicloud.mesh/token-expires"))


def plant(holder, source, expires_in, age_days, save):  # pylint: disable=too-many-locals
    secret = _remote_secret(holder, source)
    token, kubeconfig = _token_of(secret, source)
    header_b64, payload_b64 = token.split(".")[:2]
    claims = json.loads(_unb64url(payload_b64))
    now = int(time.time())
    claims.update(iat=now - int(float(age_days) * 86400), nbf=now - int(float(age_days) * 86400),
                  exp=now + int(expires_in))
    signing_input = ("%s.%s" % (header_b64, _b64url(json.dumps(claims, separators=(",", ":")).encode()))).encode()
    with open(ClusterManager().get(source)["service_account_key"], "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    old = token
    token = "%s.%s" % (signing_input.decode(), _b64url(signature))
    kubeconfig["users"][0]["user"]["token"] = token
    body = {"data": {source: base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()}}
    client.CoreV1Api(_api(holder)).patch_namespaced_secret(secret.metadata.name, NAMESPACE, body)
    _save(save, token)
    out = describe(source, token)
    out["replaced"] = hashlib.sha256(old.encode()).hexdigest()
    return out


def main(argv):
    if argv[:1] == ["show"] and len(argv) in (3, 5):
        out = show(argv[1], argv[2], argv[4] if len(argv) == 5 and argv[3] == "--save" else None)
    elif argv[:1] == ["review"] and len(argv) == 3:
        with open(argv[2]) as handle:
            out = {"accepted": _accepted(argv[1], handle.read().strip())}
    elif argv[:1] == ["plant"] and len(argv) == 6:
        out = plant(*argv[1:6])
    else:
        sys.exit(__doc__)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
