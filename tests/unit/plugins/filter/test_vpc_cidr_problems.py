"""Unit tests of plugins/filter/vpc_cidr_problems.py: what EC2 would refuse, found before anything is created."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ansible_collections.multicloud.mesh.plugins.filter.vpc_cidr_problems import vpc_cidr_problems  # noqa: E402

PUBLIC, PRIVATE = ["10.60.0.0/20", "10.60.16.0/20"], ["10.60.128.0/20", "10.60.144.0/20"]


def test_the_role_defaults_are_valid():
    assert vpc_cidr_problems("10.60.0.0/16", PUBLIC, PRIVATE) == []


def test_not_a_cidr_names_the_variable():
    problems = vpc_cidr_problems("10.60.0.0/33", PUBLIC, PRIVATE)
    assert len(problems) == 1 and problems[0].startswith("eks_cluster_vpc_cidr '10.60.0.0/33' is not a CIDR block")
    assert vpc_cidr_problems("10.60.0.1/16", PUBLIC, PRIVATE)[0].startswith("eks_cluster_vpc_cidr '10.60.0.1/16'")


def test_prefix_range_and_ipv6():
    assert "/8 prefix: EC2 takes /16 to /28" in vpc_cidr_problems("10.0.0.0/8", [], [])[0]
    assert "/29 prefix" in vpc_cidr_problems("10.60.0.0/16", ["10.60.0.0/29"], [])[0]
    assert "IPv6" in vpc_cidr_problems("fd00::/56", [], [])[0]


def test_subnets_inside_the_vpc_and_apart():
    outside = vpc_cidr_problems("10.60.0.0/16", PUBLIC, ["10.61.0.0/20", "10.60.144.0/20"])
    assert outside == ["eks_cluster_private_subnet_cidrs: 10.61.0.0/20 is not inside the VPC's 10.60.0.0/16 "
                       "(eks_cluster_vpc_cidr); pick a block inside it"]
    overlap = vpc_cidr_problems("10.60.0.0/16", ["10.60.0.0/20", "10.60.8.0/21"], PRIVATE)
    assert overlap == ["eks_cluster_public_subnet_cidrs 10.60.0.0/20 overlaps eks_cluster_public_subnet_cidrs "
                       "10.60.8.0/21: subnets of one VPC need blocks of their own"]
