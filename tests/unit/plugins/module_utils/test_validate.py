# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.multicloud.mesh.plugins.module_utils import validate


def test_at_least_names_the_option_and_the_bound():
    assert validate.at_least(1, "wait_timeout") is None
    assert validate.at_least(None, "wait_timeout") is None
    assert validate.at_least(0, "wait_timeout") == "wait_timeout must be 1 or more (seconds), got 0"


@pytest.mark.parametrize("value,ok", [(1, True), (65535, True), (0, False), (65536, False), (-1, False)])
def test_port(value, ok):
    assert (validate.port(value, "gateway_port") is None) is ok


@pytest.mark.parametrize("value,ok", [("https://127.0.0.1:6443", True), ("http://[::1]:80/x", True),
                                      ("cluster.example", False), ("ftp://x", False), ("https://", False)])
def test_http_url(value, ok):
    assert (validate.http_url(value, "host") is None) is ok


@pytest.mark.parametrize("value,ok", [("10.0.0.0/8", True), ("fd00::/8", True), ("10.0.0.0/40", False),
                                      ("300.1.1.0/24", False), ("10.0.0.1/8", False), ("10.0.0.0", False), ("", False)])
def test_cidr(value, ok):
    message = validate.cidr(value, "cidr_block")
    assert (message is None) is ok
    if not ok:
        assert message.startswith("cidr_block %r is not a CIDR block" % value)


def test_ip_address_and_labels():
    assert validate.ip_address("10.0.0.10", "address") is None
    assert "is not an IP address" in validate.ip_address("dns.example", "dns_nameservers")
    assert validate.dns_label("istio-system", "namespace") is None
    assert "is not a namespace name" in validate.dns_label("Bad_NS", "namespace", "namespace name")
    assert validate.dns_1035_label("messenger", "source.name") is None
    assert validate.dns_1035_label("1messenger", "source.name") is not None
    assert validate.dns_name("cluster.local", "cluster_domain") is None
    assert validate.dns_name("Bad Domain!", "cluster_domain") is not None


def test_not_empty_and_errors():
    assert validate.not_empty("", "mesh_id") == "mesh_id must not be empty"
    assert validate.errors(None, "a", None, "b") == ["a", "b"]
