# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vpc_cidr_problems
short_description: What AWS would refuse in a VPC's CIDR and its subnets' CIDRs, found before anything is created
version_added: 1.0.0
author: multicloud.mesh contributors
description:
  - Checks a VPC CIDR and the CIDRs of its subnets as the role C(multicloud.mesh.eks_cluster) creates them, the way
    EC2 would - each is an IPv4 network in CIDR notation without host bits; the VPC's prefix is /16 to /28; each
    subnet's prefix is /16 to /28, inside the VPC, and no two subnets overlap.
  - Returns the problems (a list of strings naming the role variable and saying the fix); empty when all is well.
  - The role calls it before it creates anything, so that C(site.yml)'s preflight reports a bad CIDR before any
    cloud resource exists (EC2 would refuse it only at C(CreateVpc) or C(CreateSubnet), after other resources).
options:
  _input:
    description: The VPC's CIDR (V(eks_cluster_vpc_cidr)).
    type: str
    required: true
  public:
    description: CIDRs of the public subnets (V(eks_cluster_public_subnet_cidrs)).
    type: list
    elements: str
    default: []
  private:
    description: CIDRs of the private subnets (V(eks_cluster_private_subnet_cidrs)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Refuse a bad network before anything is created
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ '10.60.0.0/16' | multicloud.mesh.vpc_cidr_problems(['10.60.0.0/20'], ['10.61.0.0/20']) }}"
    # -> ["eks_cluster_private_subnet_cidrs: 10.61.0.0/20 is not inside the VPC's 10.60.0.0/16 (eks_cluster_vpc_cidr)..."]
"""

RETURN = r"""
_value:
  description: The problems, each naming the variable and the fix; empty when the network is valid.
  type: list
  elements: str
"""

import ipaddress

from ansible_collections.multicloud.mesh.plugins.module_utils import validate

VPC_VAR = "eks_cluster_vpc_cidr"
PUBLIC_VAR = "eks_cluster_public_subnet_cidrs"
PRIVATE_VAR = "eks_cluster_private_subnet_cidrs"
# EC2: a VPC's and a subnet's IPv4 block is /16 (65,536 addresses) to /28 (16 addresses)
PREFIX_MIN = 16
PREFIX_MAX = 28


def _network(value, label, problems):
    problem = validate.cidr(value, label)
    if problem:
        problems.append(problem)
        return None
    network = ipaddress.ip_network(u"%s" % value)
    if network.version != 4:
        problems.append("%s %s is an IPv6 block: the VPC and its subnets need IPv4 blocks, like 10.60.0.0/16"
                        % (label, value))
        return None
    if not PREFIX_MIN <= network.prefixlen <= PREFIX_MAX:
        problems.append("%s %s has a /%d prefix: EC2 takes /%d to /%d"
                        % (label, value, network.prefixlen, PREFIX_MIN, PREFIX_MAX))
        return None
    return network


def vpc_cidr_problems(vpc_cidr, public=None, private=None):
    """The problems of a VPC CIDR and its subnets' CIDRs (list of strings; empty when valid)."""
    problems = []
    vpc = _network(vpc_cidr, VPC_VAR, problems)
    subnets = []
    for var, values in ((PUBLIC_VAR, public or []), (PRIVATE_VAR, private or [])):
        for value in values:
            network = _network(value, var, problems)
            if network is None:
                continue
            if vpc is not None and not network.subnet_of(vpc):
                problems.append("%s: %s is not inside the VPC's %s (%s); pick a block inside it"
                                % (var, value, vpc_cidr, VPC_VAR))
            subnets.append((var, value, network))
    for index, (var, value, network) in enumerate(subnets):
        for other_var, other_value, other in subnets[index + 1:]:
            if network.overlaps(other):
                problems.append("%s %s overlaps %s %s: subnets of one VPC need blocks of their own"
                                % (var, value, other_var, other_value))
    return problems


class FilterModule(object):
    """multicloud.mesh network filters."""

    def filters(self):
        return {"vpc_cidr_problems": vpc_cidr_problems}
