# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: dns_name_problems
short_description: Whether a value is an RFC 1123 DNS name, with the problem said the modules' way
version_added: 1.0.0
author: multicloud.mesh contributors
description:
  - Checks a value with the same rule the modules apply to host suffixes and cluster domains (dot-separated labels
    of 1-63 characters C(a-z), C(0-9) and C(-), not starting or ending with C(-), 253 characters at most), so that a
    role refuses before anything is created what a module would refuse later.
  - Returns a list with the problem (naming O(label) and saying the fix), empty when the value is a DNS name.
options:
  _input:
    description: The value to check.
    type: raw
    required: true
  label:
    description: The name of the variable, used in the problem.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: A role's host suffix is a DNS name
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ mesh_link_host_suffix | multicloud.mesh.dns_name_problems('mesh_link_host_suffix') }}"
"""

RETURN = r"""
_value:
  description: The problem, or nothing.
  type: list
  elements: str
"""

from ansible_collections.multicloud.mesh.plugins.module_utils import validate


def dns_name_problems(value, label):
    """``[problem]`` when ``value`` is not an RFC 1123 DNS name, else ``[]``."""
    problem = validate.dns_name(value, label)
    return [problem] if problem else []


class FilterModule(object):
    """multicloud.mesh DNS name filter."""

    def filters(self):
        return {"dns_name_problems": dns_name_problems}
