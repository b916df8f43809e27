# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Time-bound reader tokens of the remote secrets: what a token says of itself, and when to renew it.

A remote secret holds a kubeconfig with a ServiceAccount token of ``istio-reader-service-account``
(TokenRequest API, bound to an anchor Secret so that deleting the anchor revokes it). The token is
a JWT; its ``iat`` and ``exp`` claims give its life. Nothing here verifies a signature: the API
server that issued the token does that (TokenReview), this only reads the claims to decide whether
a re-run must ask for a new one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import json

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

# A token is renewed when less than this share of its life is left.
RENEW_WHEN_LEFT = 1.0 / 3
# TokenRequest's own floor (expirationSeconds >= 600) is below a day; the option counts days.
DAY = 86400
# A token that lives longer than asked by more than this is renewed (the option was lowered).
LIFE_SLACK = 3600


def claims(token):
    """The JWT payload of ``token`` as a dict (unverified), or None when it is not a JWT."""
    parts = (token or "").split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        out = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")).decode("utf-8"))
    except (ValueError, TypeError, UnicodeError):
        return None
    return out if isinstance(out, dict) else None


def timestamp(seconds):
    """``2027-03-03T10:00:00Z`` for a Unix time (None stays None)."""
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def expiry(token):
    """The token's ``exp`` (Unix seconds), or None when it has none (a legacy Secret-based token)."""
    exp = (claims(token) or {}).get("exp")
    return int(exp) if isinstance(exp, (int, float)) else None


def renewal_reason(token, now, days):
    """Why ``token`` must be replaced, or None when it may stay.

    ``days`` is the life asked for (``reader_token_days``). A token is replaced when it is not a
    JWT, never expires, has expired, has less than a third of its life left, or lives longer than
    asked (the option was lowered). A token shorter-lived than asked (the API server caps it) stays
    until its last third.
    """
    c = claims(token)
    if c is None:
        return "it is not a ServiceAccount token (JWT)"
    exp, iat = c.get("exp"), c.get("iat") or c.get("nbf")
    if not isinstance(exp, (int, float)):
        return "it never expires (a legacy ServiceAccount token Secret)"
    if exp <= now:
        return "it expired at %s" % timestamp(exp)
    if isinstance(iat, (int, float)) and exp > iat:
        life = exp - iat
        if exp - now < life * RENEW_WHEN_LEFT:
            return "less than a third of its life is left (it expires at %s)" % timestamp(exp)
        if life > days * DAY + LIFE_SLACK:
            return "it lives %.1f days, longer than reader_token_days=%d" % (life / float(DAY), days)
    return None


def from_remote_secret(secret, cluster_name):
    """The token in a remote secret's kubeconfig for ``cluster_name``, or None."""
    data = ((secret or {}).get("data") or {}).get(cluster_name)
    if not data or yaml is None:
        return None
    try:
        config = yaml.safe_load(base64.b64decode(data).decode("utf-8"))
    except (ValueError, TypeError, UnicodeError, yaml.YAMLError):
        return None
    for user in (config or {}).get("users") or []:
        token = ((user or {}).get("user") or {}).get("token")
        if token:
            return token
    return None
