#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: cluster_info
short_description: Report what a Kubernetes cluster of the mesh runs
version_added: 0.1.0
description:
  - Connects to one Kubernetes cluster and returns its server version, its nodes and how
    many are ready, its namespaces, and whether Istio's CRDs are installed.
  - Read-only; never reports a change. Fails with a clear message when the server cannot be
    reached, its certificate is not trusted, or the credentials are rejected.
author:
  - multicloud.mesh developers (@multicloud)
extends_documentation_fragment:
  - multicloud.mesh.kube
attributes:
  check_mode:
    support: full
    description: The module only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
options: {}
notes:
  - Uses C(kubernetes.dynamic) from the C(kubernetes) Python client; the deprecated
    C(openshift) package is not needed.
"""

EXAMPLES = r"""
- name: Describe the cluster of this inventory host
  multicloud.mesh.cluster_info:
    kubeconfig: "{{ mesh_kubeconfig }}"
  register: info

- name: Show the server version and the ready nodes
  ansible.builtin.debug:
    msg: "{{ info.server_version.git_version }}: {{ info.nodes.ready }}/{{ info.nodes.total }} nodes ready"

- name: Use a bearer token instead of a kubeconfig (AWX Kubernetes credential)
  multicloud.mesh.cluster_info:
    host: https://203.0.113.10:443
    api_key: "{{ k8s_token }}"
    ca_cert: /etc/mesh/ca.crt
"""

RETURN = r"""
server:
  description: The API server URL that was queried.
  returned: always
  type: str
  sample: https://127.0.0.1:6443
server_version:
  description: The server's C(/version), in snake_case.
  returned: always
  type: dict
  contains:
    git_version:
      description: The Kubernetes release of the API server.
      type: str
      sample: v1.35.4
    major:
      description: Major version.
      type: str
      sample: "1"
    minor:
      description: Minor version.
      type: str
      sample: "35"
    platform:
      description: OS/architecture of the server binary.
      type: str
      sample: linux/amd64
nodes:
  description: Node counts and names.
  returned: always
  type: dict
  contains:
    total:
      description: Number of nodes.
      type: int
      sample: 2
    ready:
      description: Number of nodes whose Ready condition is True.
      type: int
      sample: 2
    names:
      description: Node names.
      type: list
      elements: str
namespaces:
  description: Names of the cluster's namespaces.
  returned: always
  type: list
  elements: str
  sample: [default, kube-system, istio-system]
istio:
  description: Istio's presence in the cluster.
  returned: always
  type: dict
  contains:
    crds_installed:
      description: Whether any CRD of an C(istio.io) API group is installed.
      type: bool
    crds:
      description: Names of the Istio CRDs found.
      type: list
      elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicloud.mesh.plugins.module_utils.kube import (
    HAS_KUBERNETES,
    KUBE_ARG_SPEC,
    KUBE_IMP_ERR,
    mask_kubeconfigs,
    KubeError,
    connect,
)


def _ready(node):
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def gather(kube):
    version = kube.version()
    nodes = kube.call(kube.resource("v1", "Node").get).to_dict().get("items") or []
    namespaces = kube.call(kube.resource("v1", "Namespace").get).to_dict().get("items") or []
    crds = kube.call(kube.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition").get).to_dict().get("items") or []
    istio_crds = sorted(c["metadata"]["name"] for c in crds
                        if (c.get("spec") or {}).get("group", "").endswith("istio.io"))
    return {
        "server": kube.server,
        "server_version": {k: version.get(k) for k in ("git_version", "major", "minor", "platform", "go_version")},
        "nodes": {"total": len(nodes), "ready": sum(1 for n in nodes if _ready(n)),
                  "names": sorted(n["metadata"]["name"] for n in nodes)},
        "namespaces": sorted(n["metadata"]["name"] for n in namespaces),
        "istio": {"crds_installed": bool(istio_crds), "crds": istio_crds},
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(KUBE_ARG_SPEC),
        mutually_exclusive=[("kubeconfig", "host")],
        supports_check_mode=True,
    )
    mask_kubeconfigs(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBE_IMP_ERR)
    try:
        result = gather(connect(module.params))
    except KubeError as exc:
        module.fail_json(msg=exc.msg, status=exc.status)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
