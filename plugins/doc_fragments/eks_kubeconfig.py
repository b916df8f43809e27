# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the kubeconfig the EKS modules write authenticates (module_utils/aws.py write_cluster_kubeconfig).
    DOCUMENTATION = r"""
options:
  kubeconfig_auth:
    description:
      - How the kubeconfig authenticates.
      - V(builtin) writes an exec entry that runs the collection's own token helper
        (C(plugins/module_utils/token_helper.py)) with the Python interpreter that ran the module; every
        Kubernetes client gets a fresh token whenever its token nears its expiry, so a long run never meets
        an expired one, and no AWS CLI is needed. The helper uses the credentials of the environment
        (C(AWS_ACCESS_KEY_ID)/C(AWS_SECRET_ACCESS_KEY), or O(profile)), never writes them into the kubeconfig,
        and caches each token for half its life in C(~/.cache/multicloud.mesh/tokens) (mode 0600). The
        kubeconfig works where that interpreter exists (the controller, the execution environment).
      - V(exec) runs C(aws eks get-token) (the AWS CLI must be installed where the kubeconfig is used).
      - V(token) embeds a bearer token the module makes from its AWS credentials (a presigned STS
        GetCallerIdentity URL, like aws-iam-authenticator), for machines without the AWS CLI such as AWX
        execution environments. EKS accepts it for 15 minutes; run the module again to refresh it.
        A refreshed token alone is not reported as a change.
    type: str
    choices: [builtin, exec, token]
    default: exec
"""
