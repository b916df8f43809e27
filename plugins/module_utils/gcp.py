# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where the collection talks to GKE.

- ``auth_argument_spec()`` / ``gcp_session(params)``: the options of the
  ``multicloud.mesh.gcp`` doc fragment -> a google-auth ``AuthorizedSession``
  (service account key file or contents, application default credentials, or
  a bare access token), including the environment variables AWX's credential
  types inject.
- ``GkeClient``: the GKE REST API v1 calls the modules use (clusters, node
  pools, operations). Transient errors (429, 5xx, connection errors) and
  FAILED_PRECONDITION "another operation is running" are retried through
  ``retry.retry_call`` (jittered backoff); operations are polled with
  ``retry.wait_until`` until DONE, honouring the caller's timeout.
- The GKE cluster model of ``gke_cluster``: input validation, request bodies,
  a normalized "view" of a cluster, and ``plan_update(before, after)``, a pure
  function that lists the API calls turning one view into the other and the
  options GKE cannot change in place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import json
import os
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.multicloud.mesh.plugins.module_utils import token_helper
from ansible_collections.multicloud.mesh.plugins.module_utils import validate

from ansible_collections.multicloud.mesh.plugins.module_utils.retry import (
    WaitTimeout,
    retry_call,
    wait_until,
)

GOOGLE_AUTH_IMP_ERR = None
try:
    import google.auth
    import google.auth.exceptions
    import google.oauth2.credentials
    import google.oauth2.service_account
    from google.auth.transport.requests import AuthorizedSession, Request
    import requests
    HAS_GOOGLE_AUTH = True
except ImportError:
    HAS_GOOGLE_AUTH = False
    GOOGLE_AUTH_IMP_ERR = traceback.format_exc()

DEFAULT_ENDPOINT = "https://container.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
RETRYABLE_HTTP = (429, 500, 502, 503, 504)
GKE_AUTH_PLUGIN = "gke-gcloud-auth-plugin"


class GcpError(Exception):
    """A GCP failure with a message fit for fail_json; ``status`` is the google.rpc code name."""

    def __init__(self, message, http_code=None, status=None, details=None):
        super(GcpError, self).__init__(message)
        self.message = message
        self.http_code = http_code
        self.status = status
        self.details = details


# ---------------------------------------------------------------------------------------------
# authentication
# ---------------------------------------------------------------------------------------------

def _first_env(*names):
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return None


def auth_argument_spec():
    """Argument spec of the ``multicloud.mesh.gcp`` doc fragment."""
    return dict(
        auth_kind=dict(type="str", choices=["serviceaccount", "application", "accesstoken"],
                       fallback=(env_fallback, ["GCP_AUTH_KIND"])),
        service_account_file=dict(type="path",
                                  fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_FILE", "GCE_CREDENTIALS_FILE_PATH"])),
        service_account_contents=dict(type="jsonarg", no_log=True,
                                      fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_CONTENTS"])),
        access_token=dict(type="str", no_log=True, fallback=(env_fallback, ["GCP_ACCESS_TOKEN"])),
        scopes=dict(type="list", elements="str", fallback=(env_fallback, ["GCP_SCOPES"])),
        api_endpoint=dict(type="str", fallback=(env_fallback, ["GKE_API_ENDPOINT"])),
    )


def project_from_env():
    """Project from the environment AWX's and gcloud's conventions set."""
    return _first_env("GCP_PROJECT", "GCE_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")


def _auth_kind(params):
    kind = params.get("auth_kind")
    if kind:
        return kind
    if params.get("access_token"):
        return "accesstoken"
    if params.get("service_account_file") or params.get("service_account_contents"):
        return "serviceaccount"
    return "application"


def _key_info(params):
    """The service account key as a dict, or a GcpError saying what is wrong with it."""
    contents = params.get("service_account_contents")
    path = params.get("service_account_file")
    if contents:
        source = "service_account_contents"
        if isinstance(contents, dict):
            info = contents
        else:
            try:
                info = json.loads(contents)
            except ValueError:
                raise GcpError("service_account_contents is not valid JSON")
    elif path:
        source = "service_account_file %s" % path
        if not os.path.isfile(path):
            raise GcpError("service_account_file %s does not exist (or is not a file)" % path)
        try:
            with open(path) as handle:
                info = json.load(handle)
        except ValueError:
            raise GcpError("service_account_file %s is not a JSON service account key" % path)
        except (IOError, OSError) as exc:
            raise GcpError("cannot read service_account_file %s: %s" % (path, exc))
    else:
        raise GcpError("auth_kind=serviceaccount needs service_account_file or service_account_contents "
                       "(or the environment variable GCP_SERVICE_ACCOUNT_FILE / GCE_CREDENTIALS_FILE_PATH)")
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise GcpError("%s is not a service account key: its \"type\" must be \"service_account\"" % source)
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise GcpError("%s lacks %s" % (source, ", ".join(missing)))
    return info


def gcp_credentials(params):
    """google-auth credentials for the auth options (nothing is fetched yet)."""
    if not HAS_GOOGLE_AUTH:
        raise GcpError("the google-auth and requests Python libraries are required: %s" % GOOGLE_AUTH_IMP_ERR)
    scopes = params.get("scopes") or [CLOUD_PLATFORM_SCOPE]
    kind = _auth_kind(params)
    if kind == "accesstoken":
        token = params.get("access_token")
        if not token:
            raise GcpError("auth_kind=accesstoken needs access_token (or the environment variable GCP_ACCESS_TOKEN)")
        return google.oauth2.credentials.Credentials(token)
    if kind == "serviceaccount":
        info = _key_info(params)
        try:
            return google.oauth2.service_account.Credentials.from_service_account_info(info, scopes=scopes)
        except (ValueError, TypeError) as exc:
            raise GcpError("the service account key of %s cannot be loaded: %s" % (info.get("client_email"), exc))
    # application default credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud ADC, metadata server
    try:
        credentials, _project = google.auth.default(scopes=scopes)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise GcpError("no Google credentials found: set auth_kind and service_account_file (or the "
                       "GCP_SERVICE_ACCOUNT_FILE / GOOGLE_APPLICATION_CREDENTIALS environment variable), "
                       "or access_token. google-auth said: %s" % exc)
    return credentials


def refresh_credentials(credentials):
    """Make sure ``credentials.token`` is valid; errors become GcpError."""
    if getattr(credentials, "valid", False) and credentials.token:
        return credentials.token
    if isinstance(credentials, google.oauth2.credentials.Credentials) and not credentials.refresh_token:
        if credentials.token:
            return credentials.token
    try:
        credentials.refresh(Request())
    except google.auth.exceptions.RefreshError as exc:
        who = getattr(credentials, "service_account_email", None) or "the credentials"
        raise GcpError("could not get an access token for %s: %s" % (who, _refresh_reason(exc)))
    except google.auth.exceptions.TransportError as exc:
        raise GcpError("could not reach the token endpoint: %s" % exc)
    return credentials.token


def _refresh_reason(exc):
    args = getattr(exc, "args", ())
    if len(args) > 1 and isinstance(args[1], dict):
        return "%s (%s)" % (args[1].get("error_description") or args[0], args[1].get("error", ""))
    return str(exc)


def authorized_session(credentials):
    """A requests session that sends the credentials' token.

    A bare access token cannot be refreshed: a plain session with the header, so that a rejected
    token surfaces as the API's UNAUTHENTICATED error instead of google-auth's refresh complaint.
    """
    if isinstance(credentials, google.oauth2.credentials.Credentials) and not credentials.refresh_token:
        session = requests.Session()
        session.headers["Authorization"] = "Bearer %s" % credentials.token
        return session
    return AuthorizedSession(credentials)


def gcp_session(params):
    """A session for the auth options; the first token is fetched at once."""
    credentials = gcp_credentials(params)
    refresh_credentials(credentials)
    return authorized_session(credentials)


# ---------------------------------------------------------------------------------------------
# REST client
# ---------------------------------------------------------------------------------------------

def error_from_response(response, what):
    """google.rpc.Status body -> GcpError with a message that says what to do."""
    status = None
    message = response.text[:500]
    try:
        body = response.json()
        error = body.get("error") or {}
        if isinstance(error, dict):
            status = error.get("status")
            message = error.get("message") or message
    except ValueError:
        pass
    code = response.status_code
    status = status or {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                        404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED"}.get(code, "HTTP_%d" % code)
    hint = ""
    if status == "PERMISSION_DENIED":
        hint = (" (the credentials lack permission: give the service account roles/container.admin "
                "on the project, and check the project name)")
    elif status == "UNAUTHENTICATED":
        hint = " (the access token was rejected: check the credentials and their scopes)"
    return GcpError("%s: %s %s%s" % (what, status, message, hint), http_code=code, status=status)


def _running_op_name(exc):
    m = re.search(r"(operation-[A-Za-z0-9-]+)", getattr(exc, "message", "") or "")
    return m.group(1) if m else None


class GkeClient:
    """The GKE v1 calls of one project/location."""

    def __init__(self, session, project, location, endpoint=None, timeout=600, poll_interval=2.0,
                 request_timeout=60, warn=None, progress=None):
        self.session = session
        self.progress = progress  # a module_utils.progress.Progress, noted on every poll of an operation
        self.project = project
        self.location = location
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        self.warn = warn or (lambda msg: None)
        self.retries = 0
        self.sleep = time.sleep  # replaceable in tests, passed to retry_call / wait_until
        self.clock = time.monotonic

    # ---- plumbing ----------------------------------------------------------------------------
    @property
    def parent(self):
        return "projects/%s/locations/%s" % (self.project, self.location)

    def _url(self, path):
        return "%s/v1/%s" % (self.endpoint, path)

    def _once(self, method, path, body=None, what=None):
        try:
            response = self.session.request(method, self._url(path), json=body, timeout=self.request_timeout)
        except google.auth.exceptions.RefreshError as exc:
            raise GcpError("could not get an access token: %s" % _refresh_reason(exc))
        except requests.exceptions.RequestException as exc:
            raise GcpError("%s: cannot reach %s: %s" % (what or method, self.endpoint, exc), status="UNAVAILABLE")
        if response.status_code >= 400:
            raise error_from_response(response, what or "%s %s" % (method, path))
        if not response.content:
            return {}
        return response.json()

    @staticmethod
    def _transient(exc):
        return isinstance(exc, GcpError) and (exc.http_code in RETRYABLE_HTTP or exc.status == "UNAVAILABLE")

    def _busy(self, exc):
        return isinstance(exc, GcpError) and exc.status == "FAILED_PRECONDITION" and _running_op_name(exc)

    def call(self, method, path, body=None, what=None, mutating=False):
        """One API call, retried on 429/5xx, and for mutations on FAILED_PRECONDITION (busy cluster)."""
        def retryable(exc):
            return self._transient(exc) or (mutating and bool(self._busy(exc)))

        def on_retry(exc, delay):
            self.retries += 1
            op_name = self._busy(exc)
            if op_name:
                # GKE runs one operation per cluster: wait for it, then try again (after the jitter)
                self.wait_operation({"name": op_name}, raise_on_error=False)

        before, started = self.retries, self.clock()
        try:
            return retry_call(lambda: self._once(method, path, body, what), retryable,
                              timeout=self.timeout, on_retry=on_retry, sleep=self.sleep, clock=self.clock)
        except GcpError as exc:
            if self.retries > before and self._transient(exc):
                exc.message += " (still failing after %d retries in %.0fs, the retry budget of this call)" % (
                    self.retries - before, self.clock() - started)
                exc.args = (exc.message,)
            raise

    # ---- clusters ----------------------------------------------------------------------------
    def cluster_path(self, name):
        return "%s/clusters/%s" % (self.parent, name)

    def get_cluster(self, name):
        try:
            return self.call("GET", self.cluster_path(name), what="get cluster %s" % name)
        except GcpError as exc:
            if exc.status == "NOT_FOUND":
                return None
            raise

    def server_config(self):
        """GKE's offered versions and channels for this location (projects.locations.getServerConfig)."""
        return self.call("GET", "%s/serverConfig" % self.parent, what="get server config")

    def list_clusters(self):
        return self.call("GET", "%s/clusters" % self.parent, what="list clusters").get("clusters", [])

    def create_cluster(self, cluster):
        return self.call("POST", "%s/clusters" % self.parent, {"cluster": cluster},
                         what="create cluster %s" % cluster.get("name"), mutating=True)

    def delete_cluster(self, name):
        return self.call("DELETE", self.cluster_path(name), what="delete cluster %s" % name, mutating=True)

    def update_cluster(self, name, update):
        return self.call("PUT", self.cluster_path(name), {"update": update},
                         what="update cluster %s (%s)" % (name, ", ".join(sorted(update))), mutating=True)

    def set_labels(self, name, labels):
        """setResourceLabels with the current label fingerprint (re-read on a fingerprint race)."""
        def attempt():
            current = self.get_cluster(name) or {}
            return self._once("POST", self.cluster_path(name) + ":setResourceLabels",
                              {"resourceLabels": labels, "labelFingerprint": current.get("labelFingerprint", "")},
                              what="set labels of cluster %s" % name)

        def retryable(exc):
            return self._transient(exc) or bool(self._busy(exc)) or (
                isinstance(exc, GcpError) and exc.status == "FAILED_PRECONDITION" and "fingerprint" in exc.message)

        def on_retry(exc, delay):
            self.retries += 1
            if self._busy(exc):
                self.wait_operation({"name": self._busy(exc)}, raise_on_error=False)

        return retry_call(attempt, retryable, timeout=self.timeout, on_retry=on_retry,
                          sleep=self.sleep, clock=self.clock)

    # ---- node pools --------------------------------------------------------------------------
    def pool_path(self, cluster, pool):
        return "%s/nodePools/%s" % (self.cluster_path(cluster), pool)

    def create_node_pool(self, cluster, pool):
        return self.call("POST", self.cluster_path(cluster) + "/nodePools", {"nodePool": pool},
                         what="create node pool %s" % pool.get("name"), mutating=True)

    def delete_node_pool(self, cluster, pool):
        return self.call("DELETE", self.pool_path(cluster, pool), what="delete node pool %s" % pool, mutating=True)

    def set_autoscaling(self, cluster, pool, autoscaling):
        return self.call("POST", self.pool_path(cluster, pool) + ":setAutoscaling", {"autoscaling": autoscaling},
                         what="set autoscaling of node pool %s" % pool, mutating=True)

    def set_size(self, cluster, pool, count):
        return self.call("POST", self.pool_path(cluster, pool) + ":setSize", {"nodeCount": count},
                         what="resize node pool %s" % pool, mutating=True)

    def set_management(self, cluster, pool, management):
        return self.call("POST", self.pool_path(cluster, pool) + ":setManagement", {"management": management},
                         what="set management of node pool %s" % pool, mutating=True)

    def update_node_pool(self, cluster, pool, body):
        return self.call("PUT", self.pool_path(cluster, pool), body,
                         what="update node pool %s (%s)" % (pool, ", ".join(sorted(body))), mutating=True)

    # ---- operations --------------------------------------------------------------------------
    def get_operation(self, name):
        return self.call("GET", "%s/operations/%s" % (self.parent, name), what="get operation %s" % name)

    def list_operations(self):
        return self.call("GET", "%s/operations" % self.parent, what="list operations").get("operations", [])

    def wait_operation(self, op, timeout=None, raise_on_error=True):
        """Poll an operation until DONE; raise GcpError with its message when it failed."""
        if op.get("status") == "DONE":
            done = op
        else:
            try:
                done = wait_until(lambda: self._done(op["name"]), timeout=timeout or self.timeout,
                                  interval=self.poll_interval, what="operation %s" % op["name"],
                                  sleep=self.sleep, clock=self.clock)
            except WaitTimeout:
                raise GcpError("timed out after %ss waiting for GKE operation %s (%s) on %s; it is still "
                               "running: raise wait_timeout or run again later"
                               % (timeout or self.timeout, op["name"], op.get("operationType", "?"),
                                  op.get("targetLink", "?")), status="DEADLINE_EXCEEDED")
        error = done.get("error")
        if raise_on_error and error:
            message = error.get("message") or done.get("statusMessage")
            raise GcpError("GKE operation %s (%s) failed: %s" % (done["name"], done.get("operationType"), message),
                           status="OPERATION_FAILED", details=done)
        return done

    def _done(self, name):
        op = self.get_operation(name)
        if self.progress is not None and op.get("status") != "DONE":
            target = (op.get("targetLink") or "").split("/projects/")[-1]
            self.progress.note("GKE %s of %s" % (op.get("operationType", "operation"),
                                                 "/".join(target.split("/")[-2:]) or name), op.get("status"))
        return op if op.get("status") == "DONE" else None

    def running_operations(self, cluster):
        """Operations not DONE whose target is ``cluster`` (or one of its node pools)."""
        marker = "/clusters/%s" % cluster
        out = []
        for op in self.list_operations():
            link = op.get("targetLink", "")
            if op.get("status") != "DONE" and (link.endswith(marker) or (marker + "/") in link):
                out.append(op)
        return out

    def wait_idle(self, cluster, timeout=None):
        """Wait for every running operation on ``cluster``; return how many there were."""
        ops = self.running_operations(cluster)
        for op in ops:
            self.wait_operation(op, timeout=timeout, raise_on_error=False)
        return len(ops)


# ---------------------------------------------------------------------------------------------
# the GKE cluster model of gke_cluster
# ---------------------------------------------------------------------------------------------

# addon option -> (API field, style): "disabled" addons are on unless disabled; "enabled" ones off
ADDONS = {
    "http_load_balancing": ("httpLoadBalancing", "disabled"),
    "horizontal_pod_autoscaling": ("horizontalPodAutoscaling", "disabled"),
    "network_policy": ("networkPolicyConfig", "disabled"),
    "dns_cache": ("dnsCacheConfig", "enabled"),
    "gce_persistent_disk_csi_driver": ("gcePersistentDiskCsiDriverConfig", "enabled"),
    "gcs_fuse_csi_driver": ("gcsFuseCsiDriverConfig", "enabled"),
    "config_connector": ("configConnectorConfig", "enabled"),
}
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE",
                 "NO_SCHEDULE": "NO_SCHEDULE", "PREFER_NO_SCHEDULE": "PREFER_NO_SCHEDULE", "NO_EXECUTE": "NO_EXECUTE"}
LOCATION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+(-[a-z])?$")
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
VERSION_RE = re.compile(r"^(latest|-|[0-9]+\.[0-9]+(\.[0-9]+(-gke\.[0-9]+)?)?)$")
# Where GKE cannot change a setting in place, and what the user can do instead.
IMMUTABLE = {
    "network": "GKE cannot move a cluster to another network; create a new cluster",
    "subnetwork": "GKE cannot move a cluster to another subnetwork; create a new cluster",
    "machine_type": "this module does not recreate nodes; add a node pool with the new machine type "
                    "and remove the old one",
    "disk_size_gb": "this module does not recreate nodes; add a node pool with the new disk size "
                    "and remove the old one",
    "service_account": "GKE fixes a node pool's service account at creation; add a node pool with the new "
                       "service account and remove the old one",
    "oauth_scopes": "GKE fixes a node pool's access scopes at creation; add a node pool with the new scopes "
                    "and remove the old one",
    "private_nodes": "this module sets private nodes only at creation (it would need a new node pool for every "
                     "pool); create a new cluster",
    "master_ipv4_cidr_block": "the control plane's private range is fixed at creation; create a new cluster",
}
# A node pool's service account: "default" (the Compute Engine default service account) or an account's email
SERVICE_ACCOUNT_RE = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9.]*[a-z0-9]\.(iam\.gserviceaccount|"
                                r"developer\.gserviceaccount|appspot\.gserviceaccount)\.com$|^[0-9]+-compute@"
                                r"developer\.gserviceaccount\.com$")
SCOPE_PREFIX = "https://www.googleapis.com/auth/"


def location_kind(location):
    """'zone' or 'region' for a GCP location name, None when it has neither form."""
    m = LOCATION_RE.match(location or "")
    if not m:
        return None
    return "zone" if m.group(1) else "region"


def validate_params(params):
    """Errors in the module's input, found before any API call (a list of strings)."""
    errors = builtin_auth_errors(params)
    if not params.get("project"):
        errors.append("project is required: set the project option or the GCP_PROJECT (or GCE_PROJECT) "
                      "environment variable")
    if not location_kind(params.get("location")):
        errors.append("location %r is neither a zone (like europe-west3-b) nor a region (like europe-west3)"
                      % (params.get("location"),))
    if not NAME_RE.match(params.get("name") or ""):
        errors.append("name %r must be 1-40 lowercase letters, digits or '-', start with a letter and not "
                      "end with '-'" % (params.get("name"),))
    version = params.get("initial_cluster_version")
    if version and not VERSION_RE.match(version):
        errors.append("initial_cluster_version %r is not a GKE version (1.X, 1.X.Y, 1.X.Y-gke.N or latest)" % version)
    seen = set()
    for i, pool in enumerate(params.get("node_pools") or []):
        where = "node_pools[%d]" % i
        name = pool.get("name")
        if not NAME_RE.match(name or ""):
            errors.append("%s.name %r is not a valid node pool name" % (where, name))
        if name in seen:
            errors.append("%s.name %r appears twice" % (where, name))
        seen.add(name)
        autoscaling = pool.get("autoscaling") or {}
        if autoscaling.get("enabled"):
            lo, hi = autoscaling.get("min_node_count"), autoscaling.get("max_node_count")
            if lo is None or hi is None:
                errors.append("%s.autoscaling needs min_node_count and max_node_count when enabled" % where)
            elif lo < 0 or hi < 1 or lo > hi:
                errors.append("%s.autoscaling: min_node_count (%s) must be >= 0 and <= max_node_count (%s), "
                              "and max_node_count >= 1" % (where, lo, hi))
        count = pool.get("initial_node_count")
        if count is not None and count < 0:
            errors.append("%s.initial_node_count must be >= 0" % where)
        if pool.get("disk_size_gb") is not None and pool["disk_size_gb"] < 10:
            errors.append("%s.disk_size_gb must be at least 10" % where)
        account = pool.get("service_account")
        if account is not None and account != "default" and not SERVICE_ACCOUNT_RE.match(account):
            errors.append("%s.service_account %r must be default or a service account's email "
                          "(<name>@<project>.iam.gserviceaccount.com)" % (where, account))
        if pool.get("oauth_scopes") is not None:
            if not pool["oauth_scopes"]:
                errors.append("%s.oauth_scopes must not be empty (nodes without scopes cannot pull images nor write "
                              "logs; %s is the usual one, with a minimal service account)" % (where, CLOUD_PLATFORM_SCOPE))
            for scope in pool["oauth_scopes"]:
                if not str(scope).startswith(SCOPE_PREFIX):
                    errors.append("%s.oauth_scopes: %r is not a scope URL (%s...)" % (where, scope, SCOPE_PREFIX))
        for j, taint in enumerate(pool.get("taints") or []):
            if taint.get("effect") not in TAINT_EFFECTS:
                errors.append("%s.taints[%d].effect %r must be one of NoSchedule, PreferNoSchedule, NoExecute"
                              % (where, j, taint.get("effect")))
    if params.get("state") == "present" and params.get("node_pools") == []:
        errors.append("node_pools must not be empty: a GKE cluster needs at least one node pool")
    for i, block in enumerate(params.get("master_authorized_networks") or []):
        errors += validate.errors(validate.cidr(block.get("cidr_block"), "master_authorized_networks[%d].cidr_block" % i))
    block = params.get("master_ipv4_cidr_block")
    if block:
        if not params.get("private_nodes"):
            errors.append("master_ipv4_cidr_block is only used with private_nodes: true")
        try:
            network = ipaddress.IPv4Network(block, strict=True)
            if network.prefixlen != 28 or not network.is_private:
                errors.append("master_ipv4_cidr_block %s must be a private /28 (GKE puts the control plane's "
                              "private endpoint there), for example 172.16.0.0/28" % block)
        except ValueError as exc:
            errors.append("master_ipv4_cidr_block %r is not an IPv4 CIDR block (%s)" % (block, exc))
    errors += validate.errors(validate.at_least(params.get("wait_timeout"), "wait_timeout"),
                              validate.http_url(params.get("api_endpoint"), "api_endpoint"))
    return errors


def _short(resource):
    """'projects/p/global/networks/x' -> 'x'."""
    return (resource or "").rstrip("/").split("/")[-1] or None


def _taints_view(taints):
    return sorted(({"key": t.get("key"), "value": t.get("value", "") or "",
                    "effect": TAINT_EFFECTS.get(t.get("effect"), t.get("effect"))} for t in taints or []),
                  key=lambda t: (t["key"], t["effect"], t["value"]))


def _autoscaling_view(autoscaling):
    autoscaling = autoscaling or {}
    if not autoscaling.get("enabled"):
        return {"enabled": False}
    return {"enabled": True, "min_node_count": autoscaling.get("minNodeCount", 0),
            "max_node_count": autoscaling.get("maxNodeCount", 0)}


def pool_view(pool):
    config = pool.get("config") or {}
    management = pool.get("management") or {}
    return {
        "name": pool.get("name"),
        "machine_type": config.get("machineType"),
        "disk_size_gb": config.get("diskSizeGb"),
        "initial_node_count": pool.get("initialNodeCount"),
        "autoscaling": _autoscaling_view(pool.get("autoscaling")),
        "labels": dict(config.get("labels") or {}),
        "taints": _taints_view(config.get("taints")),
        "auto_upgrade": bool(management.get("autoUpgrade")),
        "auto_repair": bool(management.get("autoRepair")),
        "service_account": config.get("serviceAccount") or "default",
        "oauth_scopes": sorted(config.get("oauthScopes") or [CLOUD_PLATFORM_SCOPE]),
    }


def cluster_view(cluster):
    """The settings gke_cluster manages, from a GKE Cluster resource (None -> None)."""
    if not cluster:
        return None
    addons_config = cluster.get("addonsConfig") or {}
    addons = {}
    for option, (field, style) in ADDONS.items():
        value = addons_config.get(field) or {}
        addons[option] = (not value.get("disabled", False)) if style == "disabled" else bool(value.get("enabled"))
    man = cluster.get("masterAuthorizedNetworksConfig") or {}
    channel = (cluster.get("releaseChannel") or {}).get("channel")
    private = cluster.get("privateClusterConfig") or {}
    return {
        "name": cluster.get("name"),
        "location": cluster.get("location"),
        "master_version": cluster.get("currentMasterVersion"),
        "release_channel": None if channel in (None, "UNSPECIFIED") else channel,
        "network": _short(cluster.get("network")),
        "subnetwork": _short(cluster.get("subnetwork")),
        "labels": dict(cluster.get("resourceLabels") or {}),
        "addons": addons,
        "workload_identity": bool((cluster.get("workloadIdentityConfig") or {}).get("workloadPool")),
        "master_authorized_networks": (sorted(({"cidr_block": b.get("cidrBlock"), "display_name": b.get("displayName", "")}
                                               for b in man.get("cidrBlocks") or []), key=lambda b: b["cidr_block"])
                                       if man.get("enabled") else None),
        "private_nodes": bool(private.get("enablePrivateNodes")),
        "master_ipv4_cidr_block": private.get("masterIpv4CidrBlock") if private.get("enablePrivateNodes") else None,
        "node_pools": dict((p["name"], pool_view(p)) for p in cluster.get("nodePools") or []),
    }


def version_matches(requested, current):
    """True when ``current`` (1.33.5-gke.1080000) is what ``requested`` (1.33, 1.33.5, exact) asks for."""
    if not requested or requested in ("latest", "-") or not current:
        return True
    return current == requested or current.startswith(requested + ".") or current.startswith(requested + "-")


def server_config_errors(config, master_version, release_channel, location):
    """Problems with a master version or channel GKE is asked for, against its server config (messages).

    ``master_version``: what the cluster is created with or upgraded to (1.X, 1.X.Y or exact; None,
    latest and - are GKE's choice); ``release_channel``: the channel asked for (None: none asked).
    """
    errors = []
    valid = list(config.get("validMasterVersions") or [])
    if master_version and master_version not in ("latest", "-") and not any(
            version_matches(master_version, v) for v in valid):
        errors.append("initial_cluster_version %s is not offered by GKE in %s; valid master versions: %s"
                      % (master_version, location, ", ".join(valid) or "none"))
    channels = [c.get("channel") for c in config.get("channels") or []]
    if release_channel and release_channel != "UNSPECIFIED" and release_channel not in channels:
        errors.append("release_channel %s is not offered by GKE in %s; offered: %s"
                      % (release_channel, location, ", ".join(channels) or "none"))
    return errors


def version_tuple(version):
    return tuple(int(n) for n in re.findall(r"[0-9]+", version or ""))


def desired_pool_view(pool, before=None):
    """Overlay the options of one node_pools entry on its current view (or on GKE's defaults)."""
    view = copy.deepcopy(before) if before else {
        "name": pool["name"], "machine_type": "e2-medium", "disk_size_gb": 100, "initial_node_count": 3,
        "autoscaling": {"enabled": False}, "labels": {}, "taints": [], "auto_upgrade": True, "auto_repair": True,
        "service_account": "default", "oauth_scopes": [CLOUD_PLATFORM_SCOPE]}
    for key in ("machine_type", "disk_size_gb", "auto_upgrade", "auto_repair", "service_account"):
        if pool.get(key) is not None:
            view[key] = pool[key]
    if pool.get("oauth_scopes") is not None:
        view["oauth_scopes"] = sorted(set(pool["oauth_scopes"]))
    if pool.get("initial_node_count") is not None and not before:
        view["initial_node_count"] = pool["initial_node_count"]
    if pool.get("labels") is not None:
        view["labels"] = dict(pool["labels"])
    if pool.get("taints") is not None:
        view["taints"] = _taints_view(pool["taints"])
    autoscaling = pool.get("autoscaling")
    if autoscaling is not None:
        if autoscaling.get("enabled"):
            view["autoscaling"] = {"enabled": True, "min_node_count": autoscaling["min_node_count"],
                                   "max_node_count": autoscaling["max_node_count"]}
        else:
            view["autoscaling"] = {"enabled": False}
    return view


def desired_view(params, before):
    """What the cluster should look like: ``before`` with every option the user set applied."""
    view = copy.deepcopy(before) if before else {
        "name": params["name"], "location": params["location"], "master_version": None,
        "release_channel": None, "network": "default", "subnetwork": None, "labels": {},
        "addons": dict((k, style == "disabled" and k != "network_policy") for k, (_f, style) in ADDONS.items()),
        "workload_identity": False, "master_authorized_networks": None, "private_nodes": False,
        "master_ipv4_cidr_block": None, "node_pools": {}}
    if not before:
        view["addons"]["gce_persistent_disk_csi_driver"] = True
    version = params.get("initial_cluster_version")
    if version and not version_matches(version, view["master_version"]):
        view["master_version"] = version
    if params.get("release_channel"):
        view["release_channel"] = None if params["release_channel"] == "UNSPECIFIED" else params["release_channel"]
    for key in ("network", "subnetwork"):
        if params.get(key):
            view[key] = _short(params[key])
    if not before and not view["subnetwork"]:
        view["subnetwork"] = view["network"]
    if params.get("labels") is not None:
        view["labels"] = dict(params["labels"])
    for option, value in (params.get("addons") or {}).items():
        if value is not None:
            view["addons"][option] = value
    if params.get("workload_identity") is not None:
        view["workload_identity"] = params["workload_identity"]
    if params.get("private_nodes") is not None:
        view["private_nodes"] = params["private_nodes"]
        # unset: what GKE chose (since 1.29 it may pick the range itself)
        block = params.get("master_ipv4_cidr_block") or view.get("master_ipv4_cidr_block")
        view["master_ipv4_cidr_block"] = block if params["private_nodes"] else None
    man = params.get("master_authorized_networks")
    if man is not None:
        view["master_authorized_networks"] = (sorted(({"cidr_block": b["cidr_block"],
                                                       "display_name": b.get("display_name") or ""} for b in man),
                                                     key=lambda b: b["cidr_block"]) if man else None)
    if params.get("node_pools") is not None:
        pools = {}
        for pool in params["node_pools"]:
            pools[pool["name"]] = desired_pool_view(pool, view["node_pools"].get(pool["name"]))
        view["node_pools"] = pools
    elif not before:
        view["node_pools"] = {"default-pool": desired_pool_view({"name": "default-pool"})}
    return view


def _addons_body(addons):
    body = {}
    for option, enabled in addons.items():
        field, style = ADDONS[option]
        body[field] = {"disabled": not enabled} if style == "disabled" else {"enabled": bool(enabled)}
    return body


def _man_body(networks):
    if not networks:
        return {"enabled": False}
    return {"enabled": True, "cidrBlocks": [dict([("cidrBlock", b["cidr_block"])] +
                                                 ([("displayName", b["display_name"])] if b.get("display_name") else []))
                                            for b in networks]}


def node_pool_body(view):
    """A NodePool request body from a pool view."""
    config = {"machineType": view["machine_type"], "diskSizeGb": view["disk_size_gb"],
              "serviceAccount": view["service_account"], "oauthScopes": view["oauth_scopes"]}
    if view["labels"]:
        config["labels"] = view["labels"]
    if view["taints"]:
        config["taints"] = view["taints"]
    body = {"name": view["name"], "config": config, "initialNodeCount": view["initial_node_count"],
            "management": {"autoUpgrade": view["auto_upgrade"], "autoRepair": view["auto_repair"]}}
    if view["autoscaling"].get("enabled"):
        body["autoscaling"] = {"enabled": True, "minNodeCount": view["autoscaling"]["min_node_count"],
                               "maxNodeCount": view["autoscaling"]["max_node_count"]}
    return body


def cluster_body(params, view):
    """A Cluster request body for creating the cluster ``view`` describes."""
    body = {"name": view["name"], "network": view["network"], "subnetwork": view["subnetwork"],
            "nodePools": [node_pool_body(p) for p in view["node_pools"].values()],
            "addonsConfig": _addons_body(view["addons"])}
    if params.get("initial_cluster_version"):
        body["initialClusterVersion"] = params["initial_cluster_version"]
    if view["release_channel"]:
        body["releaseChannel"] = {"channel": view["release_channel"]}
    if view["labels"]:
        body["resourceLabels"] = view["labels"]
    if view["workload_identity"]:
        body["workloadIdentityConfig"] = {"workloadPool": "%s.svc.id.goog" % params["project"]}
    if view["master_authorized_networks"]:
        body["masterAuthorizedNetworksConfig"] = _man_body(view["master_authorized_networks"])
    if view["private_nodes"]:
        # GKE: private nodes only on a VPC-native cluster (alias IPs); the nodes have no external IP
        body["ipAllocationPolicy"] = {"useIpAliases": True}
        body["privateClusterConfig"] = dict([("enablePrivateNodes", True)] + (
            [("masterIpv4CidrBlock", view["master_ipv4_cidr_block"])] if view["master_ipv4_cidr_block"] else []))
    return body


def plan_update(before, after, project):
    """The calls that turn cluster view ``before`` into ``after`` (a pure function).

    Returns ``{"errors": [...], "steps": [{"call": <GkeClient method>, "args": [...], "what": ...}]}``;
    ``errors`` names every option GKE cannot change in place. Steps run one at a time (GKE runs
    one operation per cluster): master upgrade first, then cluster settings, labels, new node
    pools, changed node pools, removed node pools.
    """
    errors, steps = [], []
    name = before["name"]
    for key in ("network", "subnetwork"):
        if after[key] and before[key] and after[key] != before[key]:
            errors.append("%s cannot change from %r to %r: %s" % (key, before[key], after[key], IMMUTABLE[key]))
    for key in ("private_nodes", "master_ipv4_cidr_block"):
        if after.get(key) != before.get(key):
            errors.append("%s cannot change from %r to %r: %s" % (key, before.get(key), after.get(key), IMMUTABLE[key]))
    if after["master_version"] != before["master_version"]:
        if version_tuple(after["master_version"])[:2] < version_tuple(before["master_version"])[:2]:
            errors.append("initial_cluster_version %r is older than the master's %s: GKE cannot downgrade "
                          "the master's minor version" % (after["master_version"], before["master_version"]))
        else:
            steps.append({"call": "update_cluster", "args": [name, {"desiredMasterVersion": after["master_version"]}],
                          "what": "upgrade master %s -> %s" % (before["master_version"], after["master_version"])})
    if after["release_channel"] != before["release_channel"]:
        steps.append({"call": "update_cluster",
                      "args": [name, {"desiredReleaseChannel": {"channel": after["release_channel"] or "UNSPECIFIED"}}],
                      "what": "release channel %s -> %s" % (before["release_channel"], after["release_channel"])})
    changed_addons = dict((k, v) for k, v in after["addons"].items() if before["addons"].get(k) != v)
    if changed_addons:
        steps.append({"call": "update_cluster", "args": [name, {"desiredAddonsConfig": _addons_body(changed_addons)}],
                      "what": "addons %s" % ", ".join("%s=%s" % kv for kv in sorted(changed_addons.items()))})
    if after["workload_identity"] != before["workload_identity"]:
        pool = "%s.svc.id.goog" % project if after["workload_identity"] else ""
        steps.append({"call": "update_cluster", "args": [name, {"desiredWorkloadIdentityConfig": {"workloadPool": pool}}],
                      "what": "workload identity %s" % ("on" if after["workload_identity"] else "off")})
    if after["master_authorized_networks"] != before["master_authorized_networks"]:
        steps.append({"call": "update_cluster",
                      "args": [name, {"desiredMasterAuthorizedNetworksConfig": _man_body(after["master_authorized_networks"])}],
                      "what": "master authorized networks"})
    if after["labels"] != before["labels"]:
        steps.append({"call": "set_labels", "args": [name, after["labels"]], "what": "resource labels"})
    for pool_name, want in after["node_pools"].items():
        have = before["node_pools"].get(pool_name)
        if have is None:
            steps.append({"call": "create_node_pool", "args": [name, node_pool_body(want)],
                          "what": "add node pool %s" % pool_name})
            continue
        for key in ("machine_type", "disk_size_gb", "service_account", "oauth_scopes"):
            if want[key] != have[key]:
                errors.append("node_pools[%s].%s cannot change from %r to %r: %s"
                              % (pool_name, key, have[key], want[key], IMMUTABLE[key]))
        if want["autoscaling"] != have["autoscaling"]:
            autoscaling = {"enabled": False}
            if want["autoscaling"]["enabled"]:
                autoscaling = {"enabled": True, "minNodeCount": want["autoscaling"]["min_node_count"],
                               "maxNodeCount": want["autoscaling"]["max_node_count"]}
            steps.append({"call": "set_autoscaling", "args": [name, pool_name, autoscaling],
                          "what": "node pool %s autoscaling" % pool_name})
        update = {}
        if want["labels"] != have["labels"]:
            update["labels"] = {"labels": want["labels"]}
        if want["taints"] != have["taints"]:
            update["taints"] = {"taints": want["taints"]}
        if update:
            steps.append({"call": "update_node_pool", "args": [name, pool_name, update],
                          "what": "node pool %s %s" % (pool_name, " and ".join(sorted(update)))})
        if (want["auto_upgrade"], want["auto_repair"]) != (have["auto_upgrade"], have["auto_repair"]):
            steps.append({"call": "set_management",
                          "args": [name, pool_name, {"autoUpgrade": want["auto_upgrade"], "autoRepair": want["auto_repair"]}],
                          "what": "node pool %s management" % pool_name})
    for pool_name in before["node_pools"]:
        if pool_name not in after["node_pools"]:
            steps.append({"call": "delete_node_pool", "args": [name, pool_name], "what": "remove node pool %s" % pool_name})
    return {"errors": errors, "steps": steps}


# Map fields whose keys are user data: their keys must not be converted to snake_case.
_MAP_FIELDS = ("resourceLabels", "labels", "metadata", "resourceManagerTags")


def to_snake(value, _parent=None):
    """camelCase API dict -> snake_case, leaving the keys of label maps alone."""
    if isinstance(value, dict):
        if _parent in _MAP_FIELDS:
            return dict(value)
        out = {}
        for key, item in value.items():
            snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
            snake = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", snake).lower()
            out[snake] = to_snake(item, key)
        return out
    if isinstance(value, list):
        return [to_snake(item, _parent) for item in value]
    return value


def builtin_auth_errors(params):
    """``kubeconfig_auth=builtin`` renews tokens from a key file or application default credentials only."""
    if params.get("kubeconfig_auth") != "builtin":
        return []
    kind = _auth_kind(params)
    if kind == "accesstoken" or (kind == "serviceaccount" and not params.get("service_account_file")):
        return ["kubeconfig_auth=builtin renews tokens from a service account key file or application default "
                "credentials, and the module was given %s: pass service_account_file (or GCP_SERVICE_ACCOUNT_FILE), "
                "or set kubeconfig_auth=token (a token that lasts an hour)"
                % ("access_token" if kind == "accesstoken" else "service_account_contents")]
    return []


def builtin_options(params):
    """The token helper's options for ``kubeconfig_auth=builtin``: the key file's path, never the key."""
    options = []
    if _auth_kind(params) == "serviceaccount":
        options += ["--key-file", os.path.abspath(os.path.expanduser(params["service_account_file"]))]
    for scope in params.get("scopes") or []:
        options += ["--scope", scope]
    return options


def kubeconfig_user(kind, credentials=None, params=None):
    """The kubeconfig ``user`` entry: the collection's token helper (builtin), exec
    (gke-gcloud-auth-plugin) or a bearer token."""
    if kind == "builtin":
        return token_helper.exec_user("gke", builtin_options(params))
    if kind == "exec":
        return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": GKE_AUTH_PLUGIN,
                         "installHint": "Install gke-gcloud-auth-plugin for use with kubectl by following "
                                        "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin",
                         "provideClusterInfo": True, "interactiveMode": "IfAvailable"}}
    return {"token": refresh_credentials(credentials)}
