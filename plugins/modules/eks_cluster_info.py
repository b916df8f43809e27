#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: eks_cluster_info
short_description: Read an Amazon EKS cluster and its managed node groups, optionally writing its kubeconfig
version_added: 0.1.0
description:
  - Looks up one Amazon EKS cluster by name and returns whether it exists, the cluster and its managed
    node groups. It never creates, changes or deletes anything in AWS; a missing cluster is not an error.
  - Optionally writes a kubeconfig for the cluster (mode 0600, one context named after the cluster),
    authenticating with C(aws eks get-token) or with a token the module generates itself, like
    M(multicloud.mesh.eks_cluster) does. Writing the file is the only change the module can report.
author:
  - multicloud.mesh developers (@multicloud)
extends_documentation_fragment:
  - multicloud.mesh.aws
  - multicloud.mesh.eks_kubeconfig
attributes:
  check_mode:
    support: full
    description:
      - Reads the same in check mode; the kubeconfig is not written (RV(kubeconfig) names the file that
        would be written).
  diff_mode:
    support: none
    description: The cluster is only read; there is nothing to diff.
options:
  name:
    description: Name of the EKS cluster.
    type: str
    required: true
  kubeconfig:
    description:
      - Write a kubeconfig for the cluster to this path (mode 0600, one context named after the cluster).
      - Only when the cluster exists and has an endpoint (it is C(ACTIVE)); otherwise nothing is written.
    type: path
  access_entries:
    description:
      - Also return the cluster's EKS access entries with their access policies, in RV(cluster.access_entries).
        It costs one C(ListAccessEntries) call plus two calls per entry. A C(CONFIG_MAP) cluster has none.
    type: bool
    default: false
    version_added: 0.3.0
notes:
  - The module calls EKS (and STS for V(token)) only; it never shells out to the AWS CLI or kubectl.
  - The AWS calls are retried on throttling and transient errors for up to five minutes.
seealso:
  - module: multicloud.mesh.eks_cluster
    description: Creates, updates and deletes the cluster.
"""

EXAMPLES = r"""
- name: Is there a cluster mesh-1, and a kubeconfig with an embedded token if so
  multicloud.mesh.eks_cluster_info:
    name: mesh-1
    region: eu-central-1
    kubeconfig: "{{ playbook_dir }}/mesh-1.kubeconfig"
    kubeconfig_auth: token
  register: eks

- name: Fail when it does not exist
  ansible.builtin.assert:
    that: eks.exists
    fail_msg: "no EKS cluster mesh-1 in eu-central-1"

- name: Show its endpoint and node groups
  ansible.builtin.debug:
    msg: "{{ eks.cluster.endpoint }}: {{ eks.cluster.node_groups | map(attribute='nodegroup_name') | join(', ') }}"
  when: eks.exists
"""

RETURN = r"""
exists:
  description: Whether the cluster exists (in any status, including C(CREATING) and C(DELETING)).
  returned: always
  type: bool
  sample: true
cluster:
  description:
    - The cluster as DescribeCluster returns it, in snake_case (tags kept as given), plus C(node_groups)
      (each as DescribeNodegroup returns it, in snake_case, sorted by name). Empty when it does not exist.
    - The same shape as the RV(multicloud.mesh.eks_cluster#module:cluster) return value of M(multicloud.mesh.eks_cluster).
  returned: always
  type: dict
  sample: {"name": "mesh-1", "status": "ACTIVE", "version": "1.32",
           "endpoint": "https://0123456789ABCDEF.gr7.eu-central-1.eks.amazonaws.com",
           "node_groups": [{"nodegroup_name": "default", "status": "ACTIVE",
                            "scaling_config": {"min_size": 2, "max_size": 4, "desired_size": 2}}]}
  contains:
    access_entries:
      description:
        - The access entries, as RV(multicloud.mesh.eks_cluster#module:cluster.access_entries) of
          M(multicloud.mesh.eks_cluster) returns them.
      returned: when O(access_entries=true) and the cluster exists
      type: list
      elements: dict
      version_added: 0.3.0
      sample: [{"principal_arn": "arn:aws:iam::123456789012:user/alice", "type": "STANDARD",
                "username": "arn:aws:iam::123456789012:user/alice", "kubernetes_groups": [],
                "access_policies": [{"policy_arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                                     "access_scope": {"type": "cluster", "namespaces": []}}]}]
kubeconfig:
  description: Path of the kubeconfig written (or that would be written in check mode).
  returned: when O(kubeconfig) is set and the cluster has an endpoint
  type: str
  sample: /home/me/mesh-1.kubeconfig
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicloud.mesh.plugins.module_utils import aws

CALL_TIMEOUT = 300


def argument_spec():
    spec = aws.aws_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        kubeconfig=dict(type="path"),
        kubeconfig_auth=dict(type="str", choices=["builtin", "exec", "token"], default="exec"),
        access_entries=dict(type="bool", default=False),
    )
    return spec


def run(module):
    params = module.params
    errors = aws.connection_errors(params) + aws.name_errors(params) + aws.builtin_auth_errors(params)
    if errors:
        module.fail_json(msg="invalid options: " + "; ".join(errors))
    try:
        session = aws.aws_session(params)
        eks = aws.RetryingClient(aws.client(session, "eks", params), timeout=CALL_TIMEOUT)
        cluster, groups = aws.describe_cluster(eks, params["name"])
        result = dict(changed=False, exists=cluster is not None, cluster=aws.cluster_result(cluster, groups))
        if cluster is not None and params["access_entries"]:
            mode = (cluster.get("accessConfig") or {}).get("authenticationMode")
            result["cluster"]["access_entries"] = aws.access_entries_result(
                {} if mode == "CONFIG_MAP" else aws.describe_access_entries(eks, params["name"]))
        path, changed, _diff = aws.write_cluster_kubeconfig(module, session, cluster)
        if path:
            result["kubeconfig"] = path
            result["changed"] = changed
    except aws.AWSError as exc:
        module.fail_json(msg=exc.message, error_code=exc.code)
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 and botocore"), exception=aws.BOTO3_IMP_ERR)
    run(module)


if __name__ == "__main__":
    main()
