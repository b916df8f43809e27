#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_multicluster
short_description: Install one Istio mesh across several Kubernetes clusters and link them
version_added: 0.1.0
description:
  - Installs Istio into every cluster of O(clusters) with the same mesh ID, each cluster on its
    own network (multi-primary on different networks by default), with an east-west gateway and
    the C(cross-network-gateway) Gateway that exposes the mesh's services with C(AUTO_PASSTHROUGH)
    on port 15443, and enables sidecar injection in O(injection_namespaces).
  - Links the clusters with remote secrets (O(link=remote_secrets)) so that each control plane
    reads the services and endpoints of the others.
  - Manifests come from Istio's own charts compiled into a checksum-verified C(istioctl) of
    O(istio_version) (C(istioctl manifest generate)); istioctl only renders. Objects are applied
    with server-side apply (field manager C(multicloud.mesh)) through the Kubernetes Python client,
    so C(changed), check mode and diff are exact. kubectl is never run.
  - Input is checked before anything changes (duplicate cluster names, a cluster without a known
    network, an Istio version without a known istioctl checksum, an unreachable cluster, and a
    missing C(istio-system/cacerts) secret from M(multicloud.mesh.mesh_ca)).
author:
  - multicloud.mesh developers (@multicloud)
attributes:
  check_mode:
    support: full
    description: Every write is sent as a server-side dry run (C(dryRun=All)); nothing is persisted.
      Objects whose namespace or CRD would be created by the same run are predicted as created.
      A cluster without the C(istio-system/cacerts) Secret (which M(multicloud.mesh.mesh_ca), in check mode,
      only predicts) is not an error in check mode; the install is predicted, with a warning and
      RV(clusters.cacerts_missing=true).
  diff_mode:
    support: full
    description: Returns the objects before and after per cluster; Secret data is redacted.
options:
  mesh_id:
    description:
      - The mesh ID (C(values.global.meshID)) shared by all clusters.
      - Also the value of the C(multicloud.mesh/mesh-id) label, so a Kubernetes label value (at most 63
        letters, digits, C(-), C(_) and C(.), starting and ending with a letter or digit); anything else
        fails before a cluster is read.
    type: str
    required: true
  clusters:
    description:
      - The clusters of the mesh. Required unless O(validate_only=true).
    type: list
    elements: dict
    suboptions:
      name:
        description: Cluster name; istiod's cluster ID (C(values.global.multiCluster.clusterName)). A DNS label.
        type: str
        required: true
      network:
        description:
          - The network of the cluster (C(values.global.network)); clusters in different VPCs or
            clouds are on different networks.
          - The value of the C(topology.istio.io/network) label, so a Kubernetes label value (see O(mesh_id)).
        type: str
        required: true
      kubeconfig:
        description:
          - Kubeconfig of the cluster (path, YAML content or dict).
          - C(no_log) like the kubeconfig of the M(multicloud.mesh.cluster_info) module; a path stays readable.
        type: raw
      context:
        description: Context of O(clusters[].kubeconfig).
        type: str
      host:
        description: API server URL for bearer-token access instead of a kubeconfig.
        type: str
      api_key:
        description: Bearer token for O(clusters[].host).
        type: str
      ca_cert:
        description: CA certificate file of the API server for O(clusters[].host).
        type: str
      validate_certs:
        description: Whether to verify the API server's certificate.
        type: bool
      api_server:
        description: The API server address other clusters' istiod use to read this cluster (written into
          the remote secret). Defaults to the server this module connects to.
        type: str
      primary:
        description: With O(topology=primary_remote), the cluster that runs the control plane
          (default the first cluster).
        type: bool
        default: false
  networks:
    description:
      - The networks of the mesh. When given, every cluster's network must be one of them.
    type: list
    elements: str
  istio_version:
    description:
      - The Istio release to install. Only versions with a known istioctl checksum are accepted.
      - V(1.30.4) is built from the release-1.30 branch (see the collection's C(docs/istio.md)).
    type: str
    default: 1.30.4
  istioctl_path:
    description:
      - Path of the istioctl of O(istio_version). Its sha256 must be the known one for that version.
      - By default looked up in C($MULTICLOUD_MESH_ISTIO_BIN/istio-<version>/istioctl),
        C(~/.cache/multicloud.mesh/bin/istio-<version>/istioctl),
        C(/usr/local/lib/multicloud.mesh/istio-<version>/istioctl), then C(istioctl) on E(PATH).
    type: path
  istioctl_release_url:
    description:
      - Where Istio's release archives are, for example V(https://github.com/istio/istio/releases/download). When set
        and no verified istioctl of O(istio_version) is found, C(<url>/<version>/istioctl-<version>-<platform>.tar.gz)
        is downloaded (platforms C(linux-amd64), C(linux-arm64), C(osx), C(osx-arm64)), its sha256 checked against
        the C(.sha256) file published next to it (or O(istioctl_sha256)), and only then its C(istioctl) extracted into
        C(~/.cache/multicloud.mesh/bin/istio-<version>/) with a record of both checksums. A mismatch fails before
        any cluster is read, naming the expected and the actual checksum.
      - Unset (the default), nothing is downloaded and only istioctl binaries with a checksum known to the
        collection are run.
    type: str
  istioctl_sha256:
    description:
      - The sha256 of the release archive, pinned by the user; then the published C(.sha256) file is not read.
        Needs O(istioctl_release_url).
    type: str
  profile:
    description: Istio installation profile of the control plane (primaries).
    type: str
    default: default
  values:
    description:
      - Helm values merged into the control plane's IstioOperator C(spec.values)
        (C(global.meshID), C(global.network) and C(global.multiCluster.clusterName) are set by the module).
    type: dict
    default: {}
  topology:
    description:
      - V(multi_primary) runs a control plane in every cluster; V(primary_remote) runs one in the
        primary and lets the others use it through its east-west gateway.
    type: str
    choices: [multi_primary, primary_remote]
    default: multi_primary
  link:
    description:
      - V(remote_secrets) gives each control plane a remote secret of every other cluster (read-only
        service-account token, labelled C(istio/multiCluster=true)). V(none) installs without linking
        (for meshes linked only by service entries) and removes the remote secrets this module made
        for O(mesh_id).
    type: str
    choices: [remote_secrets, none]
    default: remote_secrets
  reader_token_days:
    description:
      - Life, in days, of the C(istio-reader-service-account) token in each remote secret. Tokens come from the
        TokenRequest API (C(expirationSeconds)), bound to the Secret C(istio-system/istio-reader-token-anchor) of
        the cluster they read, and never from a non-expiring token Secret (one found is deleted, which revokes it).
      - A run keeps a token that the cluster's API server still accepts (TokenReview) while more than a third of
        its life is left, and renews it otherwise, or when it lives longer than this option asks; so re-run the
        mesh within two thirds of this time, or the links stop working when the tokens expire.
      - An API server may cap the life (C(--service-account-max-token-expiration)); the module then warns with the
        date by which to re-run.
    type: int
    default: 90
  rotate_reader_tokens:
    description:
      - Revoke every reader token of the listed clusters (delete and re-create their anchor Secret) and give the
        holders of their remote secrets new ones. Always a change; use it when a remote secret may have leaked.
    type: bool
    default: false
  injection_namespaces:
    description: Namespaces labelled C(istio-injection=enabled) (created when missing).
    type: list
    elements: str
    default: [default]
  require_cacerts:
    description:
      - Fail before any change when a cluster has no C(istio-system/cacerts) secret with
        C(ca-cert.pem), C(ca-key.pem), C(root-cert.pem) and C(cert-chain.pem), or when the clusters'
        root certificates differ. Set V(false) only to let istiod use a self-signed CA per cluster
        (the clusters then do not trust each other).
      - In check mode a missing Secret is only warned about (an earlier task of the same check run, such
        as M(multicloud.mesh.mesh_ca), would create it); an incomplete one or different roots still fail.
    type: bool
    default: true
  validate_only:
    description:
      - Only check the options, before any cluster exists, and change nothing in any cluster. Checks every
        option's form and finds a checksum-verified istioctl of O(istio_version), so that a version with no release
        (a typo) fails here. With O(istioctl_release_url) set and no verified istioctl cached, that means
        downloading and verifying the release archive into the controller's cache, which a real run does anyway.
      - O(clusters) may be left out; when given, their names and networks are checked but not contacted.
      - C(site.yml)'s preflight runs the role C(multicloud.mesh.istio) this way before any cluster is created.
    type: bool
    default: false
  state:
    description:
      - V(present) installs and links; V(absent) removes what the module installed from the listed
        clusters (remote secrets, gateways, workloads, then webhooks and CRDs last). The C(cacerts)
        secret is left to M(multicloud.mesh.mesh_ca); C(istio-system) is deleted only when it no longer
        holds it.
      - To take one cluster out of a mesh, run V(present) with the remaining clusters (which removes
        their remote secrets of it) and V(absent) with that cluster.
      - V(absent) renders the manifests again to know what to delete, so it needs the same
        checksum-verified istioctl and the same O(profile), O(values) and O(topology).
      - Before deleting a CRD, V(absent) lists its custom resources once, so that the API server's CRD
        finalizer finds their watch cache filled (on Kubernetes 1.34 and later its first pass fails on a
        cache that is still filling and may not be retried for 5 minutes). While waiting, a CRD whose
        finalizer pass failed, or that is still terminating after 5 seconds, gets the annotation
        C(multicloud.mesh/crd-finalizer-requeue) so that the finalizer runs again.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Wait for istiod and the east-west gateway to be ready, its address to be assigned, CRDs to
      be established and deleted objects to be gone.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for each of those conditions.
    type: int
    default: 300
  request_timeout:
    description:
      - Seconds to wait for each API request.
      - A request that fails transiently (API server unreachable or restarting, HTTP 429 or 5xx) is retried with jittered backoff
        for up to twice this long.
    type: int
    default: 30
requirements:
  - kubernetes >= 30.1 (Python library)
  - PyYAML
  - a checksum-verified istioctl of O(istio_version) (renders manifests only)
notes:
  - The remote secrets hold the API server address and a time-bound token of C(istio-reader-service-account)
    (see O(reader_token_days)), in the layout of C(istioctl create-remote-secret); istiod cannot run cloud exec
    plugins. The token's expiry is also in the Secret's annotation C(multicloud.mesh/token-expires).
seealso:
  - module: multicloud.mesh.cluster_info
"""

EXAMPLES = r"""
- name: One mesh across an EKS and a GKE cluster, linked by remote secrets
  multicloud.mesh.istio_multicluster:
    mesh_id: mesh1
    clusters:
      - name: eks-east
        kubeconfig: "{{ hostvars['eks-east'].mesh_cluster.kubeconfig }}"
        network: aws-vpc
      - name: gke-west
        kubeconfig: "{{ hostvars['gke-west'].mesh_cluster.kubeconfig }}"
        network: gcp-vpc
    values:
      pilot:
        resources:
          requests: {cpu: 200m, memory: 512Mi}
  register: mesh

- name: Show the east-west gateway addresses
  ansible.builtin.debug:
    msg: "{{ mesh.clusters | dict2items | map(attribute='value.gateway_addresses') | list }}"

- name: Primary-remote, one control plane in the first cluster
  multicloud.mesh.istio_multicluster:
    mesh_id: mesh1
    topology: primary_remote
    clusters:
      - {name: hub, kubeconfig: /etc/mesh/hub.kubeconfig, network: net1, primary: true}
      - {name: spoke, kubeconfig: /etc/mesh/spoke.kubeconfig, network: net2}

- name: Remove Istio from a cluster
  multicloud.mesh.istio_multicluster:
    mesh_id: mesh1
    clusters:
      - {name: gke-west, kubeconfig: /etc/mesh/gke.kubeconfig, network: gcp-vpc}
    state: absent
"""

RETURN = r"""
msg:
  description: With O(validate_only), that the options are valid.
  returned: when O(validate_only=true) and the options are valid
  type: str
  sample: the options are valid (istioctl 1.30.4 found and verified)
clusters:
  description: Per cluster name, what the module found and did.
  returned: always
  type: dict
  contains:
    version:
      description: The Istio version installed (V(null) after O(state=absent)).
      type: str
      sample: 1.30.4
    revision:
      description: The control plane revision (the default revision).
      type: str
      sample: default
    role:
      description: V(primary) or V(remote).
      type: str
    network:
      description: The cluster's network.
      type: str
    server:
      description: The API server the module used.
      type: str
    gateway_addresses:
      description: IPs or hostnames of the east-west gateway's LoadBalancer Service (empty in check mode
        before it exists, or without O(wait)).
      type: list
      elements: str
      sample: [172.17.0.10]
    linked_clusters:
      description: Names of the clusters whose remote secret this cluster holds.
      type: list
      elements: str
    changes:
      description: Counts of objects per action (created, updated, unchanged, deleted, absent) and the
        list of changed objects.
      type: dict
      sample: {counts: {created: 3, unchanged: 90}, changed: ["Secret/istio-system/istio-remote-secret-b created"]}
    cacerts_missing:
      description: Check mode only - V(true) when the cluster has no C(istio-system/cacerts) Secret yet (the
        install is predicted anyway, with a warning; a real run would fail without it).
      type: bool
      sample: false
reader_tokens:
  description:
    - Per cluster whose remote secret others hold, its reader token's expiry and whether this run renewed it
      (never the token).
  returned: with O(state=present) and O(link=remote_secrets)
  type: dict
  sample: {gke-west: {expires: "2027-03-03T10:00:00Z", renewed: true, reason: "less than a third of its life is left"}}
  contains:
    expires:
      description: When the token expires (RFC 3339, UTC); V(null) in check mode when a new token would be requested.
      type: str
    renewed:
      description: Whether a new token was requested (or, in check mode, would be).
      type: bool
    reason:
      description: Why it was renewed (V(null) when it was kept).
      type: str
istioctl:
  description: Path and sha256 of the istioctl that rendered the manifests.
  returned: always
  type: dict
  sample: {path: /opt/istio-1.30.4/istioctl, sha256: 0f1e...}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicloud.mesh.plugins.module_utils.kube import (
    HAS_KUBERNETES,
    KUBE_IMP_ERR,
    mask_kubeconfigs,
    KubeError,
    connect,
)
from ansible_collections.multicloud.mesh.plugins.module_utils.apply import ApplyError
from ansible_collections.multicloud.mesh.plugins.module_utils.istio import (
    DEFAULT_ISTIO_VERSION,
    IstioError,
    MeshInstaller,
)

CLUSTER_SPEC = dict(
    name=dict(type="str", required=True),
    network=dict(type="str", required=True),
    kubeconfig=dict(type="raw", no_log=True),  # content or a dict carries credentials (mask_kubeconfigs)
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    ca_cert=dict(type="str"),
    validate_certs=dict(type="bool"),
    api_server=dict(type="str"),
    primary=dict(type="bool", default=False),
)

ARG_SPEC = dict(
    mesh_id=dict(type="str", required=True),
    clusters=dict(type="list", elements="dict", options=CLUSTER_SPEC),
    networks=dict(type="list", elements="str"),
    istio_version=dict(type="str", default=DEFAULT_ISTIO_VERSION),
    istioctl_path=dict(type="path"),
    istioctl_release_url=dict(type="str"),
    istioctl_sha256=dict(type="str", no_log=False),  # a public checksum
    profile=dict(type="str", default="default"),
    values=dict(type="dict", default={}),
    topology=dict(type="str", choices=["multi_primary", "primary_remote"], default="multi_primary"),
    link=dict(type="str", choices=["remote_secrets", "none"], default="remote_secrets"),
    reader_token_days=dict(type="int", default=90, no_log=False),  # a life in days, not a token
    rotate_reader_tokens=dict(type="bool", default=False, no_log=False),
    injection_namespaces=dict(type="list", elements="str", default=["default"]),
    require_cacerts=dict(type="bool", default=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=300),
    request_timeout=dict(type="int", default=30),
    validate_only=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True,
                           required_if=[("validate_only", False, ("clusters",))])
    mask_kubeconfigs(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBE_IMP_ERR)
    params = module.params
    try:
        installer = MeshInstaller(params, connect=connect, check_mode=module.check_mode, diff=module._diff)
        installer.prepare(validate_only=params["validate_only"])
        if params["validate_only"]:
            module.exit_json(changed=False, clusters={}, istioctl=installer.istioctl_info,
                             msg="the options are valid (istioctl %s found and verified)" % params["istio_version"])
        for warning in installer.warnings:
            module.warn(warning)
        if params["state"] == "present":
            installer.install()
        else:
            installer.uninstall()
    except (IstioError, ApplyError, KubeError) as exc:
        partial = locals().get("installer")
        module.fail_json(msg=exc.msg, changed=bool(partial and partial.changed),
                         clusters=partial.report() if partial else {})
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="unexpected error: %s" % exc, exception=traceback.format_exc())
    result = {"changed": installer.changed, "clusters": installer.report(), "istioctl": installer.istioctl_info}
    if installer.reader_tokens:
        result["reader_tokens"] = installer.reader_tokens
    if module._diff:
        result["diff"] = installer.diff()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
