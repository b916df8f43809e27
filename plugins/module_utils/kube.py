# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Kubernetes access for every module of the collection.

``connect(params)`` turns the options of the ``multicloud.mesh.kube`` doc
fragment (kubeconfig path or content, context, or host + bearer token + CA)
into a ``kubernetes.dynamic.DynamicClient``. Connection problems become a
``KubeError`` whose message says what is wrong and what to do: unreachable
server, untrusted certificate, rejected token, missing permission.

Transient failures (the API server unreachable or restarting, 429 Too Many
Requests, 500/502/503/504) are retried through ``retry.retry_call`` with
jittered backoff for up to ``retry_budget(request_timeout)`` seconds (twice the
request timeout): discovery, reads, server-side applies, patches and deletes
always; creates only when the request cannot have reached the server
(connection refused, 429, 503), so a retried create never runs twice. A 401/403
is retried only while the server's ``/readyz`` does not answer 200 (a restarted
API server denies requests until its authenticators and RBAC caches sync), and so is
a kind missing from discovery (a starting server may not list its CRDs yet).

The deprecated ``openshift`` package is not used: it only wraps
``kubernetes.dynamic`` (see docs/decisions.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import os
import shutil
import socket
import ssl
import tempfile
import time
import traceback

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

from ansible_collections.multicloud.mesh.plugins.module_utils import validate
from ansible_collections.multicloud.mesh.plugins.module_utils.retry import retry_call

KUBE_IMP_ERR = None
try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.dynamic import DynamicClient
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False
    KUBE_IMP_ERR = traceback.format_exc()

# Environment variables of AWX's "OpenShift or Kubernetes API Bearer Token"
# credential type (and kubernetes.core's K8S_AUTH_* conventions).
ENV_FALLBACKS = {
    "kubeconfig": "K8S_AUTH_KUBECONFIG",
    "context": "K8S_AUTH_CONTEXT",
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
}

KUBE_ARG_SPEC = dict(
    # no_log as in kubernetes.core's AUTH_ARG_SPEC: content or a dict carries the client key or token.
    # Modules call mask_kubeconfigs(module) after AnsibleModule() to narrow the masking (see there).
    kubeconfig=dict(type="raw", no_log=True),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    ca_cert=dict(type="str", aliases=["ssl_ca_cert"]),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    request_timeout=dict(type="int", default=30),
)


# HTTP answers of an API server that is overloaded, restarting or behind a failing proxy
TRANSIENT_STATUS = (429, 500, 502, 503, 504)
# answers that say the request was not processed (safe to repeat even for a create)
NOT_PROCESSED_STATUS = (429, 503)
# dynamic-client verbs that may be repeated without doing the work twice
IDEMPOTENT_VERBS = ("get", "server_side_apply", "patch", "replace", "delete", "get_code", "watch")


def retry_budget(request_timeout):
    """Seconds a transient failure is retried: twice the request timeout (60 s by default)."""
    return 2 * (request_timeout or 30)


class KubeError(Exception):
    """A Kubernetes access failure with a message fit for ``fail_json``."""

    def __init__(self, msg, status=None):
        super(KubeError, self).__init__(msg)
        self.msg = msg
        self.status = status


def _env_bool(value):
    return str(value).lower() in ("1", "true", "yes", "on")


def resolve_params(params, environ=None):
    """Fill the connection from the K8S_AUTH_* environment when none is given.

    Only a connection given as a whole is taken from the environment: when the
    parameters name a kubeconfig or a host, nothing is added to them (so
    K8S_AUTH_CONTEXT cannot leak into every cluster of a multi-cluster module).
    """
    environ = os.environ if environ is None else environ
    resolved = dict(params)
    if resolved.get("kubeconfig") or resolved.get("host"):
        return resolved
    for key, env in ENV_FALLBACKS.items():
        if resolved.get(key) in (None, "") and environ.get(env):
            value = environ[env]
            resolved[key] = _env_bool(value) if key == "validate_certs" else value
    return resolved


def is_kubeconfig_path(kubeconfig):
    """Whether a kubeconfig option's string value is a path (one line, not JSON) rather than content."""
    return isinstance(kubeconfig, str) and "\n" not in kubeconfig and not kubeconfig.lstrip().startswith("{")


def _strings(value):
    """Every non-empty string and number in a nested value: what Ansible masks for a no_log option."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, (str, int, float)):
        text = u"%s" % value
        if text:
            yield text


def kubeconfig_credentials(kubeconfig):
    """The strings of a kubeconfig (dict or content) that are credentials: everything under
    ``users[].user`` (token, client key and certificate, password, exec and auth-provider settings)."""
    data = kubeconfig
    if isinstance(kubeconfig, str):
        if is_kubeconfig_path(kubeconfig) or yaml is None:
            return set()
        try:
            data = yaml.safe_load(kubeconfig)
        except yaml.YAMLError:
            return set()
    if not isinstance(data, dict) or not isinstance(data.get("users"), list):
        return set()
    return set(_strings([u.get("user") for u in data["users"] if isinstance(u, dict)]))


def _option_values(argument_spec, params, want):
    """Values of the options (at any depth of suboptions) for which ``want(name, spec)`` is true."""
    out = []
    for name, spec in (argument_spec or {}).items():
        value = (params or {}).get(name)
        if value is None:
            continue
        if want(name, spec):
            out.append(value)
        if spec.get("options"):
            for item in (value if isinstance(value, list) else [value]):
                if isinstance(item, dict):
                    out += _option_values(spec["options"], item, want)
    return out


def mask_kubeconfigs(module):
    """Narrow what Ansible masks for the kubeconfig options of ``module`` (call it after AnsibleModule()).

    Every kubeconfig option is ``no_log`` (as in kubernetes.core), so AnsibleModule masks each of its
    strings wherever it appears in what the module returns and leaves the option out of the
    invocation it logs. For a dict that masks its public strings as well ("v1" from apiVersion turns
    the server version v1.35.4 into ********.35.4; cluster names, server URLs) and for a path the path
    in messages. So afterwards the masked set holds: a kubeconfig given as content, whole; the
    credentials inside content or a dict (``users[].user``); every string of other no_log options;
    and no longer the paths and the public strings of dicts.
    """
    def is_kubeconfig(name, spec):
        return name == "kubeconfig" and spec.get("no_log")
    secret, public = set(), set()
    for value in _option_values(module.argument_spec, module.params, is_kubeconfig):
        if isinstance(value, dict):
            public.update(_strings(value))
        elif is_kubeconfig_path(value):
            public.add(value)
        elif isinstance(value, str):
            secret.add(value)
        secret.update(kubeconfig_credentials(value))
    others = set()
    for value in _option_values(module.argument_spec, module.params,
                                lambda name, spec: spec.get("no_log") and not is_kubeconfig(name, spec)):
        others.update(_strings(value))
    module.no_log_values.difference_update(public - secret - others)
    module.no_log_values.update(secret)


def load_kubeconfig_dict(kubeconfig):
    """Return a kubeconfig as a dict from a path, a YAML string, or a dict."""
    if isinstance(kubeconfig, dict):
        return kubeconfig
    if not isinstance(kubeconfig, str):
        raise KubeError("kubeconfig must be a path, a YAML string or a dict, got %s" % type(kubeconfig).__name__)
    text = kubeconfig
    if is_kubeconfig_path(kubeconfig):
        path = os.path.expanduser(kubeconfig)
        if not os.path.exists(path):
            raise KubeError("kubeconfig file %s does not exist; pass an existing path or the kubeconfig content" % kubeconfig)
        with open(path, "r") as handle:
            text = handle.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeError("kubeconfig is not valid YAML: %s" % exc.__class__.__name__)
    if not isinstance(data, dict) or "clusters" not in data:
        raise KubeError("kubeconfig has no 'clusters'; is it a kubeconfig?")
    return data


# An exec credential (kubeconfig_auth=builtin, aws eks get-token, ...) is asked for again this long before
# its expiry. The kubernetes client's own hook asks whenever less than 5 minutes are left: for tokens that
# live a minute (the token helper's EKS tokens) that would start the helper before every request.
EXEC_RENEW_MARGIN = 15


def renew_near_expiry(configuration, loader):
    """Let the client's exec-credential hook run only when the token has less than EXEC_RENEW_MARGIN
    seconds left (or its expiry is unknown)."""
    original = getattr(configuration, "refresh_api_key_hook", None)
    if original is None:
        return

    def refresh(conf):
        expiry = getattr(loader, "expiry", None)
        if expiry is None or expiry.timestamp() - time.time() < EXEC_RENEW_MARGIN:
            original(conf)
    configuration.refresh_api_key_hook = refresh


def build_configuration(params):
    """Return a ``kubernetes.client.Configuration`` for the options given."""
    params = resolve_params(params)
    problems = validate.errors(validate.at_least(params.get("request_timeout"), "request_timeout"),
                               validate.http_url(params.get("host"), "host"))
    if problems:
        raise KubeError("; ".join(problems))
    timeout = params.get("request_timeout") or 30
    if params.get("kubeconfig"):
        data = load_kubeconfig_dict(params["kubeconfig"])
        contexts = [c.get("name") for c in data.get("contexts") or []]
        context = params.get("context")
        if context and context not in contexts:
            raise KubeError("context %r is not in the kubeconfig; known contexts: %s" % (context, ", ".join(contexts) or "none"))
        configuration = k8s_client.Configuration()
        loader = k8s_config.kube_config.KubeConfigLoader(config_dict=data, active_context=context)
        loader.load_and_set(configuration)
        renew_near_expiry(configuration, loader)
    elif params.get("host"):
        configuration = k8s_client.Configuration()
        configuration.host = params["host"]
        if params.get("api_key"):
            configuration.api_key = {"authorization": "Bearer " + params["api_key"]}
        if params.get("ca_cert"):
            configuration.ssl_ca_cert = os.path.expanduser(params["ca_cert"])
    else:
        raise KubeError("no cluster given: set kubeconfig (path or content) or host with api_key "
                        "(or the K8S_AUTH_KUBECONFIG / K8S_AUTH_HOST environment variables)")
    if params.get("validate_certs") is not None:
        configuration.verify_ssl = params["validate_certs"]
    configuration.retries = 1
    configuration.timeout = timeout
    return configuration


def explain(exc, server):
    """Turn a low-level client error into a KubeError with a helpful message."""
    if isinstance(exc, KubeError):
        return exc
    status = getattr(exc, "status", None)
    if status == 401:
        return KubeError("the API server %s rejected the credentials (401 Unauthorized): the token or "
                         "client certificate is wrong or expired; refresh the kubeconfig" % server, 401)
    if status == 403:
        body = getattr(exc, "body", None) or getattr(exc, "summary", lambda: "")()
        return KubeError("permission denied by %s (403 Forbidden): %s" % (server, _short(body)), 403)
    if status is not None:
        return KubeError("the API server %s answered %s: %s" % (server, status, _short(getattr(exc, "body", "") or str(exc))), status)
    chain = _causes(exc)
    if any(isinstance(c, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(c) for c in chain):
        return KubeError("cannot verify the TLS certificate of %s: the CA in the kubeconfig (or ca_cert) does not "
                         "match the server; fix the CA data, or set validate_certs=false only for testing" % server)
    if any(isinstance(c, (ConnectionRefusedError, ConnectionError, OSError)) for c in chain) or \
            (urllib3 is not None and isinstance(exc, urllib3.exceptions.HTTPError)):
        return KubeError("cannot reach the API server %s (%s): is the cluster running and the address right?"
                         % (server, _root_reason(chain)))
    return KubeError("Kubernetes API error from %s: %s" % (server, exc))


def _short(text, limit=300):
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def _causes(exc):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
        if not isinstance(exc, BaseException):
            break
    return seen


def _root_reason(chain):
    root = chain[-1]
    return "%s: %s" % (root.__class__.__name__, _short(str(root), 120))


def _refused(chain):
    """The connection was refused or could not be made: the request never reached the server."""
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return True
        if urllib3 is not None and isinstance(cause, urllib3.exceptions.NewConnectionError):
            return True
    return False


def _status_of(exc):
    status = exc.status if isinstance(exc, KubeError) else getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def is_transient(exc, idempotent=True):
    """Whether ``exc`` is worth retrying: the server was unreachable or answered 429/5xx.

    TLS verification errors, 401/403/404/409/422 and client-side errors are final. A request
    that is not ``idempotent`` (a create) is retried only when it cannot have been processed.
    """
    if isinstance(exc, KubeError):
        status = exc.status
    else:
        status = getattr(exc, "status", None)
    if isinstance(status, int) and status:
        return status in (TRANSIENT_STATUS if idempotent else NOT_PROCESSED_STATUS)
    if isinstance(exc, KubeError):
        return bool(getattr(exc, "transient", False))
    chain = _causes(exc)
    if any(isinstance(c, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(c) for c in chain):
        return False
    if _refused(chain):
        return True
    network = (ConnectionError, socket.timeout, TimeoutError)
    if urllib3 is not None:
        network += (urllib3.exceptions.HTTPError,)
    return idempotent and any(isinstance(c, network) for c in chain)


def _verb(fn):
    """The verb of a dynamic-client call: ``resource.get`` is ``partial(client.get, resource)``."""
    return getattr(getattr(fn, "func", fn), "__name__", "") or ""


def _kind(fn):
    args = getattr(fn, "args", None) or ()
    owner = args[0] if args else getattr(fn, "__self__", None)
    return getattr(owner, "kind", None) or "object"


class KubeClient(object):
    """A connected cluster: ``dynamic`` (DynamicClient), ``api`` (ApiClient), ``server``."""

    def __init__(self, params):
        if not HAS_KUBERNETES:
            raise KubeError("the 'kubernetes' Python library is required (pip install kubernetes)")
        configuration = build_configuration(params)
        self.server = configuration.host
        self.timeout = configuration.timeout
        self.retry_timeout = retry_budget(self.timeout)
        self.retries = 0
        self.api = k8s_client.ApiClient(configuration)
        # The dynamic client's default discovery cache is a file in /tmp keyed by the server URL
        # only: another cluster later on the same address, or CRDs removed since, would be served
        # from a stale view. Each module run discovers afresh, into its own folder.
        cache_dir = tempfile.mkdtemp(prefix="multicloud-mesh-discovery-")
        atexit.register(shutil.rmtree, cache_dir, True)
        cache_file = os.path.join(cache_dir, "discovery.json")
        self.dynamic = self.call_raw(lambda: DynamicClient(self.api, cache_file=cache_file),
                                     what="API discovery", convert=True)

    def call_raw(self, fn, idempotent=True, what=None, convert=False):
        """Call ``fn()``, retrying transient failures for ``retry_timeout`` seconds (jittered backoff).

        The last error is re-raised as it is (``convert=False``, for callers that look at the
        client's exception) or as a KubeError naming ``what`` and, after retries, how long they
        went on (``convert=True``).
        """
        started = time.monotonic()
        tries = [0]

        def on_retry(exc, delay):
            tries[0] += 1
            self.retries += 1

        def transient(exc):
            # 401/403 from an API server that is still starting (its authenticators and RBAC
            # caches not synced) is transient; from a ready one it is a real denial, final. The
            # same for a kind missing from discovery: a starting server may not list CRDs yet.
            if _status_of(exc) in (401, 403) or exc.__class__.__name__ == "ResourceNotFoundError":
                return not self.server_ready()
            return is_transient(exc, idempotent)

        try:
            return retry_call(fn, transient, timeout=self.retry_timeout,
                              base=0.5, cap=5.0, on_retry=on_retry)
        except Exception as exc:  # pylint: disable=broad-except
            if not convert:
                raise
            raise self.explain(exc, what, tries[0], time.monotonic() - started)

    def server_ready(self):
        """Whether ``/readyz`` answers 200 (anything else, including no answer, is "not ready")."""
        try:
            if hasattr(self.api, "param_serialize"):
                # kubernetes >= 35 (openapi-generator 7): serialize, then call; the answer is not raised
                method, url, headers, body, post = self.api.param_serialize(
                    "GET", "/readyz", auth_settings=["BearerToken"])
                resp = self.api.call_api(method, url, headers, body, post, _request_timeout=5)
            else:
                resp = self.api.call_api("/readyz", "GET", auth_settings=["BearerToken"],
                                         _preload_content=False, _request_timeout=5)
            status = resp[1] if isinstance(resp, tuple) else getattr(resp, "status", None)
            return status == 200
        except Exception:  # pylint: disable=broad-except
            return False

    def explain(self, exc, what=None, retries=0, elapsed=0.0):
        """``explain`` plus the operation and, after retries, how long they went on."""
        err = explain(exc, self.server)
        msg = err.msg
        if what:
            msg = "%s: %s" % (what, msg)
        if retries:
            msg += (" (still failing after %d retries in %.0fs; transient errors are retried for twice "
                    "request_timeout=%ss)" % (retries, elapsed, self.timeout))
        return KubeError(msg, err.status)

    def call(self, fn, *args, **kwargs):
        """Run ``fn`` (a dynamic-client verb), retrying transient failures; errors become KubeError."""
        kwargs.setdefault("_request_timeout", self.timeout)
        verb = _verb(fn)
        what = kwargs.pop("_what", None) or _describe(fn, kwargs)
        return self.call_raw(lambda: fn(*args, **kwargs), idempotent=verb in IDEMPOTENT_VERBS,
                             what=what, convert=True)

    def resource(self, api_version, kind):
        return self.call_raw(lambda: self.dynamic.resources.get(api_version=api_version, kind=kind),
                             what="discovery of %s %s" % (api_version, kind), convert=True)

    def version(self):
        return self.call_raw(lambda: k8s_client.VersionApi(self.api).get_code(
            _request_timeout=self.timeout).to_dict(), what="GET /version", convert=True)


def _describe(fn, kwargs):
    """``<verb> <Kind>[ <namespace>/<name>]`` for messages."""
    kind = _kind(fn)
    name = kwargs.get("name")
    if name and kwargs.get("namespace"):
        name = "%s/%s" % (kwargs["namespace"], name)
    return "%s %s%s" % (_verb(fn) or "call", kind, " " + name if name else "")


def connect(params):
    """Return a KubeClient for the module parameters (see the kube doc fragment)."""
    return KubeClient(params)
