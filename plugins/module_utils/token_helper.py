# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fresh EKS and GKE tokens for kubeconfigs, with no cloud CLI (issue 15: tokens never outlive a run).

EKS tokens are accepted for 15 minutes, GKE access tokens for an hour; a slow create or a long Istio
stage outlives a token written once into a kubeconfig. With ``kubeconfig_auth: builtin`` the modules
``eks_cluster``, ``eks_cluster_info`` and ``gke_cluster`` write a kubeconfig whose user is an exec
entry (client.authentication.k8s.io/v1beta1) that runs THIS FILE with the Python interpreter that ran
the module: ``python -c <this source> eks|gke <options>``. Every Kubernetes client (the kubernetes
Python client under kubernetes.core and this collection's modules, kubectl, client-go) runs it when
it needs a token and again when the token nears its expiry, so a token never outlives a task.

This file is a module_utils file (the modules read its source through ``exec_user``) and a program.
So it imports only the standard library, and boto3 or google-auth when it makes a token: the packages
the modules need anyway, so no ``aws`` or ``gcloud`` CLI is needed in the execution environment.

The credentials are the environment's (AWS: the default chain or ``--profile``; GCP: the service
account key file named by ``--key-file``, else application default credentials), never written
into the kubeconfig. Tokens are cached for half their lifetime in files of mode 0600 under
``$MESH_TOKEN_CACHE_DIR`` (default ``~/.cache/multicloud.mesh/tokens``), so that a client that asks
for a token per request does not start boto3 or call the token endpoint each time.

  python -c <source> eks --cluster NAME --region REGION [--endpoint-url URL] [--profile NAME]
  python -c <source> gke [--key-file PATH] [--scope SCOPE ...]
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import calendar
import hashlib
import json
import os
import sys
import time

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
EKS_TOKEN_PREFIX = "k8s-aws-v1."
EKS_CLUSTER_ID_HEADER = "x-k8s-aws-id"
# The presigned URL's own X-Amz-Expires (what aws-iam-authenticator and `aws eks get-token` sign).
# EKS accepts a token for 15 minutes after its X-Amz-Date; the helper counts the presign's 60 s as
# the token's life: signing is local and cheap, and a server that honours X-Amz-Expires (or a
# sandbox whose emulator shortens the lifetime) never sees an older token.
EKS_PRESIGN_EXPIRES = 60
GCP_DEFAULT_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# Environment variables that say whose credentials a token is made from (names, never secrets): part
# of the cache key, so that another identity never gets a cached token of the first.
IDENTITY_ENV = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "GCP_SERVICE_ACCOUNT_FILE")


class HelperError(Exception):
    """A token could not be made; the message says why (printed to stderr by ``main``)."""


def eks_presigned_token(sts, cluster_name, expires=EKS_PRESIGN_EXPIRES):
    """The EKS bearer token made with the boto3 STS client ``sts``: ``k8s-aws-v1.`` + base64url (no
    padding) of a presigned GetCallerIdentity URL whose signature covers ``x-k8s-aws-id``."""
    def add_cluster_header(request, **_kwargs):
        request.headers[EKS_CLUSTER_ID_HEADER] = cluster_name

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=expires, HttpMethod="GET")
    return EKS_TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def eks_token(cluster, region, endpoint_url=None, profile=None):
    """``(token, expiry epoch)`` for ``cluster`` from the environment's AWS credentials."""
    try:
        import boto3  # pylint: disable=import-outside-toplevel
        import botocore.exceptions  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise HelperError("boto3 is not installed for %s" % sys.executable)
    issued = time.time()
    try:
        session = boto3.session.Session(profile_name=profile or None, region_name=region)
        sts = session.client("sts", region_name=region, endpoint_url=endpoint_url or None)
        if session.get_credentials() is None:
            raise HelperError("no AWS credentials in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                              "AWS_PROFILE or an instance role)")
        return eks_presigned_token(sts, cluster), issued + EKS_PRESIGN_EXPIRES
    except botocore.exceptions.BotoCoreError as exc:
        raise HelperError("could not make an EKS token: %s" % exc)


def gke_token(key_file=None, scopes=None):
    """``(token, expiry epoch)`` from the key file ``key_file`` or application default credentials."""
    try:
        import google.auth  # pylint: disable=import-outside-toplevel
        import google.auth.exceptions  # pylint: disable=import-outside-toplevel
        import google.auth.transport.requests  # pylint: disable=import-outside-toplevel
        import google.oauth2.service_account  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise HelperError("google-auth is not installed for %s" % sys.executable)
    scopes = scopes or GCP_DEFAULT_SCOPES
    try:
        if key_file:
            credentials = google.oauth2.service_account.Credentials.from_service_account_file(key_file, scopes=scopes)
        else:
            credentials = google.auth.default(scopes=scopes)[0]
        credentials.refresh(google.auth.transport.requests.Request())
    except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as exc:
        raise HelperError("could not get a GCP access token: %s" % exc)
    expiry = credentials.expiry  # naive UTC
    return credentials.token, (calendar.timegm(expiry.timetuple()) if expiry else time.time() + 300)


def _cache_path(argv, environ):
    base = environ.get("MESH_TOKEN_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                               "multicloud.mesh", "tokens")
    who = dict((name, environ.get(name, "")) for name in IDENTITY_ENV)
    # the secret and the key file count too (only through this one-way digest): new keys, new tokens
    who["secret"] = environ.get("AWS_SECRET_ACCESS_KEY", "") + environ.get("AWS_SESSION_TOKEN", "")
    for index, arg in enumerate(argv[:-1]):
        if arg == "--key-file":
            try:
                stat = os.stat(argv[index + 1])
                who["key-file"] = "%d:%d" % (stat.st_mtime, stat.st_size)
            except OSError:
                pass
    digest = hashlib.sha256(json.dumps([list(argv), who], sort_keys=True).encode("utf-8")).hexdigest()
    return base, os.path.join(base, digest[:32] + ".json")


def cached_token(argv, make, now=None, environ=None):
    """``make()`` -> ``(token, expiry)``, or the cached result of an earlier call with the same
    ``argv`` and identity while less than half of its lifetime has passed."""
    environ = os.environ if environ is None else environ
    now = time.time() if now is None else now
    base, path = _cache_path(argv, environ)
    try:
        with open(path, "r") as handle:
            entry = json.load(handle)
        if now < entry["issued"] + (entry["expiry"] - entry["issued"]) / 2.0:
            return entry["token"], entry["expiry"]
    except (OSError, IOError, ValueError, KeyError, TypeError):
        pass
    token, expiry = make()
    try:
        if not os.path.isdir(base):
            os.makedirs(base, 0o700)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"token": token, "expiry": expiry, "issued": now}, handle)
        os.rename(tmp, path)
    except (OSError, IOError):
        pass  # no cache: a token per call, still correct
    return token, expiry


def exec_credential(token, expiry):
    """The ExecCredential document a Kubernetes client reads from the helper's stdout."""
    return {"apiVersion": EXEC_API_VERSION, "kind": "ExecCredential",
            "status": {"token": token,
                       "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry))}}


def _options(args):
    """``--name value`` pairs (repeatable) of ``args`` as a dict of lists."""
    out = {}
    if len(args) % 2:
        raise HelperError("options come in pairs (--name value): %s" % " ".join(args))
    for index in range(0, len(args), 2):
        if not args[index].startswith("--"):
            raise HelperError("unexpected argument %r" % args[index])
        out.setdefault(args[index][2:], []).append(args[index + 1])
    return out


def token_for(argv):
    """``(token, expiry)`` for a command line ``eks|gke --option value ...``."""
    if not argv or argv[0] not in ("eks", "gke"):
        raise HelperError("usage: eks --cluster NAME --region REGION [--endpoint-url URL] [--profile NAME] | "
                          "gke [--key-file PATH] [--scope SCOPE ...]")
    opts = _options(argv[1:])
    if argv[0] == "eks":
        if not opts.get("cluster") or not opts.get("region"):
            raise HelperError("eks needs --cluster and --region")
        return cached_token(argv, lambda: eks_token(opts["cluster"][0], opts["region"][0],
                                                    (opts.get("endpoint-url") or [None])[0],
                                                    (opts.get("profile") or [None])[0]))
    return cached_token(argv, lambda: gke_token((opts.get("key-file") or [None])[0], opts.get("scope")))


def exec_user(kind, options, python=None):
    """The kubeconfig ``user`` entry that runs this helper (``kind`` eks or gke; ``options`` its
    ``--name value`` list) with ``python`` (default: the interpreter running the module)."""
    import inspect  # pylint: disable=import-outside-toplevel
    source = inspect.getsource(sys.modules[__name__])
    return {"exec": {"apiVersion": EXEC_API_VERSION, "command": python or sys.executable,
                     "args": ["-c", source, kind] + list(options),
                     "interactiveMode": "Never", "provideClusterInfo": False}}


def main(argv):
    """Print an ExecCredential for ``argv``; 1 and one line on stderr when no token can be made."""
    try:
        token, expiry = token_for(argv)
    except HelperError as exc:
        sys.stderr.write("multicloud.mesh token helper: %s\n" % exc)
        return 1
    sys.stdout.write(json.dumps(exec_credential(token, expiry)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
