"""SigV4 verification for the sandbox's AWS emulator (server side of what botocore signs).

botocore only signs; the emulator must *check* signatures so that wrong credentials fail the way
they fail on AWS, and so that EKS tokens (presigned STS GetCallerIdentity URLs) can be validated.
We recompute the signature with botocore's own canonicalisation (``SigV4Auth``) so the two sides
cannot drift apart, and compare in constant time.
"""

import base64
import datetime
import hmac
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
TOKEN_PREFIX = "k8s-aws-v1."
# EKS (aws-iam-authenticator) accepts a token for 15 minutes after X-Amz-Date, whatever the
# presigned URL's own X-Amz-Expires (60 s) says.
EKS_TOKEN_MAX_AGE = 900
MAX_CLOCK_SKEW = 300


class SignatureError(Exception):
    """A request or token failed verification; ``code`` is the AWS error code to answer with."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def parse_authorization(header):
    """'AWS4-HMAC-SHA256 Credential=AK/2024/r/s/aws4_request, SignedHeaders=a;b, Signature=x'."""
    if not header or not header.startswith("AWS4-HMAC-SHA256 "):
        raise SignatureError("IncompleteSignature", "Authorization header is not AWS SigV4")
    fields = {}
    for part in header[len("AWS4-HMAC-SHA256 "):].split(","):
        key, dummy, value = part.strip().partition("=")
        fields[key] = value
    try:
        access_key, date, region, service, _term = fields["Credential"].split("/")
        return {
            "access_key": access_key,
            "date": date,
            "region": region,
            "service": service,
            "signed_headers": fields["SignedHeaders"].split(";"),
            "signature": fields["Signature"],
        }
    except (KeyError, ValueError):
        raise SignatureError("IncompleteSignature", "Authorization header is malformed")


def _signer(access_key, secret_key, token, service, region):
    return SigV4Auth(Credentials(access_key, secret_key, token), service, region)


def _compute(method, url, headers, body, secret_key, access_key, service, region, amz_date):
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    request.context["timestamp"] = amz_date
    signer = _signer(access_key, secret_key, None, service, region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


def _check_time(amz_date, now, max_age, code, skew=MAX_CLOCK_SKEW):
    try:
        signed_at = datetime.datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        raise SignatureError("IncompleteSignature", "X-Amz-Date is missing or malformed")
    if signed_at - now > datetime.timedelta(seconds=skew):
        raise SignatureError("SignatureDoesNotMatch", "Signature not yet current")
    if now - signed_at > datetime.timedelta(seconds=max_age):
        raise SignatureError(code, "Request has expired (X-Amz-Date %s)" % amz_date)


def verify_header_signed(method, scheme, host, raw_uri, headers, body, secret_lookup, now=None):
    """Verify a request signed in its Authorization header.

    ``headers`` maps lower-case names to values; ``raw_uri`` is the path and query exactly as
    sent. ``secret_lookup(access_key) -> secret or None``. Returns the parsed credential scope.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    auth = parse_authorization(headers.get("authorization"))
    secret = secret_lookup(auth["access_key"])
    if secret is None:
        raise SignatureError("InvalidClientTokenId",
                             "The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date")
    _check_time(amz_date, now, max_age=900, code="RequestExpired")
    signed = {}
    for name in auth["signed_headers"]:
        if name == "host":
            signed["host"] = headers.get("host", host)
        elif name in headers:
            signed[name] = headers[name]
        else:
            raise SignatureError("SignatureDoesNotMatch", "Signed header %s is missing" % name)
    url = "%s://%s%s" % (scheme, host, raw_uri)
    expected = _compute(method, url, signed, body, secret, auth["access_key"], auth["service"],
                        auth["region"], amz_date)
    if not hmac.compare_digest(expected, auth["signature"]):
        raise SignatureError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.")
    return auth


def decode_eks_token(token):
    """'k8s-aws-v1.<base64url(url) without padding>' -> presigned URL string."""
    if not token or not token.startswith(TOKEN_PREFIX):
        raise SignatureError("InvalidToken", "token is not a k8s-aws-v1 token")
    payload = token[len(TOKEN_PREFIX):]
    try:
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise SignatureError("InvalidToken", "token payload is not base64url")


def verify_eks_token(token, cluster_name, secret_lookup, allowed_hosts, now=None,
                     max_age=EKS_TOKEN_MAX_AGE, honour_expires=False):
    """Validate an EKS bearer token like aws-iam-authenticator's server does.

    Checks: a GET of STS GetCallerIdentity on an allowed host, path '/', x-k8s-aws-id signed and
    equal to ``cluster_name``, X-Amz-Date within ``max_age`` seconds (and within X-Amz-Expires
    when ``honour_expires``), and a valid SigV4 signature for a known access key.
    Returns ``{"access_key", "region"}``.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    url = decode_eks_token(token)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or parts.netloc.lower() not in allowed_hosts:
        raise SignatureError("InvalidToken", "unexpected STS host %r" % parts.netloc)
    if parts.path not in ("", "/"):
        raise SignatureError("InvalidToken", "unexpected path in presigned URL")
    raw_pairs = [p for p in parts.query.split("&") if p]
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    lowered = {k.lower(): v for k, v in query.items()}
    if lowered.get("action") != "GetCallerIdentity":
        raise SignatureError("InvalidToken", "presigned URL is not GetCallerIdentity")
    for required in ("x-amz-credential", "x-amz-date", "x-amz-signature",
                     "x-amz-signedheaders", "x-amz-expires"):
        if required not in lowered:
            raise SignatureError("InvalidToken", "presigned URL lacks %s" % required)
    signed_headers = lowered["x-amz-signedheaders"].split(";")
    if "x-k8s-aws-id" not in signed_headers:
        raise SignatureError("InvalidToken", "x-k8s-aws-id is not a signed header")
    try:
        expires = int(lowered["x-amz-expires"])
    except ValueError:
        raise SignatureError("InvalidToken", "X-Amz-Expires is not a number")
    age = min(max_age, expires) if honour_expires else max_age
    _check_time(lowered["x-amz-date"], now, max_age=age, code="ExpiredToken")
    try:
        access_key, _date, region, service, _term = lowered["x-amz-credential"].split("/")
    except ValueError:
        raise SignatureError("InvalidToken", "X-Amz-Credential is malformed")
    if service != "sts":
        raise SignatureError("InvalidToken", "credential scope is not sts")
    secret = secret_lookup(access_key)
    if secret is None:
        raise SignatureError("InvalidClientTokenId", "unknown access key")
    unsigned_query = "&".join(p for p in raw_pairs if not p.lower().startswith("x-amz-signature="))
    unsigned_url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", unsigned_query, ""))
    headers = {"x-k8s-aws-id": cluster_name}
    for name in signed_headers:
        if name not in ("host", "x-k8s-aws-id"):
            raise SignatureError("InvalidToken", "unexpected signed header %s" % name)
    expected = _compute("GET", unsigned_url, headers, b"", secret, access_key, service, region,
                        lowered["x-amz-date"])
    if not hmac.compare_digest(expected, lowered["x-amz-signature"]):
        # Either forged, or signed for another cluster name (x-k8s-aws-id is in the signature).
        raise SignatureError("SignatureDoesNotMatch", "token signature does not match")
    return {"access_key": access_key, "region": region}
