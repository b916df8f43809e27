"""A small, faithful emulator of the GKE REST API v1 subset used by multicloud.mesh.

Serves (under ``/v1``):

* ``projects/{p}/locations/{l}/clusters`` create/get/list/delete, ``PUT`` update with a
  ``ClusterUpdate``, ``:setResourceLabels`` (label fingerprint checked);
* ``.../clusters/{c}/nodePools`` create/get/list/delete, ``:setAutoscaling``, ``:setSize``,
  ``:setManagement`` and ``PUT`` update (version, labels, taints);
* ``.../operations/{op}`` get and ``.../operations`` list; ``.../serverConfig``.

Plus an OAuth2 token endpoint (``POST /token``, JWT-bearer grant as google-auth's
service-account credentials send it; the JWT signature is checked against the public key of
a service account key this emulator generated), a Kubernetes TokenReview webhook
(``POST /tokenreview``) that authenticates only tokens this emulator issued, and admin
endpoints for tests (``/_emulator/...``).

Each cluster is a real local API server made by ``meshsandbox.clusters.ClusterManager``
(``clusters="real"``), or, for tests that only need the REST surface, a placeholder
(``clusters="none"``: the endpoint is a TEST-NET address nothing listens on).

Everything is standard library plus ``cryptography`` (and the ``kubernetes`` client, only to
create the IAM-emulating ClusterRoleBinding in real clusters).
"""

import base64
import copy
import datetime
import hashlib
import ipaddress
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from . import cloud_versions
from .paths import write_private
from .stats import RequestCounter

LOG = logging.getLogger("meshsandbox.gke_emulator")

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# Versions this emulator offers: one table with the EKS emulator's (cloud_versions.py).
VALID_MASTER_VERSIONS = cloud_versions.GKE_VALID_MASTER_VERSIONS
CHANNEL_DEFAULTS = cloud_versions.GKE_CHANNEL_DEFAULTS
DEFAULT_CLUSTER_VERSION = cloud_versions.GKE_DEFAULT_VERSION

# A small, real subset of GCP regions; each has zones -a -b -c.
REGIONS = [
    "us-central1", "us-east1", "us-east4", "us-west1", "europe-west1", "europe-west3",
    "europe-west4", "europe-north1", "asia-east1", "asia-northeast1", "australia-southeast1",
]

HTTP_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
}
# google.rpc.Code numbers, for Operation.error (a google.rpc.Status, whose code is the rpc code).
RPC_CODE = {
    "OK": 0, "INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9, "INTERNAL": 13, "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}

# ---------------------------------------------------------------------------------------------
# Field trees this emulator accepts in request bodies. A value is None (scalar), "map" (string
# map), a dict (object) or a one-element list (array of that). Unknown names are rejected the
# way Google's front end rejects them (400 INVALID_ARGUMENT "Invalid JSON payload received.
# Unknown name ..."). tests/unit/sandbox/test_gke_emulator_contract.py checks every name here
# against the discovery document.
# ---------------------------------------------------------------------------------------------
NODE_TAINT = {"key": None, "value": None, "effect": None}
AUTOSCALING = {"enabled": None, "minNodeCount": None, "maxNodeCount": None, "locationPolicy": None,
               "totalMinNodeCount": None, "totalMaxNodeCount": None}
MANAGEMENT = {"autoUpgrade": None, "autoRepair": None}
NODE_CONFIG = {"machineType": None, "diskSizeGb": None, "diskType": None, "imageType": None,
               "labels": "map", "taints": [NODE_TAINT], "oauthScopes": [None], "tags": [None],
               "serviceAccount": None, "preemptible": None, "spot": None, "metadata": "map",
               "resourceLabels": "map"}
NODE_POOL = {"name": None, "config": NODE_CONFIG, "initialNodeCount": None,
             "autoscaling": AUTOSCALING, "management": MANAGEMENT, "version": None,
             "locations": [None]}
ADDONS = {
    "httpLoadBalancing": {"disabled": None},
    "horizontalPodAutoscaling": {"disabled": None},
    "networkPolicyConfig": {"disabled": None},
    "kubernetesDashboard": {"disabled": None},
    "dnsCacheConfig": {"enabled": None},
    "gcePersistentDiskCsiDriverConfig": {"enabled": None},
    "gcpFilestoreCsiDriverConfig": {"enabled": None},
    "gcsFuseCsiDriverConfig": {"enabled": None},
    "configConnectorConfig": {"enabled": None},
    "gkeBackupAgentConfig": {"enabled": None},
}
MASTER_AUTHORIZED_NETWORKS = {"enabled": None, "cidrBlocks": [{"cidrBlock": None, "displayName": None}],
                              "gcpPublicCidrsAccessEnabled": None}
CLUSTER = {
    "name": None, "description": None, "initialClusterVersion": None, "network": None,
    "subnetwork": None, "nodePools": [NODE_POOL], "addonsConfig": ADDONS, "resourceLabels": "map",
    "workloadIdentityConfig": {"workloadPool": None},
    "masterAuthorizedNetworksConfig": MASTER_AUTHORIZED_NETWORKS,
    "releaseChannel": {"channel": None}, "locations": [None], "clusterIpv4Cidr": None,
    "privateClusterConfig": {"enablePrivateNodes": None, "enablePrivateEndpoint": None,
                             "masterIpv4CidrBlock": None},
    "ipAllocationPolicy": {"useIpAliases": None, "clusterIpv4CidrBlock": None,
                           "servicesIpv4CidrBlock": None},
}
CLUSTER_UPDATE = {
    "desiredMasterVersion": None, "desiredNodeVersion": None, "desiredNodePoolId": None,
    "desiredAddonsConfig": ADDONS, "desiredReleaseChannel": {"channel": None},
    "desiredWorkloadIdentityConfig": {"workloadPool": None},
    "desiredMasterAuthorizedNetworksConfig": MASTER_AUTHORIZED_NETWORKS,
    "desiredNodePoolAutoscaling": AUTOSCALING, "desiredLocations": [None],
}
REQUEST_SCHEMAS = {
    "CreateClusterRequest": {"cluster": CLUSTER, "parent": None},
    "UpdateClusterRequest": {"update": CLUSTER_UPDATE, "name": None},
    "SetLabelsRequest": {"resourceLabels": "map", "labelFingerprint": None, "name": None},
    "CreateNodePoolRequest": {"nodePool": NODE_POOL, "parent": None},
    "SetNodePoolAutoscalingRequest": {"autoscaling": AUTOSCALING, "name": None},
    "SetNodePoolSizeRequest": {"nodeCount": None, "name": None},
    "SetNodePoolManagementRequest": {"management": MANAGEMENT, "name": None},
    "UpdateNodePoolRequest": {"nodeVersion": None, "imageType": None, "labels": {"labels": "map"},
                              "taints": {"taints": [NODE_TAINT]},
                              "resourceLabels": {"labels": "map"}, "name": None,
                              "locations": [None]},
}


class ApiError(Exception):
    """An error answered as a google.rpc.Status JSON body."""

    def __init__(self, http_code, message, status=None, headers=None):
        super().__init__(message)
        self.http_code = http_code
        self.message = message
        self.status = status or HTTP_STATUS.get(http_code, "UNKNOWN")
        self.headers = headers or {}

    def body(self):
        return {"error": {"code": self.http_code, "message": self.message, "status": self.status}}


def check_fields(body, tree, path=""):
    """Reject field names not in ``tree`` like Google's JSON front end does."""
    if tree is None:
        if isinstance(body, (dict, list)):
            raise ApiError(400, "Invalid JSON payload received. Invalid value at '%s'." % path.lstrip("."))
        return
    if tree == "map":
        if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
            raise ApiError(400, "Invalid JSON payload received. Invalid value at '%s': "
                                "expected a map of strings." % path.lstrip("."))
        return
    if isinstance(tree, list):
        if not isinstance(body, list):
            raise ApiError(400, "Invalid JSON payload received. Invalid value at '%s': "
                                "expected a list." % path.lstrip("."))
        for i, item in enumerate(body):
            check_fields(item, tree[0], "%s[%d]" % (path, i))
        return
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received. Invalid value at '%s'." % path.lstrip("."))
    for key, value in body.items():
        if key not in tree:
            where = ("at '%s'" % path.lstrip(".")) if path else ""
            raise ApiError(400, 'Invalid JSON payload received. Unknown name "%s" %s: '
                                "Cannot find field." % (key, where))
        check_fields(value, tree[key], "%s.%s" % (path, key))


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _rfc3339(ts=None):
    return (ts or _now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _b64url_decode(data):
    data += "=" * (-len(data) % 4)
    return base64.urlsafe_b64decode(data.encode("ascii"))


def label_fingerprint(labels):
    """GKE's fingerprint: an opaque hash of the labels (8 hex digits are enough for a test)."""
    raw = json.dumps(labels or {}, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:8]


def parse_location(location):
    """Return ("zone", region) / ("region", region) or raise INVALID_ARGUMENT."""
    m = re.match(r"^([a-z]+-[a-z]+\d+)(?:-([a-z]))?$", location or "")
    if not m or m.group(1) not in REGIONS:
        raise ApiError(400, 'Location "%s" does not exist.' % location)
    if m.group(2):
        if m.group(2) not in "abc":
            raise ApiError(400, 'Location "%s" does not exist.' % location)
        return "zone", m.group(1)
    return "region", m.group(1)


def resolve_version(alias, current=None):
    """'latest', '-', '1.X', '1.X.Y' or an exact version -> exact version, as GKE documents."""
    if alias in (None, "", "-", "latest"):
        return VALID_MASTER_VERSIONS[0] if alias in ("-", "latest") else (current or DEFAULT_CLUSTER_VERSION)
    for version in VALID_MASTER_VERSIONS:
        if version == alias or version.startswith(alias + ".") or version.startswith(alias + "-"):
            return version
    raise ApiError(400, 'Version "%s" is invalid.' % alias)


def _version_tuple(version):
    nums = re.findall(r"\d+", version)
    return tuple(int(n) for n in nums)


# A node pool's service account: "default" (the Compute Engine default account) or an account's email.
SERVICE_ACCOUNT_RE = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9.]*[a-z0-9]\.(iam\.gserviceaccount|"
                                r"developer\.gserviceaccount|appspot\.gserviceaccount)\.com$|^[0-9]+-compute@"
                                r"developer\.gserviceaccount\.com$")


def check_node_config(config, where):
    """What GKE refuses in a NodeConfig the module sends: a malformed service account, a scope that is not a URL."""
    account = config.get("serviceAccount")
    if account is not None and account != "default" and not SERVICE_ACCOUNT_RE.match(account):
        raise ApiError(400, "Invalid value for field '%s.serviceAccount': %r. The service account must be "
                            "\"default\" or the email of a service account." % (where, account))
    for scope in config.get("oauthScopes") or []:
        if not str(scope).startswith("https://www.googleapis.com/auth/"):
            raise ApiError(400, "Invalid value for field '%s.oauthScopes': %r. Expected a scope URL like %s."
                                % (where, scope, CLOUD_PLATFORM_SCOPE))


def check_private_cluster(body):
    """GKE: private nodes only on a VPC-native cluster (alias IPs), and the control plane's range is a /28."""
    private = body.get("privateClusterConfig") or {}
    if not private.get("enablePrivateNodes"):
        if private.get("masterIpv4CidrBlock"):
            raise ApiError(400, "masterIpv4CidrBlock can only be set with enablePrivateNodes.")
        return None
    if not (body.get("ipAllocationPolicy") or {}).get("useIpAliases"):
        raise ApiError(400, "Alias IP addresses are required for private cluster, please make sure you enable "
                            "alias IPs when creating a cluster.")
    block = private.get("masterIpv4CidrBlock")
    if block:  # since GKE 1.29 optional (Private Service Connect picks an address from the subnetwork)
        try:
            network = ipaddress.IPv4Network(block, strict=True)
        except ValueError:
            raise ApiError(400, 'Unable to parse cluster.master_ipv4_cidr "%s" into a valid IP address and mask.'
                           % block)
        if network.prefixlen != 28:
            raise ApiError(400, "The master CIDR block %s must be a /28 (cluster.master_ipv4_cidr)." % block)
        return str(network[2])
    return "10.128.0.2"


def sandbox_home():
    home = os.environ.get("MESH_SANDBOX_HOME")
    if home:
        return home
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(repo, ".cache", "sandbox")


class _NoClusters:
    """Stand-in for ClusterManager when clusters="none": fixed TEST-NET endpoint, a real CA PEM."""

    def __init__(self):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gke-emulator-placeholder-ca")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(_now() - datetime.timedelta(minutes=5))
                .not_valid_after(_now() + datetime.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        self.ca_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.counter = 0

    def up(self, name, flavor="gke", webhook_url=None):
        self.counter += 1
        return {"name": name, "flavor": flavor, "server": "https://203.0.113.%d:443" % (self.counter % 250 + 1),
                "ca_pem": self.ca_pem, "admin_kubeconfig": None}

    def down(self, name):
        return None


# ---------------------------------------------------------------------------------------------
# the emulator
# ---------------------------------------------------------------------------------------------

class GkeEmulator:
    """State and behaviour; ``serve()`` puts it behind an HTTP server."""

    def __init__(self, state_dir=None, delay=None, clusters=None, allowed_projects=None,
                 base_url=None, token_ttl=None, cluster_manager=None):
        self.state_dir = state_dir or os.path.join(sandbox_home(), "gke-emulator")
        self.state_file = os.path.join(self.state_dir, "state.json")
        self.delay = float(delay if delay is not None else os.environ.get("MESH_GKE_EMULATOR_DELAY", "1.0"))
        self.clusters_mode = clusters or os.environ.get("MESH_GKE_EMULATOR_CLUSTERS", "real")
        env_allowed = os.environ.get("MESH_GKE_EMULATOR_ALLOWED_PROJECTS", "")
        self.default_projects = allowed_projects or [p for p in env_allowed.split(",") if p]
        self.token_ttl = int(token_ttl or os.environ.get("MESH_GKE_EMULATOR_TOKEN_TTL", "3600"))
        self.base_url = base_url
        self.lock = threading.RLock()
        # [{"kind": "error"|"slow"|"operation", "remaining": n, "match": substring or "",
        #   "code": 429|5xx (error), "delay": seconds (slow), "message": text (operation)}]
        self.faults = []
        env_faults = os.environ.get("MESH_GKE_EMULATOR_FAULTS", "")  # e.g. "429:2,503:1"
        for item in filter(None, env_faults.split(",")):
            code, dummy, count = item.partition(":")
            self.faults.append({"kind": "error", "remaining": int(count or 1), "code": int(code), "match": ""})
        self._manager = cluster_manager
        self.stats = RequestCounter()  # GET /_emulator/stats (meshsandbox.stats)
        self.threads = []
        self.state = {"service_accounts": {}, "tokens": {}, "clusters": {}, "operations": {}}
        self._load()

    # ---- persistence -------------------------------------------------------------------------
    def _load(self):
        if os.path.exists(self.state_file):
            with open(self.state_file) as handle:
                self.state.update(json.load(handle))
            now = time.time()
            self.state["tokens"] = {t: v for t, v in self.state["tokens"].items() if v["expiry"] > now}

    def save(self):
        with self.lock:
            write_private(self.state_file, json.dumps(self.state, indent=1, sort_keys=True))

    def resume(self):
        """Finish operations a previous process left RUNNING (called once the server is up)."""
        for op in list(self.state["operations"].values()):
            if op["status"] != "DONE":
                self._schedule(op["name"], 0)

    @property
    def manager(self):
        if self._manager is None:
            if self.clusters_mode == "none":
                self._manager = _NoClusters()
            else:
                from meshsandbox.clusters import ClusterManager  # pylint: disable=import-outside-toplevel
                self._manager = ClusterManager()
        return self._manager

    # ---- service accounts and tokens --------------------------------------------------------
    def create_key(self, project, account="mesh-deployer", projects=None):
        """Make a service account key; return the key file dict (the private key is not kept)."""
        email = "%s@%s.iam.gserviceaccount.com" % (account, project)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = secrets.token_hex(20)
        private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        allowed = sorted(set([project] + list(projects or []) + list(self.default_projects)))
        with self.lock:
            sa = self.state["service_accounts"].setdefault(
                email, {"email": email, "projects": allowed, "keys": {},
                        "client_id": str(secrets.randbelow(10 ** 20)).zfill(21)})
            sa["projects"] = sorted(set(sa["projects"]) | set(allowed))
            sa["keys"][kid] = public_pem
        self.save()
        base = self.base_url or "http://127.0.0.1"
        return {
            "type": "service_account", "project_id": project, "private_key_id": kid,
            "private_key": private_pem, "client_email": email, "client_id": sa["client_id"],
            "auth_uri": base + "/o/oauth2/auth", "token_uri": base + "/token",
            "auth_provider_x509_cert_url": base + "/oauth2/v1/certs",
            "client_x509_cert_url": base + "/robot/v1/metadata/x509/" + urllib.parse.quote(email),
            "universe_domain": "googleapis.com",
        }

    def issue_token(self, assertion):
        """Verify a JWT-bearer assertion; return the OAuth2 token response or raise ValueError."""
        try:
            head_b64, payload_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(payload_b64))
            signature = _b64url_decode(sig_b64)
        except Exception:  # pylint: disable=broad-except
            raise ValueError("Invalid JWT: malformed assertion")
        if header.get("alg") != "RS256":
            raise ValueError("Invalid JWT: only RS256 is accepted")
        sa = self.state["service_accounts"].get(claims.get("iss"))
        if not sa or header.get("kid") not in sa["keys"]:
            raise ValueError("Invalid JWT Signature.")
        public_key = serialization.load_pem_public_key(sa["keys"][header["kid"]].encode())
        try:
            public_key.verify(signature, ("%s.%s" % (head_b64, payload_b64)).encode(),
                              padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise ValueError("Invalid JWT Signature.")
        now = time.time()
        if not claims.get("exp") or claims["exp"] < now - 30 or claims.get("iat", 0) > now + 300:
            raise ValueError("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
        if not str(claims.get("aud", "")).endswith("/token"):
            raise ValueError("Invalid JWT: audience must be the token URI")
        scopes = str(claims.get("scope", "")).split()
        if not scopes:
            raise ValueError("Invalid OAuth scope or ID token audience provided.")
        token = "ya29.emu" + secrets.token_urlsafe(48)
        with self.lock:
            self.state["tokens"][token] = {"email": sa["email"], "scopes": scopes,
                                           "expiry": now + self.token_ttl}
        self.save()
        return {"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"}

    def token_info(self, token):
        info = self.state["tokens"].get(token or "")
        if not info or info["expiry"] < time.time():
            return None
        return info

    # ---- faults ------------------------------------------------------------------------------
    def take_fault(self, path, kinds=("error", "slow")):
        """The next fault (a dict) for a request to ``path`` (or an operation type), or None."""
        with self.lock:
            for fault in self.faults:
                if fault.get("kind", "error") in kinds and fault["remaining"] > 0 \
                        and fault.get("match", "") in path:
                    fault["remaining"] -= 1
                    return fault
        return None

    @staticmethod
    def parse_fault(body):
        """A fault from the JSON body of ``POST /_emulator/faults`` (ValueError when wrong)."""
        kind = body.get("kind", "error")
        fault = {"kind": kind, "remaining": int(body.get("count", 1)), "match": body.get("match", "")}
        if kind == "error":
            fault["code"] = int(body.get("code", 503))
        elif kind == "slow":
            fault["delay"] = float(body["delay"])
        elif kind == "operation":
            fault["message"] = body.get("message") or "The operation failed (injected fault)."
            fault["status"] = body.get("status", "RESOURCE_EXHAUSTED")
            if fault["status"] not in RPC_CODE:
                raise ValueError("status must be one of %s" % ", ".join(sorted(RPC_CODE)))
        else:
            raise ValueError("kind must be error, slow or operation")
        return fault

    # ---- operations --------------------------------------------------------------------------
    def _self_link(self, path):
        return "%s/v1/%s" % (self.base_url or "", path)

    def _new_operation(self, project, location, op_type, target_path, cluster_key, work, delay=None):
        name = "operation-%d-%s" % (int(time.time() * 1000), secrets.token_hex(4))
        op = {
            "name": name, "zone": location, "location": location,
            "operationType": op_type, "status": "RUNNING", "startTime": _rfc3339(),
            "selfLink": self._self_link("projects/%s/locations/%s/operations/%s" % (project, location, name)),
            "targetLink": self._self_link(target_path), "detail": "",
            "_project": project, "_cluster": cluster_key, "_work": work,
        }
        with self.lock:
            self.state["operations"][name] = op
        self.save()
        self._schedule(name, self.delay if delay is None else delay)
        return op

    def _schedule(self, op_name, delay):
        thread = threading.Thread(target=self._run_operation, args=(op_name, delay), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _run_operation(self, op_name, delay):
        time.sleep(delay)
        op = self.state["operations"].get(op_name)
        if op is None:
            return
        error = None
        fault = self.take_fault(op["operationType"], kinds=("operation",))
        try:
            if fault:  # the operation ends with an error and changes nothing
                raise ApiError(400, fault["message"], fault["status"])
            getattr(self, "_work_" + op["_work"]["kind"])(op)
        except ApiError as exc:
            error = {"code": RPC_CODE.get(exc.status, 2), "message": exc.message}
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("operation %s failed", op_name)
            error = {"code": RPC_CODE["INTERNAL"], "message": "Internal error: %s" % exc}
        with self.lock:
            op["status"] = "DONE"
            op["endTime"] = _rfc3339()
            if error:
                op["error"] = error
                op["statusMessage"] = error["message"]
                cluster = self.state["clusters"].get(op["_cluster"])
                if cluster and op["operationType"] == "CREATE_CLUSTER":
                    cluster["status"] = "ERROR"
                    cluster["statusMessage"] = error["message"]
                elif cluster and cluster["status"] == "RECONCILING":
                    cluster["status"] = "RUNNING"
        self.save()

    def running_operation(self, cluster_key):
        for op in self.state["operations"].values():
            if op["_cluster"] == cluster_key and op["status"] != "DONE":
                return op
        return None

    @staticmethod
    def public_operation(op):
        return {k: v for k, v in op.items() if not k.startswith("_") and v != ""}

    # ---- operation bodies (run in a worker thread after the delay) ---------------------------
    def _work_create_cluster(self, op):
        key = op["_cluster"]
        cluster = self.state["clusters"][key]
        local_name = cluster["_local_name"]
        webhook = "%s/tokenreview" % (self.base_url or "")
        info = self.manager.up(local_name, flavor="gke", webhook_url=webhook)
        creator = op["_work"].get("creator")
        if info.get("admin_kubeconfig") and creator:
            self._grant_iam_admin(info, self._admins_for(cluster["_project"], creator))
        with self.lock:
            server = info["server"]
            cluster["endpoint"] = server.split("://", 1)[-1].rsplit(":443", 1)[0] if server.endswith(":443") \
                else server.split("://", 1)[-1]
            cluster["masterAuth"] = {"clusterCaCertificate": base64.b64encode(info["ca_pem"].encode()).decode()}
            cluster["status"] = "RUNNING"
            for pool in cluster["nodePools"]:
                pool["status"] = "RUNNING"
            self._recount(cluster)

    def _admins_for(self, project, creator):
        users = {creator}
        for sa in self.state["service_accounts"].values():
            if project in sa["projects"]:
                users.add(sa["email"])
        return sorted(users)

    @staticmethod
    def _grant_iam_admin(info, users):
        """Emulate GKE's IAM authorizer: accounts with a role on the project are cluster admins."""
        from kubernetes import client, config  # pylint: disable=import-outside-toplevel
        kubeconfig = info["admin_kubeconfig"]
        if os.path.exists(str(kubeconfig)):
            api_client = config.new_client_from_config(config_file=kubeconfig)
        else:
            api_client = config.new_client_from_config_dict(kubeconfig)
        rbac = client.RbacAuthorizationV1Api(api_client)
        body = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "gke-emulator:iam-project-admins",
                         "labels": {"app.kubernetes.io/managed-by": "meshsandbox-gke-emulator"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u} for u in users],
        }
        try:
            rbac.create_cluster_role_binding(body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            rbac.replace_cluster_role_binding(body["metadata"]["name"], body)

    def _work_delete_cluster(self, op):
        cluster = self.state["clusters"][op["_cluster"]]
        self.manager.down(cluster["_local_name"])
        with self.lock:
            self.state["clusters"].pop(op["_cluster"], None)

    def _work_update_cluster(self, op):
        update = op["_work"]["update"]
        with self.lock:
            cluster = self.state["clusters"][op["_cluster"]]
            if "desiredMasterVersion" in update:
                cluster["currentMasterVersion"] = update["desiredMasterVersion"]
            if "desiredNodeVersion" in update:
                pool_id = update.get("desiredNodePoolId")
                for pool in cluster["nodePools"]:
                    if not pool_id or pool["name"] == pool_id:
                        pool["version"] = update["desiredNodeVersion"]
                cluster["currentNodeVersion"] = min((p["version"] for p in cluster["nodePools"]),
                                                    key=_version_tuple, default=cluster["currentMasterVersion"])
            if "desiredAddonsConfig" in update:
                addons = cluster.setdefault("addonsConfig", {})
                for name, value in update["desiredAddonsConfig"].items():
                    addons[name] = value
            if "desiredReleaseChannel" in update:
                cluster["releaseChannel"] = update["desiredReleaseChannel"]
            if "desiredWorkloadIdentityConfig" in update:
                wi = update["desiredWorkloadIdentityConfig"]
                if wi.get("workloadPool"):
                    cluster["workloadIdentityConfig"] = wi
                else:
                    cluster.pop("workloadIdentityConfig", None)
            if "desiredMasterAuthorizedNetworksConfig" in update:
                cluster["masterAuthorizedNetworksConfig"] = update["desiredMasterAuthorizedNetworksConfig"]
            if "desiredNodePoolAutoscaling" in update:
                pool = self._pool(cluster, update.get("desiredNodePoolId"))
                pool["autoscaling"] = update["desiredNodePoolAutoscaling"]
            if "desiredLocations" in update:
                cluster["locations"] = update["desiredLocations"]
            cluster["status"] = "RUNNING"

    def _work_set_labels(self, op):
        with self.lock:
            cluster = self.state["clusters"][op["_cluster"]]
            cluster["resourceLabels"] = op["_work"]["labels"]
            cluster["labelFingerprint"] = label_fingerprint(cluster["resourceLabels"])
            cluster["status"] = "RUNNING"

    def _work_create_node_pool(self, op):
        with self.lock:
            cluster = self.state["clusters"][op["_cluster"]]
            pool = self._pool(cluster, op["_work"]["pool"])
            pool["status"] = "RUNNING"
            self._recount(cluster)
            cluster["status"] = "RUNNING"

    def _work_delete_node_pool(self, op):
        with self.lock:
            cluster = self.state["clusters"][op["_cluster"]]
            cluster["nodePools"] = [p for p in cluster["nodePools"] if p["name"] != op["_work"]["pool"]]
            self._recount(cluster)
            cluster["status"] = "RUNNING"

    def _work_update_node_pool(self, op):
        work = op["_work"]
        with self.lock:
            cluster = self.state["clusters"][op["_cluster"]]
            pool = self._pool(cluster, work["pool"])
            for field, value in work["set"].items():
                target = pool
                parts = field.split(".")
                for part in parts[:-1]:
                    target = target.setdefault(part, {})
                if value is None:
                    target.pop(parts[-1], None)
                else:
                    target[parts[-1]] = value
            pool["status"] = "RUNNING"
            self._recount(cluster)
            cluster["status"] = "RUNNING"

    @staticmethod
    def _recount(cluster):
        cluster["currentNodeCount"] = sum(p.get("_nodeCount", p.get("initialNodeCount", 0))
                                          for p in cluster["nodePools"] if p.get("status") == "RUNNING")

    # ---- request handling --------------------------------------------------------------------
    @staticmethod
    def _pool(cluster, name):
        for pool in cluster["nodePools"]:
            if pool["name"] == name:
                return pool
        raise ApiError(404, "Not found: node pool %r." % name)

    def _cluster(self, project, location, name):
        cluster = self.state["clusters"].get("%s/%s/%s" % (project, location, name))
        if cluster is None:
            raise ApiError(404, "Not found: projects/%s/locations/%s/clusters/%s." % (project, location, name))
        return cluster

    def _busy(self, key):
        op = self.running_operation(key)
        if op:
            raise ApiError(400, "Cluster is running incompatible operation %s." % op["name"],
                           "FAILED_PRECONDITION")

    def public_cluster(self, cluster):
        out = {k: copy.deepcopy(v) for k, v in cluster.items() if not k.startswith("_")}
        out["nodePools"] = [self.public_pool(p) for p in cluster["nodePools"]]
        return out

    @staticmethod
    def public_pool(pool):
        return {k: copy.deepcopy(v) for k, v in pool.items() if not k.startswith("_")}

    def _make_pool(self, project, location, cname, body, version):
        name = body.get("name") or ""
        if not re.match(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", name):
            raise ApiError(400, "Invalid node pool name %r." % name)
        config = copy.deepcopy(body.get("config") or {})
        config.setdefault("machineType", "e2-medium")
        config.setdefault("diskSizeGb", 100)
        config.setdefault("diskType", "pd-balanced")
        config.setdefault("imageType", "COS_CONTAINERD")
        config.setdefault("oauthScopes", [CLOUD_PLATFORM_SCOPE])
        config.setdefault("serviceAccount", "default")
        for taint in config.get("taints", []):
            if taint.get("effect") not in ("NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"):
                raise ApiError(400, "Invalid taint effect %r." % taint.get("effect"))
        count = body.get("initialNodeCount", 3)
        if not isinstance(count, int) or count < 0:
            raise ApiError(400, "initial_node_count must be a non-negative integer.")
        autoscaling = copy.deepcopy(body.get("autoscaling") or {})
        self._check_autoscaling(autoscaling)
        management = body.get("management") or {"autoUpgrade": True, "autoRepair": True}
        pool = {
            "name": name, "config": config, "initialNodeCount": count,
            "management": management, "version": resolve_version(body.get("version"), version),
            "status": "PROVISIONING", "podIpv4CidrSize": 24,
            "selfLink": self._self_link("projects/%s/locations/%s/clusters/%s/nodePools/%s"
                                        % (project, location, cname, name)),
            "locations": body.get("locations") or (
                [location] if parse_location(location)[0] == "zone"
                else [location + "-a", location + "-b", location + "-c"]),
            "etag": secrets.token_hex(8), "_nodeCount": count,
        }
        if autoscaling:
            pool["autoscaling"] = autoscaling
        return pool

    @staticmethod
    def _check_autoscaling(autoscaling):
        if autoscaling.get("enabled"):
            lo, hi = autoscaling.get("minNodeCount", 0), autoscaling.get("maxNodeCount", 0)
            if lo < 0 or hi < 1 or lo > hi:
                raise ApiError(400, "Invalid autoscaling: minNodeCount (%s) must be >= 0 and <= "
                                    "maxNodeCount (%s), maxNodeCount >= 1." % (lo, hi))

    def handle(self, method, path, body, token):  # noqa: C901  (a router)
        """Route one API call; return (http_code, json)."""
        info = self.token_info(token)
        if info is None:
            raise ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                                "token, login cookie or other valid authentication credential.")
        m = re.match(r"^/v1/projects/([^/]+)/locations/([^/]+)/(.*)$", path)
        if not m:
            raise ApiError(404, "Requested entity was not found.")
        project, location, rest = m.groups()
        sa = self.state["service_accounts"].get(info["email"], {})
        if project not in sa.get("projects", []):
            raise ApiError(403, 'Required "container.clusters.%s" permission(s) for "projects/%s".'
                                % ("list" if method == "GET" else "update", project))
        parse_location(location)
        parts = rest.split("/")

        if rest == "serverConfig" and method == "GET":
            return 200, {"defaultClusterVersion": DEFAULT_CLUSTER_VERSION,
                         "validMasterVersions": VALID_MASTER_VERSIONS,
                         "validNodeVersions": VALID_MASTER_VERSIONS,
                         "defaultImageType": "COS_CONTAINERD",
                         "validImageTypes": ["COS_CONTAINERD", "UBUNTU_CONTAINERD"],
                         "channels": [{"channel": c, "defaultVersion": v,
                                       "validVersions": cloud_versions.gke_channel_versions(c)}
                                      for c, v in CHANNEL_DEFAULTS.items()]}
        if parts[0] == "operations":
            if len(parts) == 1 and method == "GET":
                ops = [self.public_operation(o) for o in self.state["operations"].values()
                       if o["_project"] == project and o["zone"] == location]
                return 200, {"operations": ops}
            if len(parts) == 2 and method == "GET":
                op = self.state["operations"].get(parts[1])
                if not op or op["_project"] != project:
                    raise ApiError(404, "Not found: operation %s." % parts[1])
                return 200, self.public_operation(op)
            raise ApiError(404, "Requested entity was not found.")
        if parts[0] != "clusters":
            raise ApiError(404, "Requested entity was not found.")

        if len(parts) == 1:
            if method == "GET":
                clusters = [self.public_cluster(c) for c in self.state["clusters"].values()
                            if c["_project"] == project and c["location"] == location]
                return 200, {"clusters": clusters}
            if method == "POST":
                check_fields(body, REQUEST_SCHEMAS["CreateClusterRequest"])
                return 200, self.create_cluster(project, location, body.get("cluster") or {}, info["email"])
            raise ApiError(404, "Requested entity was not found.")

        cname, dummy, verb = parts[1].partition(":")
        key = "%s/%s/%s" % (project, location, cname)
        with self.lock:
            cluster = self._cluster(project, location, cname)
            cpath = "projects/%s/locations/%s/clusters/%s" % (project, location, cname)
            if len(parts) == 2:
                if method == "GET" and not verb:
                    return 200, self.public_cluster(cluster)
                if method == "DELETE" and not verb:
                    self._busy(key)
                    cluster["status"] = "STOPPING"
                    return 200, self.public_operation(self._new_operation(
                        project, location, "DELETE_CLUSTER", cpath, key, {"kind": "delete_cluster"}))
                if method == "PUT" and not verb:
                    check_fields(body, REQUEST_SCHEMAS["UpdateClusterRequest"])
                    return 200, self._update_cluster(project, location, cluster, key, cpath, body.get("update") or {})
                if method == "POST" and verb == "setResourceLabels":
                    check_fields(body, REQUEST_SCHEMAS["SetLabelsRequest"])
                    if body.get("labelFingerprint") != cluster["labelFingerprint"]:
                        raise ApiError(400, "Labels could not be set due to fingerprint mismatch.",
                                       "FAILED_PRECONDITION")
                    self._busy(key)
                    cluster["status"] = "RECONCILING"
                    return 200, self.public_operation(self._new_operation(
                        project, location, "SET_LABELS", cpath, key,
                        {"kind": "set_labels", "labels": body.get("resourceLabels") or {}}))
                raise ApiError(404, "Requested entity was not found.")
            if parts[2] != "nodePools":
                raise ApiError(404, "Requested entity was not found.")
            if len(parts) == 3:
                if method == "GET":
                    return 200, {"nodePools": [self.public_pool(p) for p in cluster["nodePools"]]}
                if method == "POST":
                    check_fields(body, REQUEST_SCHEMAS["CreateNodePoolRequest"])
                    pool_body = body.get("nodePool") or {}
                    check_node_config(pool_body.get("config") or {}, "node_pool.config")
                    if any(p["name"] == pool_body.get("name") for p in cluster["nodePools"]):
                        raise ApiError(409, "Already exists: %s/nodePools/%s." % (cpath, pool_body.get("name")))
                    pool = self._make_pool(project, location, cname, pool_body, cluster["currentMasterVersion"])
                    self._busy(key)
                    cluster["nodePools"].append(pool)
                    cluster["status"] = "RECONCILING"
                    return 200, self.public_operation(self._new_operation(
                        project, location, "CREATE_NODE_POOL", cpath + "/nodePools/" + pool["name"], key,
                        {"kind": "create_node_pool", "pool": pool["name"]}))
                raise ApiError(404, "Requested entity was not found.")
            pname, dummy, pverb = parts[3].partition(":")
            pool = self._pool(cluster, pname)
            ppath = cpath + "/nodePools/" + pname
            if method == "GET" and not pverb:
                return 200, self.public_pool(pool)
            if method == "DELETE" and not pverb:
                self._busy(key)
                pool["status"] = "STOPPING"
                cluster["status"] = "RECONCILING"
                return 200, self.public_operation(self._new_operation(
                    project, location, "DELETE_NODE_POOL", ppath, key, {"kind": "delete_node_pool", "pool": pname}))
            changes, op_type = self._pool_changes(method, pverb, body, cluster, pool)
            self._busy(key)
            pool["status"] = "RECONCILING"
            cluster["status"] = "RECONCILING"
            return 200, self.public_operation(self._new_operation(
                project, location, op_type, ppath, key, {"kind": "update_node_pool", "pool": pname, "set": changes}))

    def _pool_changes(self, method, verb, body, cluster, pool):
        if method == "POST" and verb == "setAutoscaling":
            check_fields(body, REQUEST_SCHEMAS["SetNodePoolAutoscalingRequest"])
            autoscaling = body.get("autoscaling") or {}
            self._check_autoscaling(autoscaling)
            return {"autoscaling": autoscaling if autoscaling.get("enabled") else None}, "UPDATE_CLUSTER"
        if method == "POST" and verb == "setSize":
            check_fields(body, REQUEST_SCHEMAS["SetNodePoolSizeRequest"])
            count = body.get("nodeCount")
            if not isinstance(count, int) or count < 0:
                raise ApiError(400, "node_count must be a non-negative integer.")
            return {"_nodeCount": count}, "SET_NODE_POOL_SIZE"
        if method == "POST" and verb == "setManagement":
            check_fields(body, REQUEST_SCHEMAS["SetNodePoolManagementRequest"])
            return {"management": body.get("management") or {}}, "SET_NODE_POOL_MANAGEMENT"
        if method == "PUT" and not verb:
            check_fields(body, REQUEST_SCHEMAS["UpdateNodePoolRequest"])
            changes = {}
            if "nodeVersion" in body:
                version = resolve_version(body["nodeVersion"], cluster["currentMasterVersion"])
                if _version_tuple(version) > _version_tuple(cluster["currentMasterVersion"]):
                    raise ApiError(400, "Node version %s must not be newer than the master version %s."
                                   % (version, cluster["currentMasterVersion"]))
                changes["version"] = version
            if "labels" in body:
                changes["config.labels"] = (body["labels"] or {}).get("labels") or None
            if "taints" in body:
                taints = (body["taints"] or {}).get("taints") or []
                for taint in taints:
                    if taint.get("effect") not in ("NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"):
                        raise ApiError(400, "Invalid taint effect %r." % taint.get("effect"))
                changes["config.taints"] = taints or None
            if "resourceLabels" in body:
                changes["config.resourceLabels"] = (body["resourceLabels"] or {}).get("labels") or None
            if "imageType" in body:
                changes["config.imageType"] = body["imageType"]
            if "locations" in body:
                changes["locations"] = body["locations"]
            if not changes:
                raise ApiError(400, "At least one field must be set in the update request.")
            return changes, "UPGRADE_NODES" if "version" in changes else "UPDATE_CLUSTER"
        raise ApiError(404, "Requested entity was not found.")

    def _update_cluster(self, project, location, cluster, key, cpath, update):
        update = copy.deepcopy(update)
        if not update:
            raise ApiError(400, "At least one field must be set in the update request.")
        op_type = "UPDATE_CLUSTER"
        if "desiredMasterVersion" in update:
            version = resolve_version(update["desiredMasterVersion"], cluster["currentMasterVersion"])
            if _version_tuple(version)[:2] < _version_tuple(cluster["currentMasterVersion"])[:2]:
                raise ApiError(400, "Master cannot be downgraded from %s to %s (minor version)."
                               % (cluster["currentMasterVersion"], version))
            update["desiredMasterVersion"] = version
            op_type = "UPGRADE_MASTER"
        if "desiredNodeVersion" in update:
            update["desiredNodeVersion"] = resolve_version(update["desiredNodeVersion"], cluster["currentMasterVersion"])
            op_type = "UPGRADE_NODES"
        if "desiredNodePoolAutoscaling" in update:
            self._pool(cluster, update.get("desiredNodePoolId"))
            self._check_autoscaling(update["desiredNodePoolAutoscaling"])
        if "desiredReleaseChannel" in update and update["desiredReleaseChannel"].get("channel") not in \
                list(CHANNEL_DEFAULTS) + ["UNSPECIFIED"]:
            raise ApiError(400, "Invalid release channel %r." % update["desiredReleaseChannel"].get("channel"))
        wi = update.get("desiredWorkloadIdentityConfig")
        if wi and wi.get("workloadPool") and wi["workloadPool"] != "%s.svc.id.goog" % project:
            raise ApiError(400, "Workload pool must be %s.svc.id.goog." % project)
        self._busy(key)
        cluster["status"] = "RECONCILING"
        return self.public_operation(self._new_operation(
            project, location, op_type, cpath, key, {"kind": "update_cluster", "update": update}))

    def create_cluster(self, project, location, body, creator):
        name = body.get("name") or ""
        if not re.match(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", name):
            raise ApiError(400, "Invalid value for field 'cluster.name': %r. Must be a match of regex "
                                "'(?:[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?)'." % name)
        key = "%s/%s/%s" % (project, location, name)
        with self.lock:
            if key in self.state["clusters"]:
                raise ApiError(409, "Already exists: projects/%s/locations/%s/clusters/%s." % (project, location, name))
            channel = (body.get("releaseChannel") or {}).get("channel")
            if channel and channel not in CHANNEL_DEFAULTS:
                raise ApiError(400, "Invalid release channel %r." % channel)
            version = resolve_version(body.get("initialClusterVersion"),
                                      CHANNEL_DEFAULTS.get(channel) or DEFAULT_CLUSTER_VERSION)
            carried = cloud_versions.gke_channel_versions(channel) if channel else None
            if carried is not None and body.get("initialClusterVersion") and version not in carried:
                raise ApiError(400, 'Master version %s must be one of "%s" channel supported versions [%s].'
                               % (version, channel, ", ".join(carried)))
            private_endpoint = check_private_cluster(body)
            for i, pool_body in enumerate(body.get("nodePools") or []):
                check_node_config(pool_body.get("config") or {}, "cluster.node_pools[%d].config" % i)
            pools_in = body.get("nodePools") or [{"name": "default-pool", "initialNodeCount": 3}]
            pools, seen = [], set()
            for pool_body in pools_in:
                if pool_body.get("name") in seen:
                    raise ApiError(400, "Node pool %r is specified twice." % pool_body.get("name"))
                seen.add(pool_body.get("name"))
                pools.append(self._make_pool(project, location, name, pool_body, version))
            wi = body.get("workloadIdentityConfig")
            if wi and wi.get("workloadPool") != "%s.svc.id.goog" % project:
                raise ApiError(400, "Workload pool must be %s.svc.id.goog." % project)
            kind, region = parse_location(location)
            labels = dict(body.get("resourceLabels") or {})
            network = body.get("network") or "default"
            addons = copy.deepcopy(body.get("addonsConfig") or {})
            addons.setdefault("httpLoadBalancing", {})
            addons.setdefault("horizontalPodAutoscaling", {})
            addons.setdefault("networkPolicyConfig", {"disabled": True})
            addons.setdefault("gcePersistentDiskCsiDriverConfig", {"enabled": True})
            cluster = {
                "name": name, "description": body.get("description", ""),
                "initialClusterVersion": version, "currentMasterVersion": version,
                "currentNodeVersion": version, "network": network,
                "subnetwork": body.get("subnetwork") or network, "nodePools": pools,
                "addonsConfig": addons, "resourceLabels": labels,
                "labelFingerprint": label_fingerprint(labels), "location": location, "zone": location,
                "locations": body.get("locations") or ([location] if kind == "zone"
                                                       else [region + "-a", region + "-b", region + "-c"]),
                "status": "PROVISIONING", "createTime": _rfc3339(), "id": secrets.token_hex(16),
                "selfLink": self._self_link("projects/%s/locations/%s/clusters/%s" % (project, location, name)),
                "clusterIpv4Cidr": body.get("clusterIpv4Cidr") or "10.%d.0.0/14" % (4 * (len(self.state["clusters"]) % 60)),
                "servicesIpv4Cidr": "34.118.224.0/20",
                "loggingService": "logging.googleapis.com/kubernetes",
                "monitoringService": "monitoring.googleapis.com/kubernetes",
                "masterAuthorizedNetworksConfig": body.get("masterAuthorizedNetworksConfig") or {},
                "releaseChannel": {"channel": channel} if channel else {"channel": "UNSPECIFIED"},
                "_project": project,
                # a DNS label of <= 40 characters, unique per project/location/name
                "_local_name": ("g-" + hashlib.sha256(key.encode()).hexdigest()[:6] + "-" + name)[:40].rstrip("-"),
            }
            if wi:
                cluster["workloadIdentityConfig"] = wi
            if body.get("ipAllocationPolicy"):
                cluster["ipAllocationPolicy"] = dict(body["ipAllocationPolicy"])
            if private_endpoint:
                cluster["privateClusterConfig"] = dict(body["privateClusterConfig"], privateEndpoint=private_endpoint)
            self.state["clusters"][key] = cluster
            self._recount(cluster)
            op = self._new_operation(project, location, "CREATE_CLUSTER",
                                     "projects/%s/locations/%s/clusters/%s" % (project, location, name), key,
                                     {"kind": "create_cluster", "creator": creator})
        self.save()
        return self.public_operation(op)

    def token_review(self, review):
        token = ((review or {}).get("spec") or {}).get("token")
        info = self.token_info(token)
        status = {"authenticated": False}
        # tests read these (GET /_emulator/stats): a run with short-lived tokens must show none refused,
        # and more than one distinct token means the client renewed its token
        if not info:
            self.stats.count("webhook:token-review:refused:%s" % (
                "expired" if (token or "") in self.state["tokens"] else "unknown"))
        elif not info.get("reviewed"):
            info["reviewed"] = True
            self.stats.count("webhook:token-review:new-token")
        if info:
            status = {"authenticated": True,
                      "user": {"username": info["email"], "uid": info["email"],
                               "groups": ["system:authenticated"]}}
        return {"apiVersion": (review or {}).get("apiVersion") or "authentication.k8s.io/v1",
                "kind": "TokenReview", "status": status}

    def admin_state(self):
        with self.lock:
            return {
                "clusters": [dict(self.public_cluster(c), localName=c["_local_name"])
                             for c in self.state["clusters"].values()],
                "operations": [self.public_operation(o) for o in self.state["operations"].values()],
                "service_accounts": [{"email": s["email"], "projects": s["projects"]}
                                     for s in self.state["service_accounts"].values()],
                "tokens": len(self.state["tokens"]),
                "faults": self.faults,
            }

    def reset(self, keep_accounts=True):
        for cluster in list(self.state["clusters"].values()):
            try:
                self.manager.down(cluster["_local_name"])
            except Exception:  # pylint: disable=broad-except
                LOG.exception("down %s", cluster["_local_name"])
        with self.lock:
            self.state["clusters"] = {}
            self.state["operations"] = {}
            self.faults = []
            if not keep_accounts:
                self.state["service_accounts"] = {}
                self.state["tokens"] = {}
        self.save()


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

_NAMED = {"projects", "locations", "zones", "clusters", "nodePools", "operations", "serviceAccounts"}


def request_key(method, path):
    """``POST /v1/projects/p/locations/l/clusters`` -> the same with ``{name}`` for each name."""
    if path in ("/tokenreview",):
        return "webhook:token-review"
    parts = path.split("/")
    for i in range(1, len(parts)):
        if parts[i - 1] in _NAMED and parts[i]:
            name, colon, verb = parts[i].partition(":")
            if name:
                parts[i] = "{name}" + colon + verb
    return "%s %s" % (method, "/".join(parts))


class _Handler(BaseHTTPRequestHandler):
    server_version = "ESF"
    protocol_version = "HTTP/1.1"
    emulator = None  # set by make_server

    def log_message(self, fmt, *args):  # no tokens in logs: the request line carries none
        LOG.info("%s %s", self.address_string(), fmt % args)

    def _send(self, code, payload, headers=None):
        data = json.dumps(payload, indent=1).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        # read once: a request answered early (an injected fault) must not leave its body on the
        # keep-alive connection, where it would be parsed as the next request line
        if getattr(self, "_raw_body", None) is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._raw_body = self.rfile.read(length) if length else b""
        return self._raw_body

    def _json_body(self):
        raw = self._body()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received. Unexpected token.")
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object.")
        return body

    def _dispatch(self, method):
        emu = self.emulator
        self._raw_body = None
        self._body()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if not path.startswith("/_emulator/"):
            emu.stats.count(request_key(method, path))
        try:
            if path == "/token" and method == "POST":
                form = urllib.parse.parse_qs(self._body().decode())
                if form.get("grant_type", [""])[0] != JWT_BEARER_GRANT:
                    return self._send(400, {"error": "unsupported_grant_type",
                                            "error_description": "Invalid grant_type."})
                try:
                    return self._send(200, emu.issue_token(form.get("assertion", [""])[0]))
                except ValueError as exc:
                    return self._send(400, {"error": "invalid_grant", "error_description": str(exc)})
            if path == "/tokenreview" and method == "POST":
                return self._send(200, emu.token_review(self._json_body()))
            if path.startswith("/_emulator/"):
                return self._admin(method, path[len("/_emulator/"):])
            if path.startswith("/v1/"):
                fault = emu.take_fault(path)
                if fault and fault["kind"] == "slow":
                    time.sleep(fault["delay"])
                elif fault:
                    code = fault["code"]
                    raise ApiError(code, "Quota exceeded (injected fault)." if code == 429
                                   else "The service is currently unavailable (injected fault).",
                                   headers={"Retry-After": "1"} if code == 429 else None)
                auth = self.headers.get("Authorization", "")
                token = auth[7:] if auth.startswith("Bearer ") else None
                body = self._json_body() if method in ("POST", "PUT") else {}
                code, payload = emu.handle(method, path, body, token)
                return self._send(code, payload)
            raise ApiError(404, "Requested entity was not found.")
        except ApiError as exc:
            return self._send(exc.http_code, exc.body(), exc.headers)
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("internal error")
            return self._send(500, ApiError(500, "Internal error encountered: %s" % exc).body())

    def _admin(self, method, what):
        emu = self.emulator
        if what == "state" and method == "GET":
            return self._send(200, emu.admin_state())
        if what == "reset" and method == "POST":
            body = self._json_body()
            emu.reset(keep_accounts=not body.get("accounts"))
            return self._send(200, {"reset": True})
        if what == "faults" and method == "POST":
            body = self._json_body()
            try:
                fault = emu.parse_fault(body)
            except (KeyError, ValueError, TypeError) as exc:
                raise ApiError(400, "bad fault: %s" % exc)
            with emu.lock:
                emu.faults.append(fault)
            return self._send(200, {"faults": emu.faults})
        if what == "faults" and method == "DELETE":
            with emu.lock:
                emu.faults = []
            return self._send(200, {"faults": []})
        if what == "faults" and method == "GET":
            return self._send(200, {"faults": emu.faults})
        if what == "keys" and method == "POST":
            body = self._json_body()
            project = body.get("project") or "mesh-project"
            key = emu.create_key(project, body.get("account") or "mesh-deployer", body.get("projects"))
            return self._send(200, key)
        if what == "stats" and method in ("GET", "DELETE"):
            if method == "DELETE":
                emu.stats.clear()
            return self._send(200, emu.stats.snapshot())
        if what == "delay" and method == "POST":
            emu.delay = float(self._json_body().get("delay", emu.delay))
            return self._send(200, {"delay": emu.delay})
        raise ApiError(404, "Unknown admin endpoint.")

    def do_GET(self):  # noqa: N802
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")


def make_server(emulator, host="127.0.0.1", port=0):
    """Bind an HTTP server for ``emulator``; sets emulator.base_url. Call serve_forever() on it."""
    handler = type("Handler", (_Handler,), {"emulator": emulator})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    if not emulator.base_url:
        emulator.base_url = "http://%s:%d" % (host, server.server_address[1])
    emulator.resume()
    return server
