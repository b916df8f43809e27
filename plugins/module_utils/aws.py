# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where the collection talks to AWS.

- ``aws_argument_spec()`` / ``aws_session(params)`` / ``client(...)``: a boto3 session and clients
  from the options of the ``multicloud.mesh.aws`` doc fragment, falling back to the standard
  AWS environment variables (and those AWX's "Amazon Web Services" credential injects).
- ``retrying(client, timeout)``: every call retried on throttling and transient errors through
  ``retry.retry_call`` (full-jitter backoff); botocore's own retries are off so that the two
  never multiply.
- ``eks_token(...)``: the bearer token EKS accepts, made like aws-iam-authenticator / ``aws eks
  get-token``: a presigned STS GetCallerIdentity URL with the signed header ``x-k8s-aws-id``.
- EKS: parameter validation, the API <-> option views, and ``plan_update`` (a pure function from
  a current and a desired view to the list of calls), used by the ``eks_cluster`` module.
- EKS reads and the kubeconfig (``describe_cluster``, ``cluster_result``,
  ``write_cluster_kubeconfig``), shared by ``eks_cluster`` and ``eks_cluster_info``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import ipaddress
import os
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.multicloud.mesh.plugins.module_utils.kubeconfig import write_kubeconfig
from ansible_collections.multicloud.mesh.plugins.module_utils.retry import retry_call
from ansible_collections.multicloud.mesh.plugins.module_utils import token_helper
from ansible_collections.multicloud.mesh.plugins.module_utils import validate

BOTO3_IMP_ERR = None
try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )
    HAS_BOTO3 = True
except ImportError:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_BOTO3 = False
    BOTO3_IMP_ERR = traceback.format_exc()
    BotoCoreError = ClientError = Exception
    ConnectionClosedError = EndpointConnectionError = NoCredentialsError = Exception
    PartialCredentialsError = ProfileNotFound = ReadTimeoutError = Exception

USER_AGENT = "multicloud.mesh/0.1.0"
TOKEN_PREFIX = token_helper.EKS_TOKEN_PREFIX
TOKEN_EXPIRES = token_helper.EKS_PRESIGN_EXPIRES
# EKS accepts a token for 15 minutes after it was signed; ``aws eks get-token`` reports 14.
TOKEN_LIFETIME = datetime.timedelta(minutes=14)

THROTTLING_CODES = frozenset([
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException",
])
TRANSIENT_CODES = frozenset([
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "InternalError",
    "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "ServerException",
])
CREDENTIAL_CODES = frozenset([
    "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
    "AuthFailure", "InvalidAccessKeyId", "ExpiredToken", "ExpiredTokenException",
    "MissingAuthenticationToken", "IncompleteSignature", "AccessDenied",
    "AccessDeniedException", "UnauthorizedOperation",
])


class AWSError(Exception):
    """An AWS failure with a message fit for fail_json (never a traceback, never a secret)."""

    def __init__(self, message, code=None, http_status=None):
        super(AWSError, self).__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


# ---------------------------------------------------------------------------------------------
# connection
# ---------------------------------------------------------------------------------------------

def aws_argument_spec():
    """Argument spec of the ``multicloud.mesh.aws`` doc fragment (amazon.aws compatible names)."""
    return dict(
        region=dict(type="str", aliases=["aws_region", "ec2_region"],
                    fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION", "EC2_REGION"])),
        profile=dict(type="str", aliases=["aws_profile"],
                     fallback=(env_fallback, ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])),
        access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key", "ec2_access_key"],
                        no_log=False,
                        fallback=(env_fallback, ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "EC2_ACCESS_KEY"])),
        secret_key=dict(type="str", aliases=["aws_secret_access_key", "aws_secret_key", "ec2_secret_key"],
                        no_log=True,
                        fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "EC2_SECRET_KEY"])),
        session_token=dict(type="str", aliases=["aws_session_token", "security_token", "aws_security_token"],
                           no_log=True,
                           fallback=(env_fallback, ["AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                                                    "EC2_SECURITY_TOKEN"])),
        endpoint_url=dict(type="str", aliases=["aws_endpoint_url"],
                          fallback=(env_fallback, ["AWS_ENDPOINT_URL"])),
    )


def connection_errors(params):
    """Problems with the connection options, found without calling AWS (list of messages)."""
    errors = []
    if params.get("profile") and (params.get("access_key") or params.get("secret_key")):
        # Mirrors amazon.aws: both at once is ambiguous. Keys may come from the environment.
        errors.append("profile and access_key/secret_key are mutually exclusive; set one of them "
                      "(unset AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to use a profile)")
    if bool(params.get("access_key")) != bool(params.get("secret_key")):
        errors.append("access_key and secret_key must be given together")
    region = params.get("region")
    if not region:
        errors.append("region is required (set the region option or AWS_REGION)")
    elif not REGION_RE.match(region):
        errors.append("region %r is not an AWS region name (expected a name like eu-central-1)" % region)
    endpoint = params.get("endpoint_url")
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        errors.append("endpoint_url %r must be an http(s) URL" % endpoint)
    return errors


def aws_session(params):
    """A boto3 Session from the module params (env fallbacks already applied by Ansible)."""
    try:
        if params.get("profile"):
            return boto3.session.Session(profile_name=params["profile"], region_name=params.get("region"))
        return boto3.session.Session(
            aws_access_key_id=params.get("access_key") or None,
            aws_secret_access_key=params.get("secret_key") or None,
            aws_session_token=params.get("session_token") or None,
            region_name=params.get("region"))
    except ProfileNotFound as exc:
        raise AWSError("profile %r was not found in the AWS config/credentials files (%s)"
                       % (params.get("profile"), exc), code="ProfileNotFound")


def client(session, service, params):
    """A boto3 client; botocore's retries are off (``retrying`` owns retries)."""
    config = Config(user_agent_extra=USER_AGENT, retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=20, read_timeout=60)
    try:
        return session.client(service, region_name=params.get("region"),
                              endpoint_url=params.get("endpoint_url") or None, config=config)
    except (BotoCoreError, ValueError) as exc:
        raise AWSError("cannot create the %s client: %s" % (service, exc))


def error_code(exc):
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def is_retryable(exc):
    """Throttling, 5xx and connection hiccups are retried; everything else is final."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError))


def describe_error(exc, what):
    """A one-line, secret-free message for a failed AWS call."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or "Error"
        message = err.get("Message") or str(exc)
        text = "%s failed: %s: %s" % (what, code, message)
        if code in CREDENTIAL_CODES:
            text += (" (check the AWS credentials: access_key/secret_key/session_token, profile, "
                     "or AWS_* environment variables)")
        return AWSError(text, code=code,
                        http_status=exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return AWSError("%s failed: no AWS credentials found; set access_key/secret_key, profile, or "
                        "the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables" % what,
                        code="NoCredentials")
    if isinstance(exc, EndpointConnectionError):
        return AWSError("%s failed: cannot reach the AWS endpoint: %s" % (what, exc), code="EndpointConnectionError")
    return AWSError("%s failed: %s" % (what, exc))


class RetryingClient(object):
    """Wraps a boto3 client: each API method call goes through ``retry_call``; errors become
    ``AWSError`` (except those the caller lists in ``passthrough`` codes, see ``call``)."""

    def __init__(self, boto_client, timeout=120.0, on_retry=None):
        self.client = boto_client
        self.timeout = timeout
        self.on_retry = on_retry
        self.retries = 0

    def _count(self, exc, delay):
        self.retries += 1
        if self.on_retry:
            self.on_retry(exc, delay)

    def call(self, operation, **kwargs):
        method = getattr(self.client, operation)
        what = "%s.%s" % (self.client.meta.service_model.service_name, operation)
        before, started = self.retries, time.monotonic()
        try:
            return retry_call(lambda: method(**kwargs), is_retryable, timeout=self.timeout,
                              on_retry=self._count)
        except (ClientError, BotoCoreError) as exc:
            err = describe_error(exc, what)
            if self.retries > before:
                err.message += " (still failing after %d retries in %.0fs, the retry budget of this call)" % (
                    self.retries - before, time.monotonic() - started)
                err.args = (err.message,)
            raise err

    def call_or_none(self, operation, not_found=("ResourceNotFoundException",), **kwargs):
        """Like ``call`` but returns None when the error code is one of ``not_found``."""
        try:
            return self.call(operation, **kwargs)
        except AWSError as exc:
            if exc.code in not_found:
                return None
            raise

    def paginate(self, operation, key, **kwargs):
        items, token_kw = [], {}
        while True:
            page = self.call(operation, **dict(kwargs, **token_kw))
            items.extend(page.get(key, []))
            token = page.get("nextToken") or page.get("NextToken")
            if not token:
                return items
            token_kw = {"nextToken": token} if "nextToken" in page else {"NextToken": token}


# ---------------------------------------------------------------------------------------------
# EKS token
# ---------------------------------------------------------------------------------------------

def eks_token(session, cluster_name, region, endpoint_url=None, now=None):
    """Return ``{"token", "expiration"}``: an EKS bearer token for ``cluster_name``.

    The token is ``k8s-aws-v1.`` + base64url (no padding) of a presigned STS GetCallerIdentity
    URL, valid ``TOKEN_EXPIRES`` seconds per its own X-Amz-Expires, whose signature covers the
    header ``x-k8s-aws-id: <cluster_name>`` - the format of aws-iam-authenticator.
    """
    sts = session.client("sts", region_name=region, endpoint_url=endpoint_url or None,
                         config=Config(user_agent_extra=USER_AGENT))
    try:
        token = token_helper.eks_presigned_token(sts, cluster_name, TOKEN_EXPIRES)
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise describe_error(exc, "generating the EKS token")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    expiration = (now + TOKEN_LIFETIME).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"token": token, "expiration": expiration}


def decode_eks_token(token):
    """The presigned URL inside a ``k8s-aws-v1.`` token (for tests and diagnostics)."""
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("not a k8s-aws-v1 token")
    payload = token[len(TOKEN_PREFIX):]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")


def builtin_options(cluster_name, params):
    """The token helper's options for ``kubeconfig_auth=builtin``: names only, never a credential (the
    helper takes the credentials from the environment, as the module did)."""
    options = ["--cluster", cluster_name, "--region", params["region"]]
    if params.get("endpoint_url"):
        options += ["--endpoint-url", params["endpoint_url"]]
    if params.get("profile"):
        options += ["--profile", params["profile"]]
    return options


def builtin_auth_errors(params, environ=None):
    """``kubeconfig_auth=builtin`` renews tokens with the environment's credentials: keys given as
    options (not from the environment) would not be there when the kubeconfig is used."""
    environ = os.environ if environ is None else environ
    if params.get("kubeconfig_auth") != "builtin" or not params.get("access_key"):
        return []
    from_env = [environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "EC2_ACCESS_KEY")]
    if params["access_key"] in from_env:
        return []
    return ["kubeconfig_auth=builtin makes fresh tokens with the credentials of the environment (AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY or AWS_PROFILE), and access_key was given as an option: pass the keys through "
            "the environment or a profile, or set kubeconfig_auth=token (a token that lasts 15 minutes)"]


def exec_user(cluster_name, region, profile=None, endpoint_url=None):
    """kubeconfig ``user`` running ``aws eks get-token`` (what ``aws eks update-kubeconfig`` writes)."""
    user = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": ["--region", region, "eks", "get-token", "--cluster-name", cluster_name, "--output", "json"],
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }}
    env = []
    if profile:
        env.append({"name": "AWS_PROFILE", "value": profile})
    if endpoint_url:
        env.append({"name": "AWS_ENDPOINT_URL_STS", "value": endpoint_url})
    if env:
        user["exec"]["env"] = env
    return user


# ---------------------------------------------------------------------------------------------
# EKS: validation
# ---------------------------------------------------------------------------------------------

REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$")
CLUSTER_NAME_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
NODEGROUP_NAME_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,62}$")
VERSION_RE = re.compile(r"^1\.[0-9]{1,2}$")
ARN_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")
KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):[0-9]{12}:(key/[0-9a-zA-Z-]+|alias/[a-zA-Z0-9/_-]+)$")
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
AUTH_MODES = ["API", "API_AND_CONFIG_MAP", "CONFIG_MAP"]
AUTH_MODE_STEPS = {("CONFIG_MAP", "API_AND_CONFIG_MAP"), ("API_AND_CONFIG_MAP", "API")}
TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                 "NoExecute": "NO_EXECUTE"}
NODEGROUP_IMMUTABLE = ("instance_types", "ami_type", "disk_size", "node_role_arn", "subnets")


def minor(version):
    match = re.match(r"^1\.([0-9]+)", str(version or ""))
    return int(match.group(1)) if match else None


def name_errors(params):
    """Problems with the cluster name option (list of messages)."""
    name = params.get("name") or ""
    if not CLUSTER_NAME_RE.match(name):
        return ["name %r is not a valid EKS cluster name (1-100 characters: letters, digits, "
                "- and _, starting with a letter or digit)" % name]
    return []


def validate_params(params):
    """Every problem found in the options, before any call (list of messages naming options)."""
    errors = connection_errors(params) + name_errors(params) + builtin_auth_errors(params)
    errors += validate.errors(validate.at_least(params.get("wait_timeout"), "wait_timeout"))
    if params.get("state") == "absent":
        return errors
    errors += access_entry_errors(params)
    version = params.get("version")
    if version is not None and not VERSION_RE.match(version):
        errors.append("version %r must be a Kubernetes minor version like 1.31" % version)
    if params.get("role_arn") and not ARN_ROLE_RE.match(params["role_arn"]):
        errors.append("role_arn %r is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)" % params["role_arn"])
    subnets = params.get("subnets")
    if subnets is not None and len(set(subnets)) < 2:
        errors.append("subnets must name at least two subnets (in two availability zones); got %d" % len(set(subnets)))
    for cidr in params.get("public_access_cidrs") or []:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            errors.append("public_access_cidrs: %r is not a CIDR block (%s)" % (cidr, exc))
    if params.get("endpoint_public_access") is False and params.get("endpoint_private_access") is False:
        errors.append("endpoint_public_access and endpoint_private_access cannot both be false")
    key_arn = params.get("secrets_encryption_key_arn")
    if key_arn:
        match = KMS_KEY_ARN_RE.match(key_arn)
        if not match:
            errors.append("secrets_encryption_key_arn %r is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id> "
                          "or ...:alias/<name>)" % key_arn)
        elif params.get("region") and match.group(1) != params["region"]:
            errors.append("secrets_encryption_key_arn %r is in region %s: EKS needs a key in the cluster's region %s"
                          % (key_arn, match.group(1), params["region"]))
    for log_type in params.get("logging") or []:
        if log_type not in LOG_TYPES:
            errors.append("logging: unknown log type %r (choose from %s)" % (log_type, ", ".join(LOG_TYPES)))
    seen = set()
    for index, group in enumerate(params.get("node_groups") or []):
        label = "node_groups[%s]" % (group.get("name") or index)
        if not NODEGROUP_NAME_RE.match(group.get("name") or ""):
            errors.append("%s.name %r is not a valid node group name" % (label, group.get("name")))
        if group.get("name") in seen:
            errors.append("%s.name is used twice" % label)
        seen.add(group.get("name"))
        lo, hi, want = group.get("min_size"), group.get("max_size"), group.get("desired_size")
        if lo is not None and lo < 0:
            errors.append("%s.min_size %d must be 0 or more" % (label, lo))
        if hi is not None and hi < 1:
            errors.append("%s.max_size %d must be 1 or more" % (label, hi))
        if lo is not None and hi is not None and lo > hi:
            errors.append("%s.min_size %d is greater than max_size %d" % (label, lo, hi))
        if want is not None and ((lo is not None and want < lo) or (hi is not None and want > hi)):
            errors.append("%s.desired_size %d is outside min_size..max_size (%s..%s)" % (label, want, lo, hi))
        if group.get("version") is not None and not VERSION_RE.match(group["version"]):
            errors.append("%s.version %r must be a Kubernetes minor version like 1.31" % (label, group["version"]))
        if group.get("node_role_arn") and not ARN_ROLE_RE.match(group["node_role_arn"]):
            errors.append("%s.node_role_arn %r is not an IAM role ARN" % (label, group["node_role_arn"]))
        if group.get("disk_size") is not None and group["disk_size"] < 1:
            errors.append("%s.disk_size must be a positive number of GiB" % label)
        for taint in group.get("taints") or []:
            if taint.get("effect") not in TAINT_EFFECTS and taint.get("effect") not in TAINT_EFFECTS.values():
                errors.append("%s.taints: effect %r must be one of %s"
                              % (label, taint.get("effect"), ", ".join(TAINT_EFFECTS)))
    return errors


def version_errors(offered, version, support_type, region):
    """Problems with a control-plane version EKS is asked to create or upgrade to (list of messages).

    ``offered``: DescribeClusterVersions' ``clusterVersions``; ``version``: the minor version asked
    for (None: the region's default); ``support_type``: the upgrade policy the cluster will have.
    A version not offered is refused with the offered ones listed; a version in extended support
    (an extra cost per cluster hour) only with ``support_type: EXTENDED``.
    """
    rows = dict((row.get("clusterVersion"), row) for row in offered or [])

    def label(row):
        end_key = "endOfStandardSupportDate" if row.get("status") == "STANDARD_SUPPORT" else "endOfExtendedSupportDate"
        end = row.get(end_key)
        kind = "standard" if row.get("status") == "STANDARD_SUPPORT" else "extended"
        return "%s (%s support%s)" % (row.get("clusterVersion"), kind,
                                      " until %s" % str(end)[:10] if end else "")
    listed = ", ".join(label(rows[v]) for v in sorted(rows, key=minor, reverse=True))
    if version is None:
        defaults = [row for row in rows.values() if row.get("defaultVersion")]
        if not defaults:
            return []
        row, what = defaults[0], "EKS's default version %s" % defaults[0].get("clusterVersion")
    elif version not in rows:
        return ["version %s is not offered by EKS in %s; offered: %s" % (version, region, listed or "none")]
    else:
        row, what = rows[version], "version %s" % version
    if row.get("status") == "EXTENDED_SUPPORT" and support_type != "EXTENDED":
        standard = [v for v in sorted(rows, key=minor, reverse=True) if rows[v].get("status") == "STANDARD_SUPPORT"]
        return ["%s is in extended support in %s (standard support ended %s; extended support costs extra per "
                "cluster hour): set support_type EXTENDED to accept that cost, or choose a version in standard "
                "support (%s)" % (what, region, str(row.get("endOfStandardSupportDate") or "?")[:10],
                                  ", ".join(standard) or "none offered")]
    return []


def kms_key_errors(kms, key_arn):
    """Why EKS would refuse ``key_arn`` for secrets encryption (list of messages), from KMS DescribeKey through a
    ``RetryingClient``: a key that does not exist (or the caller cannot see), is not Enabled, or is not a
    symmetric encryption key. For the preflight (``validate_only``), before the role creates anything."""
    found = kms.call_or_none("describe_key", not_found=("NotFoundException",), KeyId=key_arn)
    if found is None:
        return ["secrets_encryption_key_arn %s: KMS has no such key (EKS refuses a key it cannot find)" % key_arn]
    meta = found.get("KeyMetadata") or {}
    errors = []
    if meta.get("KeyState") != "Enabled":
        errors.append("secrets_encryption_key_arn %s: the key is %s; EKS needs an enabled key"
                      % (key_arn, meta.get("KeyState")))
    spec = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if spec != "SYMMETRIC_DEFAULT" or (meta.get("KeyUsage") or "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        errors.append("secrets_encryption_key_arn %s: the key is %s for %s; EKS needs a symmetric encryption key"
                      % (key_arn, spec, meta.get("KeyUsage")))
    return errors


def creation_missing(params):
    """The options a create needs that are not set (names, like ``node_groups[default].node_role_arn``)."""
    missing = [key for key in ("role_arn", "subnets") if not params.get(key)]
    for group in params.get("node_groups") or []:
        if not (group.get("node_role_arn") or params.get("node_role_arn")):
            missing.append("node_groups[%s].node_role_arn" % group["name"])
    return missing


def creation_errors(params):
    """What a create needs beyond validate_params (checked once we know the cluster is absent)."""
    errors = []
    if not params.get("role_arn"):
        errors.append("role_arn is required to create cluster %s (the IAM role EKS assumes; the "
                      "multicloud.mesh.eks_cluster role creates one)" % params["name"])
    if not params.get("subnets"):
        errors.append("subnets is required to create cluster %s (two or more, in two availability zones)"
                      % params["name"])
    for group in params.get("node_groups") or []:
        if not (group.get("node_role_arn") or params.get("node_role_arn")):
            errors.append("node_groups[%s].node_role_arn is required to create the node group"
                          % group["name"])
    return errors


# ---------------------------------------------------------------------------------------------
# EKS: views (the API and the options in one comparable shape)
# ---------------------------------------------------------------------------------------------

def _enabled_logs(logging):
    enabled = set()
    for entry in (logging or {}).get("clusterLogging", []):
        if entry.get("enabled"):
            enabled.update(entry.get("types") or [])
    return sorted(enabled)


def _taint_view(taint):
    effect = taint.get("effect")
    return {"key": taint.get("key"), "value": taint.get("value") or None,
            "effect": TAINT_EFFECTS.get(effect, effect)}


def _taints(taints):
    return sorted((_taint_view(t) for t in taints or []),
                  key=lambda t: (t["key"] or "", t["effect"] or "", t["value"] or ""))


NODE_JOIN_HINT = ("nodes join only with a path from their subnets to the EKS API and the image registry: a 0.0.0.0/0 "
                  "route to a NAT gateway (private subnets), to an internet gateway with public IPs mapped on launch "
                  "(public subnets), or private endpoint access with VPC endpoints for ecr.api, ecr.dkr, sts, ec2 and s3")


def nodegroup_issues(issues):
    """A node group's ``health.issues`` in one line: code, message and the resources each names, and for
    NodeCreationFailure what the nodes need to join (EKS itself only says they failed to)."""
    if not issues:
        return "no details"
    parts = []
    for issue in issues:
        text = "%s: %s" % (issue.get("code") or "unknown", issue.get("message") or "")
        if issue.get("resourceIds"):
            text += " (%s)" % ", ".join(issue["resourceIds"])
        parts.append(text)
    if any(i.get("code") == "NodeCreationFailure" for i in issues):
        parts.append(NODE_JOIN_HINT)
    return "; ".join(parts)


def health_issues(issues):
    """``health.issues`` in snake_case, for a module result."""
    return [camel_dict_to_snake_dict(i) for i in issues or []]


def nodegroup_view(nodegroup):
    scaling = nodegroup.get("scalingConfig") or {}
    return {
        "name": nodegroup["nodegroupName"],
        "status": nodegroup.get("status"),
        "version": nodegroup.get("version"),
        "instance_types": list(nodegroup.get("instanceTypes") or []),
        "ami_type": nodegroup.get("amiType"),
        "disk_size": int(nodegroup["diskSize"]) if nodegroup.get("diskSize") is not None else None,
        "min_size": scaling.get("minSize"),
        "max_size": scaling.get("maxSize"),
        "desired_size": scaling.get("desiredSize"),
        "labels": dict(nodegroup.get("labels") or {}),
        "taints": _taints(nodegroup.get("taints")),
        "node_role_arn": nodegroup.get("nodeRole"),
        "subnets": sorted(nodegroup.get("subnets") or []),
        "tags": dict(nodegroup.get("tags") or {}),
        "arn": nodegroup.get("nodegroupArn"),
    }


def cluster_view(cluster, nodegroups):
    """The comparable view of a described cluster and its described node groups."""
    vpc = cluster.get("resourcesVpcConfig") or {}
    return {
        "name": cluster["name"],
        "arn": cluster.get("arn"),
        "status": cluster.get("status"),
        "version": cluster.get("version"),
        "role_arn": cluster.get("roleArn"),
        "subnets": sorted(vpc.get("subnetIds") or []),
        "security_groups": sorted(vpc.get("securityGroupIds") or []),
        "endpoint_public_access": vpc.get("endpointPublicAccess"),
        "endpoint_private_access": vpc.get("endpointPrivateAccess"),
        "public_access_cidrs": sorted(vpc.get("publicAccessCidrs") or []),
        "logging": _enabled_logs(cluster.get("logging")),
        "tags": dict(cluster.get("tags") or {}),
        "authentication_mode": (cluster.get("accessConfig") or {}).get("authenticationMode"),
        "support_type": (cluster.get("upgradePolicy") or {}).get("supportType"),
        "secrets_encryption_key_arn": _secrets_key(cluster.get("encryptionConfig")),
        "node_groups": dict((ng["nodegroupName"], nodegroup_view(ng)) for ng in nodegroups),
    }


def _secrets_key(encryption_config):
    """The KMS key ARN that encrypts the cluster's secrets ("" when none)."""
    for entry in encryption_config or []:
        if "secrets" in (entry.get("resources") or []):
            return (entry.get("provider") or {}).get("keyArn") or ""
    return ""


def desired_view(params, before):
    """The view the options ask for; unset options keep ``before``'s values (or API defaults)."""
    before = before or {}

    def pick(key, default=None, transform=None):
        value = params.get(key)
        if value is None:
            return before.get(key, default)
        return transform(value) if transform else value

    tags = dict(params.get("tags") or {})
    if params.get("tags") is None:
        tags = dict(before.get("tags") or {})
    elif not params.get("purge_tags", True):
        tags = dict(before.get("tags") or {}, **tags)
    after = {
        "name": params["name"],
        "arn": before.get("arn"),
        "status": before.get("status") or "ACTIVE",
        "version": pick("version"),
        "role_arn": pick("role_arn"),
        "subnets": pick("subnets", [], lambda v: sorted(set(v))),
        "security_groups": pick("security_groups", [], lambda v: sorted(set(v))),
        "endpoint_public_access": pick("endpoint_public_access", True),
        "endpoint_private_access": pick("endpoint_private_access", False),
        "public_access_cidrs": pick("public_access_cidrs", ["0.0.0.0/0"], lambda v: sorted(set(v))),
        "logging": pick("logging", [], lambda v: sorted(set(v))),
        "tags": tags,
        "authentication_mode": pick("authentication_mode", "API_AND_CONFIG_MAP"),
        # not EKS's default (EXTENDED): extended support costs extra, so it is asked for, never implied
        "support_type": pick("support_type", "STANDARD"),
        # "" is no encryption; unset keeps what the cluster has (EKS never removes nor changes it)
        "secrets_encryption_key_arn": pick("secrets_encryption_key_arn", ""),
    }
    groups = before.get("node_groups") or {}
    if params.get("node_groups") is not None:
        groups = {}
        for group in params["node_groups"]:
            groups[group["name"]] = desired_nodegroup(group, (before.get("node_groups") or {}).get(group["name"]),
                                                      params, after)
    after["node_groups"] = groups
    return after


def desired_nodegroup(group, have, params, cluster_after):
    have = have or {}

    def pick(key, default=None, transform=None):
        value = group.get(key)
        if value is None:
            return have.get(key, default)
        return transform(value) if transform else value

    lo = pick("min_size", 1)
    hi = pick("max_size", max(lo, 1))
    want = group.get("desired_size")
    if want is None:
        want = have.get("desired_size", lo)
        want = min(max(want, lo), hi)  # keep the autoscaler's choice when it fits the new bounds
    tags = group.get("tags")
    if tags is None:
        tags = dict(have.get("tags") or {})
    version = group.get("version")
    if version is None:
        # Node groups follow the cluster's minor version (EKS needs them within one of it
        # before the next control-plane upgrade).
        version = cluster_after.get("version") or have.get("version")
    return {
        "name": group["name"],
        "status": have.get("status") or "ACTIVE",
        "version": version,
        "instance_types": pick("instance_types", ["t3.medium"]),
        "ami_type": pick("ami_type", "AL2023_x86_64_STANDARD"),
        "disk_size": pick("disk_size", 20),
        "min_size": lo,
        "max_size": hi,
        "desired_size": want,
        "labels": pick("labels", {}, dict),
        "taints": pick("taints", [], _taints),
        "node_role_arn": group.get("node_role_arn") or have.get("node_role_arn") or params.get("node_role_arn"),
        "subnets": pick("subnets", cluster_after.get("subnets") or [], lambda v: sorted(set(v))),
        "tags": tags,
        "arn": have.get("arn"),
    }


# ---------------------------------------------------------------------------------------------
# EKS: the planner (pure)
# ---------------------------------------------------------------------------------------------

def _tag_steps(arn, have, want, what):
    steps = []
    add = dict((k, v) for k, v in want.items() if have.get(k) != v)
    remove = sorted(k for k in have if k not in want)
    if add:
        steps.append({"call": "tag_resource", "args": {"resourceArn": arn, "tags": add},
                      "what": "%s tags %s" % (what, ", ".join(sorted(add)))})
    if remove:
        steps.append({"call": "untag_resource", "args": {"resourceArn": arn, "tagKeys": remove},
                      "what": "%s untag %s" % (what, ", ".join(remove))})
    return steps


def nodegroup_create_args(cluster_name, want):
    args = {
        "clusterName": cluster_name,
        "nodegroupName": want["name"],
        "scalingConfig": {"minSize": want["min_size"], "maxSize": want["max_size"],
                          "desiredSize": want["desired_size"]},
        "subnets": want["subnets"],
        "instanceTypes": want["instance_types"],
        "amiType": want["ami_type"],
        "diskSize": want["disk_size"],
        "nodeRole": want["node_role_arn"],
        "labels": want["labels"],
        "taints": [dict((k, v) for k, v in t.items() if v is not None) for t in want["taints"]],
        "tags": want["tags"],
    }
    if want.get("version"):
        args["version"] = want["version"]
    return args


def cluster_create_args(want):
    args = {
        "name": want["name"],
        "roleArn": want["role_arn"],
        "resourcesVpcConfig": {
            "subnetIds": want["subnets"],
            "securityGroupIds": want["security_groups"],
            "endpointPublicAccess": want["endpoint_public_access"],
            "endpointPrivateAccess": want["endpoint_private_access"],
            "publicAccessCidrs": want["public_access_cidrs"],
        },
        "logging": {"clusterLogging": [{"types": want["logging"], "enabled": True}]
                    if want["logging"] else [{"types": LOG_TYPES, "enabled": False}]},
        "tags": want["tags"],
        "accessConfig": {"authenticationMode": want["authentication_mode"],
                         "bootstrapClusterCreatorAdminPermissions": True},
        "upgradePolicy": {"supportType": want["support_type"]},
    }
    if want.get("secrets_encryption_key_arn"):
        args["encryptionConfig"] = secrets_encryption_config(want["secrets_encryption_key_arn"])
    if want.get("version"):
        args["version"] = want["version"]
    return args


def secrets_encryption_config(key_arn):
    """CreateCluster's / AssociateEncryptionConfig's ``encryptionConfig`` for Kubernetes secrets."""
    return [{"resources": ["secrets"], "provider": {"keyArn": key_arn}}]


def plan_create(want):
    steps = [{"call": "create_cluster", "args": cluster_create_args(want),
              "what": "create cluster %s" % want["name"]}]
    for name in sorted(want["node_groups"]):
        steps.append({"call": "create_nodegroup", "args": nodegroup_create_args(want["name"], want["node_groups"][name]),
                      "what": "create node group %s" % name})
    return {"errors": [], "steps": steps}


def plan_update(before, after):
    """The calls that turn view ``before`` into view ``after`` (a pure function).

    Returns ``{"errors": [...], "steps": [{"call": <EKS operation>, "args": {...}, "what": ...}]}``.
    A node group in CREATE_FAILED is deleted (``wait_gone``: before the next step) and created again.
    ``errors`` names every option EKS cannot change in place (role_arn, subnets, security_groups,
    node group instance types, AMI, disk, role and subnets), and version skips or downgrades:
    such a plan must not run at all. Steps run one at a time (EKS runs one update per cluster):
    control-plane version, endpoint access, logging, authentication mode, tags, then node groups
    (new, changed, version, removed).
    """
    errors, steps = [], []
    name = before["name"]
    for key, why in (("role_arn", "the cluster IAM role is fixed at creation"),
                     ("subnets", "this module does not move a cluster to other subnets"),
                     ("security_groups", "this module does not change the control-plane security groups")):
        if after[key] != before[key] and after[key]:
            errors.append("%s cannot be changed in place from %s to %s (%s); create a new cluster instead"
                          % (key, before[key], after[key], why))
    if after["version"] and after["version"] != before["version"]:
        have, want = minor(before["version"]), minor(after["version"])
        if want < have:
            errors.append("version %s is older than the cluster's %s: EKS cannot downgrade a cluster"
                          % (after["version"], before["version"]))
        elif want > have + 1:
            errors.append("version %s skips minor versions: EKS upgrades one minor version at a time; "
                          "set version %s.%d first" % (after["version"], before["version"].split(".")[0], have + 1))
        else:
            steps.append({"call": "update_cluster_version", "args": {"name": name, "version": after["version"]},
                          "what": "upgrade control plane %s -> %s" % (before["version"], after["version"])})
    access = {}
    for key, api_key in (("endpoint_public_access", "endpointPublicAccess"),
                         ("endpoint_private_access", "endpointPrivateAccess"),
                         ("public_access_cidrs", "publicAccessCidrs")):
        if after[key] != before[key]:
            access[api_key] = after[key]
    if access:
        steps.append({"call": "update_cluster_config", "args": {"name": name, "resourcesVpcConfig": access},
                      "what": "endpoint access %s" % ", ".join(sorted(access))})
    if after["logging"] != before["logging"]:
        entries = []
        if after["logging"]:
            entries.append({"types": after["logging"], "enabled": True})
        off = [t for t in LOG_TYPES if t not in after["logging"]]
        if off:
            entries.append({"types": off, "enabled": False})
        steps.append({"call": "update_cluster_config", "args": {"name": name, "logging": {"clusterLogging": entries}},
                      "what": "control-plane logging %s" % (", ".join(after["logging"]) or "off")})
    if after["authentication_mode"] != before["authentication_mode"]:
        pair = (before["authentication_mode"], after["authentication_mode"])
        if pair not in AUTH_MODE_STEPS:
            errors.append("authentication_mode cannot change from %s to %s: EKS only moves CONFIG_MAP -> "
                          "API_AND_CONFIG_MAP -> API, one step per update" % pair)
        else:
            steps.append({"call": "update_cluster_config",
                          "args": {"name": name, "accessConfig": {"authenticationMode": after["authentication_mode"]}},
                          "what": "authentication mode %s -> %s" % pair})
    if after.get("support_type") and after["support_type"] != before.get("support_type"):
        steps.append({"call": "update_cluster_config",
                      "args": {"name": name, "upgradePolicy": {"supportType": after["support_type"]}},
                      "what": "support type %s -> %s" % (before.get("support_type"), after["support_type"])})
    have_key, want_key = before.get("secrets_encryption_key_arn") or "", after.get("secrets_encryption_key_arn") or ""
    if want_key != have_key:
        if have_key:
            errors.append("secrets_encryption_key_arn cannot change from %s to %s: EKS never removes nor changes the "
                          "secrets encryption of a cluster (create a new cluster to use another key, or none)"
                          % (have_key, want_key or "no encryption"))
        else:
            steps.append({"call": "associate_encryption_config",
                          "args": {"clusterName": name, "encryptionConfig": secrets_encryption_config(want_key)},
                          "what": "secrets encryption with %s (cannot be undone)" % want_key})
    steps.extend(_tag_steps(before["arn"], before["tags"], after["tags"], "cluster"))

    have_groups, want_groups = before["node_groups"], after["node_groups"]
    for group_name in sorted(want_groups):
        want, have = want_groups[group_name], have_groups.get(group_name)
        if have is None:
            steps.append({"call": "create_nodegroup", "args": nodegroup_create_args(name, want),
                          "what": "create node group %s" % group_name})
            continue
        if have["status"] == "CREATE_FAILED":
            # EKS keeps a node group that failed to create (its nodes never joined, say) and never retries it:
            # the only way on is to delete it and create it again - with the options as they are now.
            steps.append({"call": "delete_nodegroup", "args": {"clusterName": name, "nodegroupName": group_name},
                          "what": "delete node group %s (CREATE_FAILED)" % group_name, "wait_gone": True})
            steps.append({"call": "create_nodegroup", "args": nodegroup_create_args(name, want),
                          "what": "create node group %s" % group_name})
            continue
        label = "node_groups[%s]" % group_name
        for key in NODEGROUP_IMMUTABLE:
            if want[key] != have[key] and want[key]:
                errors.append("%s.%s cannot be changed in place from %s to %s; add a node group with a new "
                              "name and remove this one" % (label, key, have[key], want[key]))
        update = {}
        scaling = dict((api, want[key]) for key, api in (("min_size", "minSize"), ("max_size", "maxSize"),
                                                         ("desired_size", "desiredSize"))
                       if want[key] != have[key])
        if scaling:
            update["scalingConfig"] = {"minSize": want["min_size"], "maxSize": want["max_size"],
                                       "desiredSize": want["desired_size"]}
        if want["labels"] != have["labels"]:
            labels = {}
            add = dict((k, v) for k, v in want["labels"].items() if have["labels"].get(k) != v)
            remove = sorted(k for k in have["labels"] if k not in want["labels"])
            if add:
                labels["addOrUpdateLabels"] = add
            if remove:
                labels["removeLabels"] = remove
            update["labels"] = labels
        if want["taints"] != have["taints"]:
            taints = {}
            add = [t for t in want["taints"] if t not in have["taints"]]
            wanted_keys = set((t["key"], t["effect"]) for t in want["taints"])
            remove = [t for t in have["taints"] if (t["key"], t["effect"]) not in wanted_keys]
            if add:
                taints["addOrUpdateTaints"] = [dict((k, v) for k, v in t.items() if v is not None) for t in add]
            if remove:
                taints["removeTaints"] = [dict((k, v) for k, v in t.items() if v is not None) for t in remove]
            update["taints"] = taints
        if update:
            update.update({"clusterName": name, "nodegroupName": group_name})
            steps.append({"call": "update_nodegroup_config", "args": update,
                          "what": "node group %s %s" % (group_name, ", ".join(
                              sorted(k for k in update if k not in ("clusterName", "nodegroupName"))))})
        if want["version"] and have["version"] and want["version"] != have["version"]:
            if minor(want["version"]) < minor(have["version"]):
                errors.append("%s.version %s is older than the node group's %s: EKS cannot downgrade node groups"
                              % (label, want["version"], have["version"]))
            elif minor(want["version"]) > minor(after["version"] or before["version"]):
                errors.append("%s.version %s is newer than the cluster version %s"
                              % (label, want["version"], after["version"] or before["version"]))
            else:
                steps.append({"call": "update_nodegroup_version",
                              "args": {"clusterName": name, "nodegroupName": group_name, "version": want["version"]},
                              "what": "upgrade node group %s %s -> %s" % (group_name, have["version"], want["version"])})
        steps.extend(_tag_steps(have["arn"], have["tags"], want["tags"], "node group %s" % group_name))
    for group_name in sorted(have_groups):
        if group_name not in want_groups:
            steps.append({"call": "delete_nodegroup", "args": {"clusterName": name, "nodegroupName": group_name},
                          "what": "delete node group %s" % group_name})
    return {"errors": errors, "steps": steps}


def result_view(view):
    """The module's ``cluster`` return value for a view (node groups as a sorted list)."""
    out = dict(view)
    out["node_groups"] = [view["node_groups"][k] for k in sorted(view.get("node_groups") or {})]
    if out.get("access_entries") is not None:
        out["access_entries"] = access_entries_result(out["access_entries"])
    else:
        out.pop("access_entries", None)
    return out


def snake_cluster(cluster):
    """DescribeCluster's ``cluster`` in snake_case (tags kept as given)."""
    return camel_dict_to_snake_dict(cluster, ignore_list=["tags"])


# ---------------------------------------------------------------------------------------------
# EKS: access entries (option access_entries of eks_cluster)
# ---------------------------------------------------------------------------------------------

ACCESS_POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
ACCESS_POLICIES = ("AmazonEKSAdminPolicy", "AmazonEKSAdminViewPolicy", "AmazonEKSClusterAdminPolicy",
                   "AmazonEKSEditPolicy", "AmazonEKSViewPolicy")
ACCESS_ENTRY_TYPES = ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX")
PRINCIPAL_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):(role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
ASSUMED_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sts::([0-9]{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+$")
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
NAMESPACE_PATTERN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$|^[a-z0-9][-a-z0-9]{0,61}\*$")


def access_policy_arn(policy):
    """A policy option (short name like AmazonEKSViewPolicy, or its full ARN) -> the ARN EKS takes."""
    return policy if str(policy).startswith("arn:") else ACCESS_POLICY_PREFIX + str(policy)


def access_entry_errors(params):
    """Problems with access_entries / purge_access_entries, before any call (list of messages)."""
    entries = params.get("access_entries")
    errors = []
    if entries is None:
        if params.get("purge_access_entries"):
            errors.append("purge_access_entries needs access_entries: list the entries to keep (an empty list "
                          "removes every STANDARD entry except the one of the caller)")
        return errors
    if params.get("authentication_mode") == "CONFIG_MAP" and (entries or params.get("purge_access_entries")):
        errors.append("access_entries needs authentication_mode API_AND_CONFIG_MAP or API (EKS has no access entries "
                      "in CONFIG_MAP mode): set authentication_mode: API_AND_CONFIG_MAP (an existing cluster moves "
                      "there in place), or leave access_entries out")
    seen = set()
    known = ", ".join(ACCESS_POLICIES)
    for index, entry in enumerate(entries):
        principal = entry.get("principal_arn") or ""
        label = "access_entries[%s]" % (principal or index)
        if ASSUMED_ROLE_ARN_RE.match(principal):
            errors.append("%s.principal_arn %r is an STS assumed-role session; name the IAM role instead "
                          "(arn:aws:iam::<account>:role/<name>)" % (label, principal))
        elif not PRINCIPAL_ARN_RE.match(principal):
            errors.append("%s.principal_arn %r is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name> or "
                          "arn:aws:iam::<account>:user/<name>)" % (label, principal))
        if principal in seen:
            errors.append("%s is listed twice" % label)
        seen.add(principal)
        entry_type = entry.get("type") or "STANDARD"
        if entry_type not in ACCESS_ENTRY_TYPES:
            errors.append("%s.type %r must be one of %s" % (label, entry_type, ", ".join(ACCESS_ENTRY_TYPES)))
        elif entry_type != "STANDARD":
            if entry.get("username") is not None or entry.get("kubernetes_groups") or entry.get("access_policies"):
                errors.append("%s: username, kubernetes_groups and access_policies are only for type STANDARD "
                              "(EKS sets the identity of %s entries itself)" % (label, entry_type))
            if ":role/" not in principal:
                errors.append("%s: an entry of type %s must name an IAM role" % (label, entry_type))
        username = entry.get("username")
        if username is not None and (not username or username.startswith(RESERVED_USERNAME_PREFIXES)):
            errors.append("%s.username %r is not allowed: it can't be empty or start with %s"
                          % (label, username, ", ".join(RESERVED_USERNAME_PREFIXES)))
        for group in entry.get("kubernetes_groups") or []:
            if not group or group.startswith("system:"):
                errors.append("%s.kubernetes_groups: %r is not allowed (EKS refuses empty names and the system: "
                              "prefix; grant cluster admin with access policy AmazonEKSClusterAdminPolicy)"
                              % (label, group))
        policies_seen = set()
        for policy in entry.get("access_policies") or []:
            name = policy.get("policy") or ""
            arn = access_policy_arn(name)
            if not arn.startswith(ACCESS_POLICY_PREFIX) or arn[len(ACCESS_POLICY_PREFIX):] not in ACCESS_POLICIES:
                errors.append("%s.access_policies: unknown access policy %r (use one of %s, or its ARN %s<name>)"
                              % (label, name, known, ACCESS_POLICY_PREFIX))
                continue
            if arn in policies_seen:
                errors.append("%s.access_policies: %s is listed twice" % (label, name))
            policies_seen.add(arn)
            scope = policy.get("access_scope") or {}
            kind, namespaces = scope.get("type") or "cluster", scope.get("namespaces") or []
            if kind == "cluster" and namespaces:
                errors.append("%s.access_policies[%s]: access_scope.namespaces is only for access_scope.type "
                              "namespace (cluster scope covers every namespace)" % (label, name))
            if kind == "namespace" and not namespaces:
                errors.append("%s.access_policies[%s]: access_scope.type namespace needs access_scope.namespaces "
                              "(one or more)" % (label, name))
            for namespace in namespaces:
                if not NAMESPACE_PATTERN_RE.match(namespace or ""):
                    errors.append("%s.access_policies[%s]: %r is not a namespace name (DNS label, a trailing * "
                                  "matches a prefix)" % (label, name, namespace))
    return errors


def same_principal(arn_a, arn_b):
    """Two principal ARNs name the same IAM user or role (an assumed-role session counts as its role;
    paths are ignored: STS does not keep them)."""
    def key(arn):
        match = ASSUMED_ROLE_ARN_RE.match(arn or "")
        if match:
            return (match.group(1), "role", match.group(2))
        match = PRINCIPAL_ARN_RE.match(arn or "")
        return match.groups() if match else (arn,)
    return key(arn_a) == key(arn_b)


def access_entry_view(entry, policies):
    """The comparable view of a DescribeAccessEntry ``accessEntry`` and its associated policies."""
    return {
        "principal_arn": entry["principalArn"],
        "type": entry.get("type") or "STANDARD",
        "username": entry.get("username"),
        "kubernetes_groups": sorted(entry.get("kubernetesGroups") or []),
        "access_policies": dict((p["policyArn"], {"type": (p.get("accessScope") or {}).get("type") or "cluster",
                                                  "namespaces": sorted((p.get("accessScope") or {}).get("namespaces")
                                                                       or [])})
                                for p in policies or []),
        "access_entry_arn": entry.get("accessEntryArn"),
    }


def desired_access_entries(params, before):
    """{principal_arn: view} the options ask for (None when access_entries is not set). An unset username
    keeps the entry's (EKS's default for a new one); unset kubernetes_groups and access_policies mean none."""
    if params.get("access_entries") is None:
        return None
    have = (before or {}).get("access_entries") or {}
    out = {}
    for entry in params["access_entries"]:
        arn = entry["principal_arn"]
        current = have.get(arn) or {}
        entry_type = entry.get("type") or "STANDARD"
        policies = {}
        for policy in entry.get("access_policies") or []:
            scope = policy.get("access_scope") or {}
            kind = scope.get("type") or "cluster"
            policies[access_policy_arn(policy["policy"])] = {
                "type": kind, "namespaces": sorted(set(scope.get("namespaces") or [])) if kind == "namespace" else []}
        out[arn] = {
            "principal_arn": arn,
            "type": entry_type,
            "username": entry.get("username") if entry.get("username") is not None else current.get("username"),
            "kubernetes_groups": sorted(set(entry.get("kubernetes_groups") or [])) if entry_type == "STANDARD"
            else current.get("kubernetes_groups", []),
            "access_policies": policies,
            "access_entry_arn": current.get("access_entry_arn"),
        }
    if not params.get("purge_access_entries"):
        for arn, view in have.items():
            out.setdefault(arn, view)
    return out


def plan_access_entries(cluster_name, have, want, keep=None):
    """The calls that turn access entries ``have`` into ``want`` (both {principal_arn: view}; a pure function).

    Entries in ``have`` but not in ``want`` are deleted, except those ``keep(view)`` says to keep (the caller's
    own entry, entries of other types than STANDARD: see the module's purge_access_entries). Returns
    ``{"errors": [...], "steps": [...]}`` like ``plan_update``."""
    errors, steps = [], []
    for arn in sorted(want):
        new, old = want[arn], have.get(arn)
        label = "access entry %s" % arn
        if old is None:
            args = {"clusterName": cluster_name, "principalArn": arn, "type": new["type"]}
            if new["type"] == "STANDARD":
                args["kubernetesGroups"] = new["kubernetes_groups"]
                if new["username"] is not None:
                    args["username"] = new["username"]
            steps.append({"call": "create_access_entry", "args": args, "what": "create " + label})
            old = {"access_policies": {}}
        else:
            if old["type"] != new["type"]:
                errors.append("access_entries[%s].type cannot change from %s to %s in place; remove the entry and add "
                              "it again" % (arn, old["type"], new["type"]))
                continue
            update = {}
            if new["username"] is not None and new["username"] != old["username"]:
                update["username"] = new["username"]
            if new["type"] == "STANDARD" and new["kubernetes_groups"] != old["kubernetes_groups"]:
                update["kubernetesGroups"] = new["kubernetes_groups"]
            if update:
                steps.append({"call": "update_access_entry",
                              "args": dict(update, clusterName=cluster_name, principalArn=arn),
                              "what": "%s %s" % (label, ", ".join(sorted(
                                  "username" if k == "username" else "kubernetes_groups" for k in update)))})
        for policy_arn in sorted(new["access_policies"]):
            scope = new["access_policies"][policy_arn]
            if old["access_policies"].get(policy_arn) != scope:
                api_scope = {"type": scope["type"]}
                if scope["type"] == "namespace":
                    api_scope["namespaces"] = scope["namespaces"]
                steps.append({"call": "associate_access_policy",
                              "args": {"clusterName": cluster_name, "principalArn": arn, "policyArn": policy_arn,
                                       "accessScope": api_scope},
                              "what": "%s associate %s (%s)" % (label, policy_arn.split("/")[-1], ", ".join(
                                  scope["namespaces"]) if scope["type"] == "namespace" else "cluster")})
        for policy_arn in sorted(old["access_policies"]):
            if policy_arn not in new["access_policies"]:
                steps.append({"call": "disassociate_access_policy",
                              "args": {"clusterName": cluster_name, "principalArn": arn, "policyArn": policy_arn},
                              "what": "%s disassociate %s" % (label, policy_arn.split("/")[-1])})
    for arn in sorted(have):
        if arn not in want and not (keep and keep(have[arn])):
            steps.append({"call": "delete_access_entry", "args": {"clusterName": cluster_name, "principalArn": arn},
                          "what": "delete access entry %s" % arn})
    return {"errors": errors, "steps": steps}


def describe_access_entries(eks, name):
    """{principal_arn: view} of a cluster's access entries (ListAccessEntries, DescribeAccessEntry and
    ListAssociatedAccessPolicies through a ``RetryingClient``)."""
    out = {}
    for arn in eks.paginate("list_access_entries", "accessEntries", clusterName=name):
        found = eks.call_or_none("describe_access_entry", clusterName=name, principalArn=arn)
        if found is None:
            continue
        policies = eks.paginate("list_associated_access_policies", "associatedAccessPolicies", clusterName=name,
                                principalArn=arn)
        out[arn] = access_entry_view(found["accessEntry"], policies)
    return out


def access_entries_result(views):
    """The modules' ``access_entries`` return value: a list sorted by principal, policies as a list."""
    out = []
    for arn in sorted(views or {}):
        view = dict(views[arn])
        view["access_policies"] = [{"policy_arn": p, "access_scope": dict(views[arn]["access_policies"][p])}
                                   for p in sorted(views[arn]["access_policies"])]
        out.append(view)
    return out


# ---------------------------------------------------------------------------------------------
# EKS: reads and the kubeconfig, shared by eks_cluster and eks_cluster_info
# ---------------------------------------------------------------------------------------------

def describe_cluster(eks, name):
    """``(cluster, nodegroups)`` as DescribeCluster / DescribeNodegroup return them, through a
    ``RetryingClient``; ``(None, [])`` when there is no such cluster."""
    found = eks.call_or_none("describe_cluster", name=name)
    if found is None:
        return None, []
    groups = []
    for group_name in eks.paginate("list_nodegroups", "nodegroups", clusterName=name):
        group = eks.call_or_none("describe_nodegroup", clusterName=name, nodegroupName=group_name)
        if group is not None:
            groups.append(group["nodegroup"])
    return found["cluster"], groups


def cluster_result(cluster, nodegroups):
    """The modules' ``cluster`` return value: the cluster in snake_case plus ``node_groups``
    (sorted by name, labels and tags kept as given); ``{}`` when there is no cluster."""
    if not cluster:
        return {}
    out = snake_cluster(cluster)
    out["node_groups"] = [camel_dict_to_snake_dict(g, ignore_list=["tags", "labels"])
                          for g in sorted(nodegroups, key=lambda g: g["nodegroupName"])]
    return out


def write_cluster_kubeconfig(module, session, cluster):
    """Write ``module.params['kubeconfig']`` for ``cluster`` (a DescribeCluster ``cluster``),
    authenticating as ``module.params['kubeconfig_auth']`` says (``token`` or ``exec``).

    Returns ``(path, changed, diff)``; ``(None, False, None)`` when no kubeconfig was asked for,
    there is no cluster, or it has no endpoint yet (with a warning). Honours check mode. A
    refreshed token alone is not a change (every run makes a new one).
    """
    params = module.params
    path = params.get("kubeconfig")
    if not path or not cluster:
        return None, False, None
    ca_b64 = (cluster.get("certificateAuthority") or {}).get("data")
    if not cluster.get("endpoint") or not ca_b64:
        module.warn("cluster %s has no endpoint yet (status %s): kubeconfig %s not written"
                    % (cluster.get("name"), cluster.get("status"), path))
        return None, False, None
    ca_pem = base64.b64decode(ca_b64).decode("ascii")
    region = params["region"]
    if params.get("kubeconfig_auth") == "token":
        user = {"token": eks_token(session, cluster["name"], region, params.get("endpoint_url"))["token"]}
    elif params.get("kubeconfig_auth") == "builtin":
        user = token_helper.exec_user("eks", builtin_options(cluster["name"], params))
    else:
        user = exec_user(cluster["name"], region, params.get("profile"), params.get("endpoint_url"))
    changed, diff = write_kubeconfig(path, cluster["name"], cluster["endpoint"], ca_pem, user,
                                     check_mode=module.check_mode)
    if changed and diff["before"] == diff["after"]:
        changed = False
    return path, changed, diff
