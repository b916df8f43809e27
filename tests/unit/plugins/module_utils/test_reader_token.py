# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json

from ansible_collections.multicloud.mesh.plugins.module_utils import reader_token

DAY = 86400
NOW = 1_800_000_000


def jwt(**claims):
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return "%s.%s.%s" % (part({"alg": "RS256"}), part(claims), "c2ln")


def test_claims_of_a_jwt_and_of_other_strings():
    assert reader_token.claims(jwt(exp=5, iat=1)) == {"exp": 5, "iat": 1}
    assert reader_token.claims("not-a-jwt") is None
    assert reader_token.claims("a.!!!.c") is None
    assert reader_token.claims(None) is None


def test_a_fresh_token_stays():
    token = jwt(iat=NOW - DAY, exp=NOW + 89 * DAY)
    assert reader_token.renewal_reason(token, NOW, 90) is None


def test_renewed_when_less_than_a_third_of_its_life_is_left():
    life = 90 * DAY
    just_kept = jwt(iat=NOW - (life * 2 // 3) + 60, exp=NOW + life // 3 + 60)
    assert reader_token.renewal_reason(just_kept, NOW, 90) is None
    due = jwt(iat=NOW - (life * 2 // 3) - 60, exp=NOW + life // 3 - 60)
    assert "less than a third" in reader_token.renewal_reason(due, NOW, 90)


def test_renewed_when_expired_legacy_or_not_a_jwt():
    assert "expired at 2027-01-15T08:00:00Z" in reader_token.renewal_reason(jwt(iat=1, exp=NOW), NOW, 90)
    assert "never expires" in reader_token.renewal_reason(jwt(sub="legacy"), NOW, 90)
    assert "not a ServiceAccount token" in reader_token.renewal_reason("opaque", NOW, 90)


def test_renewed_when_it_lives_longer_than_asked_but_a_capped_one_stays():
    long_lived = jwt(iat=NOW, exp=NOW + 90 * DAY)
    assert "longer than reader_token_days=30" in reader_token.renewal_reason(long_lived, NOW, 30)
    capped = jwt(iat=NOW, exp=NOW + 2 * DAY)  # the API server gave 2 days for 90 asked
    assert reader_token.renewal_reason(capped, NOW, 90) is None


def test_expiry_and_timestamp():
    assert reader_token.expiry(jwt(exp=NOW)) == NOW
    assert reader_token.expiry(jwt(sub="x")) is None
    assert reader_token.timestamp(NOW) == "2027-01-15T08:00:00Z"
    assert reader_token.timestamp(None) is None
