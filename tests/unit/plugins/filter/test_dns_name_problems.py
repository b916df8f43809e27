"""Unit tests of plugins/filter/dns_name_problems.py: the modules' DNS-name rule, for roles."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ansible_collections.multicloud.mesh.plugins.filter.dns_name_problems import dns_name_problems  # noqa: E402


def test_dns_names_pass():
    assert dns_name_problems("global", "x") == [] and dns_name_problems("mesh.internal", "x") == []


def test_problems_name_the_variable_and_the_reason():
    assert dns_name_problems("mesh_global", "mesh_link_host_suffix") == [
        "mesh_link_host_suffix 'mesh_global' is not a DNS name (label 'mesh_global' has the character '_'): use "
        "dot-separated labels of 1-63 lowercase letters, digits and '-', each starting and ending with a letter or "
        "digit, 253 characters at most, like cluster.local"]
    assert "empty label" in dns_name_problems("a..b", "v")[0]
    assert "it is empty" in dns_name_problems("", "v")[0]
