"""The sandbox's AWS: moto in server mode (EKS, EC2, IAM, STS, ELB, ELBv2) plus what EKS needs.

One process serves, on one port:
  * every AWS API moto knows, behind a middleware that checks SigV4 signatures against the
    emulator's known access keys (the sandbox admin key and keys created through moto's IAM),
    and that can inject faults (ThrottlingException / 5xx) into the next N calls of an operation;
  * ``/_sandbox/eks/token-review/<cluster>``: the Kubernetes token webhook of each EKS cluster's
    real local API server (TokenReview in, user out);
  * ``/_sandbox/faults``, ``/_sandbox/status`` and ``/_sandbox/stats`` (request counts by
    ``service:Operation``, ``DELETE`` resets them): control endpoints for tests and benchmarks.

EKS clusters get a real local API server through ``meshsandbox.clusters.ClusterManager``; see
aws_eks_ext.py for the moto extensions. Start with ``python -m meshsandbox aws-emulator``
(``meshsandbox.aws_main``).
"""

import base64
import configparser
import datetime
import hashlib
import hmac
import io
import ipaddress
import json
import os
import re
import secrets
import string
import threading
import time
import uuid
from urllib.parse import parse_qs

from . import aws_eks_ext, aws_elb
from .paths import write_private
from .stats import RequestCounter
from .aws_sigv4 import (
    SignatureError,
    parse_authorization,
    verify_eks_token,
    verify_header_signed,
)

DEFAULT_PORT = 4566
DEFAULT_ACCOUNT_ID = "123456789012"
ADMIN_USER = "mesh-admin"
PROFILE = "mesh-sandbox"
CONTROL_PREFIX = "/_sandbox/"
QUERY_SERVICES = {"iam", "sts", "elasticloadbalancing", "autoscaling", "cloudformation", "sns",
                  "sqs", "rds"}


def sandbox_home():
    env = os.environ.get("MESH_SANDBOX_HOME")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), ".cache", "sandbox")


def load_or_create_admin_credentials(path):
    """The sandbox admin key pair, kept in an AWS shared-credentials file (0600), profile
    ``mesh-sandbox``. Created with a random secret on first use."""
    parser = configparser.ConfigParser()
    if os.path.exists(path):
        parser.read(path)
        if parser.has_section(PROFILE):
            section = parser[PROFILE]
            return section["aws_access_key_id"], section["aws_secret_access_key"]
    alphabet = string.ascii_uppercase + string.digits
    access_key = "AKIA" + "".join(secrets.choice(alphabet) for dummy in range(16))
    secret_key = secrets.token_urlsafe(30)[:40]
    parser[PROFILE] = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
    buf = io.StringIO()
    parser.write(buf)
    write_private(path, buf.getvalue())
    return access_key, secret_key


class FaultInjector:
    """Answer the next ``count`` calls of ``service:operation`` with an error instead of moto.

    kinds: ``throttle`` (ThrottlingException / Throttling / RequestLimitExceeded, per protocol),
    ``500`` (InternalFailure), ``503`` (ServiceUnavailable), ``slow`` (answered by moto after
    ``delay`` seconds), ``failed`` (accepted, but the operation it starts fails: CreateCluster ->
    FAILED, CreateNodegroup -> CREATE_FAILED, Update* -> update Failed; EKS only).
    """

    KINDS = ("throttle", "500", "503", "slow", "failed")
    FAILABLE = ("CreateCluster", "CreateNodegroup", "UpdateClusterConfig", "UpdateClusterVersion",
                "UpdateNodegroupConfig", "UpdateNodegroupVersion")

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = {}
        self.hits = []

    def add(self, service, operation, count=1, kind="throttle", delay=None):
        if kind not in self.KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(self.KINDS))
        if kind == "failed" and (service.lower() != "eks" or operation not in self.FAILABLE):
            raise ValueError("kind failed applies to eks operations %s" % ", ".join(self.FAILABLE))
        if kind == "slow" and not delay:
            raise ValueError("kind slow needs delay (seconds)")
        with self._lock:
            self._faults[(service.lower(), operation)] = [int(count), kind, float(delay or 0)]

    def clear(self):
        with self._lock:
            self._faults.clear()

    def take(self, service, operation):
        with self._lock:
            for key in ((service, operation), (service, "*")):
                entry = self._faults.get(key)
                if entry and entry[0] > 0:
                    entry[0] -= 1
                    self.hits.append("%s:%s:%s" % (service, operation, entry[1]))
                    return entry[1], entry[2]
        return None, 0

    def snapshot(self):
        with self._lock:
            return [{"service": s, "operation": o, "remaining": c, "kind": k, "delay": d}
                    for (s, o), (c, k, d) in self._faults.items()]


def _rest_json_operations(service):
    """[(method, regex, operation)] for a rest-json service, longest literal first."""
    import botocore.session
    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for op_name in model.operation_names:
        http = model.operation_model(op_name).http
        path = http["requestUri"].split("?")[0]
        regex = "^" + re.sub(r"\\\{[^}]+\\\+\\\}", ".+",
                             re.sub(r"\\\{[^}+]+\\\}", "[^/]+", re.escape(path))) + "$"
        routes.append((http["method"], re.compile(regex), op_name, len(re.sub(r"{[^}]+}", "", path))))
    routes.sort(key=lambda r: -r[3])
    return [r[:3] for r in routes]


class EmulatorApp:
    """WSGI middleware in front of moto's DomainDispatcherApplication."""

    def __init__(self, emulator, moto_app):
        self.emulator = emulator
        self.moto_app = moto_app
        self._routes = {}

    # ------------------------------------------------------------------ helpers
    def _operation(self, service, environ, body):
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.split(".")[-1]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "Action" in query:
            return query["Action"][0]
        ctype = environ.get("CONTENT_TYPE", "")
        if body and "x-www-form-urlencoded" in ctype:
            form = parse_qs(body.decode("utf-8", "replace"))
            if "Action" in form:
                return form["Action"][0]
        if service not in self._routes:
            try:
                self._routes[service] = _rest_json_operations(service)
            except Exception:
                self._routes[service] = []
        # the undecoded path: an ARN in a path parameter (access entries) keeps its "/" as %2F there
        method = environ["REQUEST_METHOD"]
        path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")).split("?")[0]
        for route_method, regex, op in self._routes[service]:
            if route_method == method and regex.match(path):
                return op
        return "Unknown"

    @staticmethod
    def _error(start_response, service, code, message, status, json_protocol=False):
        request_id = str(uuid.uuid4())
        if service == "ec2":
            body = ("<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error>"
                    "</Errors><RequestID>%s</RequestID></Response>" % (code, message, request_id))
            headers = [("Content-Type", "text/xml")]
        elif service in QUERY_SERVICES and not json_protocol:
            kind = "Receiver" if status >= 500 else "Sender"
            body = ("<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message>"
                    "</Error><RequestId>%s</RequestId></ErrorResponse>"
                    % (kind, code, message, request_id))
            headers = [("Content-Type", "text/xml")]
        else:
            body = json.dumps({"__type": code, "message": message})
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
        headers.append(("x-amzn-RequestId", request_id))
        data = body.encode("utf-8")
        headers.append(("Content-Length", str(len(data))))
        reasons = {400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests",
                   500: "Internal Server Error", 503: "Service Unavailable"}
        start_response("%d %s" % (status, reasons.get(status, "Error")), headers)
        return [data]

    @staticmethod
    def _json(start_response, status, payload):
        data = json.dumps(payload, default=str).encode("utf-8")
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

    # ------------------------------------------------------------------ control API
    def control(self, environ, start_response, body):
        path = environ.get("PATH_INFO", "")[len(CONTROL_PREFIX):]
        method = environ["REQUEST_METHOD"]
        match = re.match(r"^eks/token-review/([^/]+)$", path)
        if match and method == "POST":
            self.emulator.stats.count("webhook:token-review")
            review = self.emulator.token_review(match.group(1), body)
            return self._json(start_response, "200 OK", review)
        match = re.match(r"^eks/authorize/([^/]+)$", path)
        if match and method == "POST":
            self.emulator.stats.count("webhook:authorize")
            return self._json(start_response, "200 OK", self.emulator.authorize(match.group(1), body))
        if path == "faults":
            if method == "GET":
                return self._json(start_response, "200 OK",
                                  {"faults": self.emulator.faults.snapshot(),
                                   "hits": self.emulator.faults.hits})
            if method == "DELETE":
                self.emulator.faults.clear()
                return self._json(start_response, "200 OK", {"faults": []})
            if method == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    self.emulator.faults.add(spec["service"], spec["operation"],
                                             spec.get("count", 1), str(spec.get("kind", "throttle")),
                                             spec.get("delay"))
                except (KeyError, ValueError) as exc:
                    return self._json(start_response, "400 Bad Request", {"error": str(exc)})
                return self._json(start_response, "200 OK",
                                  {"faults": self.emulator.faults.snapshot()})
        if path == "delays":
            lifecycle = self.emulator.lifecycle
            if method == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    for key in ("ready_delay", "update_delay", "delete_delay"):
                        if key in spec:
                            setattr(lifecycle, key, float(spec[key]))
                except (ValueError, TypeError) as exc:
                    return self._json(start_response, "400 Bad Request", {"error": str(exc)})
            if method in ("GET", "POST"):
                return self._json(start_response, "200 OK", {
                    k: getattr(lifecycle, k) for k in ("ready_delay", "update_delay", "delete_delay")})
        if path == "status" and method == "GET":
            return self._json(start_response, "200 OK", self.emulator.status())
        if path == "stats" and method in ("GET", "DELETE"):
            if method == "DELETE":
                self.emulator.stats.clear()
            return self._json(start_response, "200 OK", self.emulator.stats.snapshot())
        return self._json(start_response, "404 Not Found", {"error": "no such control path"})

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ, start_response):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self.control(environ, start_response, body)
        if path.startswith("/moto-api"):
            return self.moto_app(environ, start_response)

        auth_header = environ.get("HTTP_AUTHORIZATION", "")
        service = "unknown"
        try:
            service = parse_authorization(auth_header)["service"]
        except SignatureError:
            pass
        json_protocol = bool(environ.get("HTTP_X_AMZ_TARGET"))
        operation = self._operation(service, environ, body)
        # the sandbox's LB controller mirrors ELBs (aws_elb.py): counted apart, not the client's calls
        sandbox = aws_elb.SANDBOX_AGENT in environ.get("HTTP_USER_AGENT", "")
        self.emulator.stats.count("%s%s:%s" % ("sandbox:" if sandbox else "", service, operation))
        if self.emulator.verify_signatures:
            try:
                self.emulator.verify_request(environ, body)
            except SignatureError as err:
                code = err.code
                if service == "ec2":
                    code = "AuthFailure"
                elif code == "InvalidClientTokenId" and (service not in QUERY_SERVICES
                                                         or json_protocol):
                    code = "UnrecognizedClientException"
                return self._error(start_response, service, code, err.message, 403, json_protocol)

        fault, delay = self.emulator.faults.take(service, operation)
        if fault == "slow":
            time.sleep(delay)
        elif fault == "failed":
            self.emulator.lifecycle.fail_next(operation)
        if fault == "throttle":
            if service == "ec2":
                return self._error(start_response, service, "RequestLimitExceeded",
                                   "Request limit exceeded.", 503)
            if service in QUERY_SERVICES and not json_protocol:
                return self._error(start_response, service, "Throttling", "Rate exceeded", 400)
            return self._error(start_response, service, "ThrottlingException", "Rate exceeded",
                               429, json_protocol)
        if fault == "500":
            return self._error(start_response, service, "InternalFailure",
                               "We encountered an internal error. Please try again.", 500,
                               json_protocol)
        if fault == "503":
            return self._error(start_response, service, "ServiceUnavailable",
                               "Service is unavailable. Please try again.", 503, json_protocol)
        return self.moto_app(environ, start_response)


class AWSEmulator:
    """moto server + EKS extensions + token webhook + fault injection, in this process."""

    def __init__(self, host="127.0.0.1", port=DEFAULT_PORT, home=None, ready_delay=2.0,
                 update_delay=1.0, delete_delay=1.0, start_clusters=True,
                 verify_signatures=True, token_max_age=900, honour_token_expires=False,
                 cluster_manager=None):
        # AWS managed policies (AmazonEKSClusterPolicy, ...) for the role's iam_role tasks
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        self.host = host
        self.port = port
        self.home = home or sandbox_home()
        self.aws_dir = os.path.join(self.home, "aws")
        self.credentials_file = os.path.join(self.aws_dir, "credentials")
        self.admin_key, self.admin_secret = load_or_create_admin_credentials(
            self.credentials_file)
        self.start_clusters = start_clusters
        self.verify_signatures = verify_signatures
        self.token_max_age = token_max_age
        self.honour_token_expires = honour_token_expires
        self.faults = FaultInjector()
        self.stats = RequestCounter()
        self._tokens_seen, self._tokens_lock = {}, threading.Lock()
        # the address the sandbox's operator is taken to come from (data: checked against publicAccessCidrs)
        self.operator_address = os.environ.get("MESH_SANDBOX_OPERATOR_ADDRESS") or "203.0.113.10"
        self._cluster_manager = cluster_manager
        self._cm_lock = threading.Lock()
        self._server = None
        self._thread = None
        self.lifecycle = aws_eks_ext.Lifecycle(
            ready_delay=ready_delay, update_delay=update_delay, delete_delay=delete_delay,
            on_cluster_create=self._cluster_up if start_clusters else None,
            on_cluster_delete=self._cluster_down if start_clusters else None)
        self.lifecycle.principal_of = self.arn_for
        aws_eks_ext.install(self.lifecycle)

    # ------------------------------------------------------------------ addresses
    @property
    def endpoint_url(self):
        return "http://%s:%d" % (self.host, self.port)

    def webhook_url(self, cluster_name):
        return "%s%seks/token-review/%s" % (self.endpoint_url, CONTROL_PREFIX, cluster_name)

    def authz_webhook_url(self, cluster_name):
        return "%s%seks/authorize/%s" % (self.endpoint_url, CONTROL_PREFIX, cluster_name)

    # ------------------------------------------------------------------ identities
    def _iam_key(self, access_key):
        from moto.iam.models import iam_backends
        for account_id, account in list(iam_backends.items()):
            backend = account.get("aws") if hasattr(account, "get") else account["aws"]
            key = backend.access_keys.get(access_key) if backend else None
            if key is not None and key.status == "Active":
                return account_id, key
        return None, None

    def secret_for(self, access_key):
        if access_key == self.admin_key:
            return self.admin_secret
        _account, key = self._iam_key(access_key)
        return key.secret_access_key if key is not None else None

    def session_token_for(self, access_key):
        """The session token of temporary credentials from sts:AssumeRole, else None."""
        account_id, key = self._iam_key(access_key)
        if key is None or not key.role_arn:
            return None
        from moto.sts.models import sts_backends
        for partition in list(sts_backends[account_id].keys()):
            role = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key)
            if role is not None:
                return role.session_token
        return None

    def arn_for(self, access_key):
        if access_key == self.admin_key:
            return "arn:aws:iam::%s:user/%s" % (DEFAULT_ACCOUNT_ID, ADMIN_USER)
        account_id, key = self._iam_key(access_key)
        if key is None:
            return None
        if key.role_arn:
            return key.role_arn
        return "arn:aws:iam::%s:user/%s" % (account_id, key.user_name)

    def verify_request(self, environ, body):
        headers = {}
        for name, value in environ.items():
            if name.startswith("HTTP_"):
                headers[name[5:].replace("_", "-").lower()] = value
        if "CONTENT_TYPE" in environ and environ["CONTENT_TYPE"]:
            headers["content-type"] = environ["CONTENT_TYPE"]
        if "CONTENT_LENGTH" in environ and environ["CONTENT_LENGTH"]:
            headers["content-length"] = environ["CONTENT_LENGTH"]
        if "authorization" not in headers:
            raise SignatureError("MissingAuthenticationToken",
                                 "Request is missing Authentication Token")
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw_uri:
            raw_uri = environ.get("PATH_INFO", "/")
            if environ.get("QUERY_STRING"):
                raw_uri += "?" + environ["QUERY_STRING"]
        host = headers.get("host") or "%s:%d" % (self.host, self.port)
        auth = verify_header_signed(environ["REQUEST_METHOD"], environ.get("wsgi.url_scheme", "http"),
                                    host, raw_uri, headers, body, self.secret_for)
        # Temporary credentials (sts:AssumeRole, ASIA... keys) are valid only with their session
        # token, as on AWS: a client that drops the token (e.g. reads AWS_SESSION_TOKEN only while
        # the token is in AWS_SECURITY_TOKEN) is refused.
        token = self.session_token_for(auth["access_key"])
        if token and not hmac.compare_digest(headers.get("x-amz-security-token", ""), token):
            raise SignatureError("InvalidClientTokenId",
                                 "The security token included in the request is invalid.")

    # ------------------------------------------------------------------ token webhook
    def _cluster(self, name):
        from moto.eks.models import eks_backends
        for _account, regions in list(eks_backends.items()):
            for _region, backend in list(regions.items()):
                cluster = backend.clusters.get(name)
                if cluster is not None:
                    return cluster
        return None

    def public_endpoint_refusal(self, cluster):
        """Why the operator could not reach ``cluster``'s public endpoint, or None.

        The sandbox's clients with EKS tokens (the operator, AWX) reach the API server from outside the VPC, so
        through the public endpoint: EKS lets them in only while it is on and one of its publicAccessCidrs holds
        their address. The sandbox takes their address to be ``operator_address`` (data, never a destination;
        MESH_SANDBOX_OPERATOR_ADDRESS, default 203.0.113.10). Real EKS drops such a connection (a timeout); here
        the token is refused (401), with this reason in the webhook's answer."""
        if cluster is None:
            return None
        config = getattr(cluster, "resources_vpc_config", None) or {}
        if not config.get("endpointPublicAccess", True):
            return ("the public endpoint of %s is off (endpointPublicAccess false): only clients inside the VPC "
                    "reach it, and the operator (%s) is not" % (cluster.name, self.operator_address))
        address = ipaddress.ip_address(self.operator_address)
        cidrs = config.get("publicAccessCidrs") or ["0.0.0.0/0"]
        if not any(address in ipaddress.ip_network(c, strict=False) for c in cidrs):
            return ("the operator's address %s is not in the publicAccessCidrs %s of %s"
                    % (self.operator_address, ", ".join(cidrs), cluster.name))
        return None

    def _count_new_token(self, cluster_name, token):
        """Count each distinct valid token a cluster's API server asks about (in /_sandbox/stats:
        ``webhook:token-review:new-token:<cluster>``): more than one over a run means the client renewed it."""
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._tokens_lock:
            seen = self._tokens_seen.setdefault(cluster_name, set())
            if digest in seen:
                return
            seen.add(digest)
        self.stats.count("webhook:token-review:new-token:%s" % cluster_name)

    def token_review(self, cluster_name, body):
        """Answer a TokenReview for the API server of ``cluster_name``."""
        try:
            review = json.loads(body or b"{}")
        except ValueError:
            review = {}
        out = {"apiVersion": review.get("apiVersion", "authentication.k8s.io/v1"),
               "kind": "TokenReview", "status": {"authenticated": False}}
        token = (review.get("spec") or {}).get("token", "")
        allowed = {"%s:%d" % (self.host, self.port), "localhost:%d" % self.port,
                   "sts.amazonaws.com"}
        cluster = self._cluster(cluster_name)
        if cluster is not None:
            allowed.add("sts.%s.amazonaws.com" % cluster.region_name)
        try:
            ident = verify_eks_token(token, cluster_name, self.secret_for, allowed,
                                     max_age=self.token_max_age,
                                     honour_expires=self.honour_token_expires)
        except SignatureError as err:
            out["status"]["error"] = "%s: %s" % (err.code, err.message)
            # tests read these (GET /_sandbox/stats): a run with short-lived tokens must show none refused
            self.stats.count("webhook:token-review:refused:%s:%s" % (cluster_name, err.code))
            return out
        self._count_new_token(cluster_name, token)
        blocked = self.public_endpoint_refusal(cluster)
        if blocked:
            out["status"]["error"] = blocked
            self.stats.count("webhook:token-review:refused:%s:PublicEndpoint" % cluster_name)
            return out
        arn = self.arn_for(ident["access_key"])
        if cluster is None or arn is None:
            out["status"]["error"] = "unknown cluster or principal"
            self.stats.count("webhook:token-review:refused:%s:UnknownPrincipal" % cluster_name)
            return out
        user = self.kube_user(cluster, arn, ident["access_key"])
        if user is None:
            out["status"]["error"] = "ARN %s is not mapped to a Kubernetes identity (no access entry)" % arn
            self.stats.count("webhook:token-review:refused:%s:NotMapped" % cluster_name)
            return out
        out["status"] = {"authenticated": True, "user": user, "audiences": review.get(
            "spec", {}).get("audiences") or []}
        return out

    def kube_user(self, cluster, arn, access_key):
        """The Kubernetes user EKS maps caller ``arn`` to on ``cluster``, or None (not mapped: 401).

        The creator keeps the sandbox's admin identity (``system:masters``) while it is admin: through its access
        entry with AmazonEKSClusterAdminPolicy at cluster scope (API modes; EKS made that entry at creation), or
        through EKS's hidden aws-auth mapping of a cluster created in CONFIG_MAP mode (while the mode has
        CONFIG_MAP). Any other principal needs an access entry: its username (``{{SessionName}}`` filled in)
        and kubernetesGroups; what it may do comes from the entry's access policies (``authorize``) and RBAC.
        """
        mode = cluster.access_config.get("authenticationMode")
        principal = aws_eks_ext.canonical_principal(arn)
        entry = aws_eks_ext.find_entry(cluster, principal) if mode != "CONFIG_MAP" and principal else None
        extra = {"arn": [arn], "canonicalArn": [principal or arn], "accessKeyId": [access_key]}
        creator = getattr(cluster, "creator_arn", None)
        if creator and arn == creator and cluster.access_config.get("bootstrapClusterCreatorAdminPermissions", True):
            admin_policy = aws_eks_ext.ACCESS_POLICY_PREFIX + "AmazonEKSClusterAdminPolicy"
            via_entry = entry is not None and (entry["_policies"].get(admin_policy) or {}).get(
                "accessScope", {}).get("type") == "cluster"
            via_config_map = getattr(cluster, "creator_config_map_admin", False) and mode != "API"
            if via_entry or via_config_map:
                return {"username": "kubernetes-admin", "uid": "aws-iam-authenticator:" + arn,
                        "groups": ["system:masters", "system:authenticated"], "extra": extra}
        if entry is None or entry["type"] != "STANDARD":
            return None
        session = aws_eks_ext.ASSUMED_ROLE_RE.match(arn)
        username = entry["username"].replace("{{SessionName}}", session.group(3) if session else "unknown") \
            .replace("{{AccountID}}", cluster.account_id)
        return {"username": username, "uid": "aws-iam-authenticator:" + arn,
                "groups": list(entry["kubernetesGroups"]) + ["system:authenticated"], "extra": extra}

    def authorize(self, cluster_name, body):
        """Answer a SubjectAccessReview for the API server of ``cluster_name`` (its authorization webhook, after
        Node and RBAC): allowed when an access policy associated with the caller's access entry allows the
        request, else no opinion (the API server refuses with 403). Callers without an EKS identity (no
        ``canonicalArn`` in extra: service accounts, certificates) get no opinion."""
        try:
            review = json.loads(body or b"{}")
        except ValueError:
            review = {}
        spec = review.get("spec") or {}
        out = {"apiVersion": review.get("apiVersion", "authorization.k8s.io/v1"), "kind": "SubjectAccessReview",
               "status": {"allowed": False}}
        extra = spec.get("extra") or {}
        principal = (extra.get("canonicalArn") or extra.get("canonicalarn") or [None])[0]
        cluster = self._cluster(cluster_name)
        if cluster is None or not principal:
            out["status"]["reason"] = "no EKS identity"
            return out
        res = spec.get("resourceAttributes")
        if res is not None:
            attrs = {"verb": res.get("verb"), "group": res.get("group"), "resource": res.get("resource"),
                     "namespace": res.get("namespace")}
        else:
            attrs = {"verb": (spec.get("nonResourceAttributes") or {}).get("verb"), "non_resource": True}
        with aws_eks_ext.LOCK:
            allowed, reason = aws_eks_ext.access_decision(cluster, principal, attrs)
        out["status"] = {"allowed": allowed, "reason": reason}
        return out

    # ------------------------------------------------------------------ clusters
    def _manager(self):
        with self._cm_lock:
            if self._cluster_manager is None:
                from .clusters import ClusterManager
                self._cluster_manager = ClusterManager()
            return self._cluster_manager

    def _cluster_up(self, cluster):
        manager = self._manager()
        stale = manager.get(cluster.name)
        if stale and (stale.get("webhook_url") != self.webhook_url(cluster.name)
                      or stale.get("authz_webhook_url") != self.authz_webhook_url(cluster.name)):
            # left by an earlier emulator run (moto's state is in memory only)
            manager.down(cluster.name)
        # extra_env tells the cluster's LB controller where to mirror ELBs (aws_elb.py); no secret
        # goes there, only the path of the 0600 credentials file.
        info = manager.up(cluster.name, flavor="eks", webhook_url=self.webhook_url(cluster.name),
                          authz_webhook_url=self.authz_webhook_url(cluster.name),
                          extra_env={"AWS_REGION": cluster.region_name,
                                     "MESH_AWS_ENDPOINT_URL": self.endpoint_url,
                                     "MESH_AWS_CREDENTIALS_FILE": self.credentials_file,
                                     "MESH_EKS_CLUSTER": cluster.name})
        ca_pem = info["ca_pem"]
        if isinstance(ca_pem, str):
            ca_pem = ca_pem.encode("ascii")
        return {"endpoint": info["server"], "ca_data": base64.b64encode(ca_pem).decode("ascii")}

    def _cluster_down(self, cluster):
        self._manager().down(cluster.name)

    # ------------------------------------------------------------------ status / lifecycle
    def status(self):
        from moto.eks.models import eks_backends
        clusters = []
        for account, regions in list(eks_backends.items()):
            for region, backend in list(regions.items()):
                for cluster in list(backend.clusters.values()):
                    clusters.append({"account": account, "region": region, "name": cluster.name,
                                     "status": cluster.status, "endpoint": cluster.endpoint,
                                     "nodegroups": {n: g.status for n, g in
                                                    cluster.nodegroups.items()}})
        return {"endpoint_url": self.endpoint_url, "clusters": clusters,
                "errors": list(self.lifecycle.errors), "faults": self.faults.snapshot(),
                "node_join_failures": list(self.lifecycle.node_join_failures),
                "credentials_file": self.credentials_file, "profile": PROFILE}

    def make_app(self):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        return EmulatorApp(self, DomainDispatcherApplication(create_backend_app))

    def start(self):
        from werkzeug.serving import make_server
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        self._server = make_server(self.host, self.port, self.make_app(), threaded=True,
                                   request_handler=MotoRequestHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._write_state()
        return self

    def _write_state(self):
        write_private(os.path.join(self.aws_dir, "emulator.json"), json.dumps({
            "endpoint_url": self.endpoint_url, "pid": os.getpid(),
            "credentials_file": self.credentials_file, "profile": PROFILE,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat()}, indent=2))

    def stop(self, down_clusters=True):
        if down_clusters and self.start_clusters:
            for entry in self.status()["clusters"]:
                try:
                    self._manager().down(entry["name"])
                except Exception:
                    pass
        if self._server is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._server = None
        try:
            os.unlink(os.path.join(self.aws_dir, "emulator.json"))
        except OSError:
            pass

    def serve_forever(self):
        """Serve until SIGINT/SIGTERM, then stop (and take the clusters' API servers down)."""
        import signal
        if self._server is None:
            self.start()

        def _term(_signum, _frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _term)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def inject_fault(endpoint_url, service, operation, count=1, kind="throttle", delay=None):
    """Test helper: the next ``count`` calls of service:operation fail with ``kind``."""
    import urllib.request
    spec = {"service": service, "operation": operation, "count": count, "kind": kind}
    if delay is not None:
        spec["delay"] = delay
    req = urllib.request.Request(
        endpoint_url.rstrip("/") + CONTROL_PREFIX + "faults", method="POST",
        data=json.dumps(spec).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())
