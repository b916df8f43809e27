#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: mesh_service_entry
short_description: Expose a service of one cluster to other clusters of the mesh through its gateway
version_added: 0.1.0
description:
  - Makes the Service O(source.name) of the source cluster callable from each consumer cluster as
    C(<name>.<namespace>.<host_suffix>) (the seed's C(messenger.default.global)).
  - In each consumer it writes an Istio C(ServiceEntry) (C(networking.istio.io/v1)) with location
    C(MESH_INTERNAL), the source Service's ports (port names kept, protocol from the name or
    C(appProtocol)), a virtual address, and as endpoint the source cluster's gateway address on
    O(gateway_port); plus a C(DestinationRule) with C(ISTIO_MUTUAL) TLS for that host.
  - The gateway address is read from the gateway Service's status, hostname (EKS) or IP (GKE);
    resolution is C(DNS) for a hostname and C(STATIC) for an IP. While the load balancer has no
    address the module waits up to O(wait_timeout); it never writes an empty endpoint.
  - In the source cluster it writes what makes traffic that arrives on O(gateway_port) for the
    host reach the local Service; a C(ServiceEntry) for the same host whose endpoint is
    C(<name>.<namespace>.svc.<cluster_domain>) (resolution C(DNS)) and a C(Gateway) with
    C(AUTO_PASSTHROUGH) for exactly that host on the gateway workload (Istio's cross-network
    Gateway only exposes C(*.local)).
  - The virtual address comes from O(address_range), derived from the host and kept across runs
    (the address on the existing ServiceEntry is reused); addresses of other ServiceEntries of
    that cluster are avoided.
  - Everything written is labelled C(app.kubernetes.io/managed-by=multicloud.mesh) and
    C(multicloud.mesh/service-entry-owner=<source cluster>.<namespace>.<name>);
    O(state=absent) removes exactly those objects on every side, and objects of the same owner
    that are no longer wanted (for example after O(host_suffix) changes) are pruned.
  - All input is checked and all clusters are read before anything is written.
author:
  - multicloud.mesh developers (@multicloud)
attributes:
  check_mode:
    support: full
    description: Writes are sent as server-side dry runs; deletions are predicted from what exists.
  diff_mode:
    support: full
    description: Returns the objects before and after, per cluster.
options:
  source:
    description: The cluster that runs the service, the service and its gateway.
    type: dict
    required: true
    suboptions:
      cluster_name:
        description:
          - Name of the source cluster in the mesh; part of the owner label of everything written.
        type: str
        required: true
      name:
        description: Name of the Service to expose.
        type: str
        required: true
      namespace:
        description: Namespace of the Service.
        type: str
        default: default
      ports:
        description:
          - Names of the Service's ports to expose; all its TCP ports when omitted.
          - An unknown name is an error.
        type: list
        elements: str
      gateway:
        description: The gateway Service through which consumers reach the source cluster.
        type: dict
        suboptions:
          kind:
            description:
              - C(eastwest) for Istio's east-west gateway (C(istio-eastwestgateway)), C(ingress) for
                the ingress gateway (C(istio-ingressgateway)).
            type: str
            choices: [eastwest, ingress]
            default: eastwest
          name:
            description: Name of the gateway Service; the default of O(source.gateway.kind) when omitted.
            type: str
          namespace:
            description: Namespace of the gateway Service.
            type: str
            default: istio-system
      kubeconfig:
        description:
          - Kubeconfig of the source cluster (path, YAML content or dictionary).
          - C(no_log) like the kubeconfig of the M(multicloud.mesh.cluster_info) module; a path stays readable.
        type: raw
      context:
        description: Context of O(source.kubeconfig).
        type: str
      host:
        description: API server URL, for bearer-token access.
        type: str
      api_key:
        description: Bearer token for O(source.host).
        type: str
      ca_cert:
        description: CA certificate path for O(source.host).
        type: str
        aliases: [ssl_ca_cert]
      validate_certs:
        description: Whether to verify the API server's certificate.
        type: bool
        aliases: [verify_ssl]
      request_timeout:
        description:
          - Seconds to wait for each API request.
          - A request that fails transiently (API server unreachable or restarting, HTTP 429 or 5xx) is retried with jittered backoff
            for up to twice this long.
        type: int
        default: 30
  consumers:
    description:
      - The clusters that call the service. A consumer that is the source cluster (same
        O(consumers[].cluster_name) or same API server) is an error.
    type: list
    elements: dict
    default: []
    suboptions:
      cluster_name:
        description: Name of the consumer cluster.
        type: str
        required: true
      dns:
        description: O(dns) for this consumer only.
        type: str
        choices: [istio_dns_proxy, coredns_stub, kube_dns_stub]
      kubeconfig:
        description:
          - Kubeconfig of the consumer (path, YAML content or dictionary).
          - C(no_log) like the kubeconfig of the M(multicloud.mesh.cluster_info) module; a path stays readable.
        type: raw
      context:
        description: Context of O(consumers[].kubeconfig).
        type: str
      host:
        description: API server URL, for bearer-token access.
        type: str
      api_key:
        description: Bearer token for O(consumers[].host).
        type: str
      ca_cert:
        description: CA certificate path for O(consumers[].host).
        type: str
        aliases: [ssl_ca_cert]
      validate_certs:
        description: Whether to verify the API server's certificate.
        type: bool
        aliases: [verify_ssl]
      request_timeout:
        description:
          - Seconds to wait for each API request.
          - A request that fails transiently (API server unreachable or restarting, HTTP 429 or 5xx) is retried with jittered backoff
            for up to twice this long.
        type: int
        default: 30
  validate_only:
    description:
      - Only check the options (every check made before a cluster is read, including O(host_suffix) and the
        consumers' names) and contact no cluster; the kubeconfigs need not exist yet.
      - C(site.yml)'s preflight runs the role C(multicloud.mesh.mesh_link) this way before any cluster is created,
        so that an invalid DNS suffix fails before anything is provisioned.
    type: bool
    default: false
  host_suffix:
    description:
      - Suffix of the host consumers call, C(<name>.<namespace>.<host_suffix>).
      - An RFC 1123 DNS name (dot-separated labels of 1-63 characters C(a-z), C(0-9) and C(-), not starting
        or ending with C(-); the whole host at most 253 characters); anything else fails before a cluster is
        read, since it is written into the consumers' DNS configuration.
    type: str
    default: global
  address_range:
    description:
      - Network the virtual addresses are allocated from. The default is the class E range Istio's
        own address auto-allocation uses.
      - When every usable address of the range is taken by other ServiceEntries of a cluster the
        module fails before writing anything.
    type: str
    default: 240.0.0.0/4
  address:
    description:
      - An explicit virtual address instead of an allocated one (for example the seed's
        C(127.127.42.69)). An error when another ServiceEntry of a cluster uses it.
    type: str
  gateway_port:
    description: Port of the gateway that carries mTLS traffic with SNI routing (AUTO_PASSTHROUGH).
    type: int
    default: 15443
  entry_namespace:
    description: Namespace of the ServiceEntries, DestinationRules and (source) Gateway; Istio's root namespace applies them mesh-wide.
    type: str
    default: istio-system
  cluster_domain:
    description:
      - DNS domain of the source cluster, for the source-side endpoint C(<name>.<namespace>.svc.<cluster_domain>).
      - An RFC 1123 DNS name (see O(host_suffix)); one trailing dot is allowed.
    type: str
    default: cluster.local
  wait_timeout:
    description: Seconds to wait for the gateway's load balancer address, and for deletions.
    type: int
    default: 300
  dns:
    description:
      - How consumers resolve the host.
      - C(istio_dns_proxy) edits nothing; Istio's sidecar DNS proxy (C(ISTIO_META_DNS_CAPTURE)) answers
        for ServiceEntry hosts.
      - C(coredns_stub) (EKS) adds the host and its virtual address to a C(<host_suffix>:53) server
        block in ConfigMap C(kube-system/coredns), between C(# BEGIN multicloud.mesh) and
        C(# END multicloud.mesh) markers; nothing else of the Corefile is touched.
      - C(kube_dns_stub) (GKE) sets the C(<host_suffix>) key of C(stubDomains) in ConfigMap
        C(kube-system/kube-dns) to O(dns_nameservers).
    type: str
    choices: [istio_dns_proxy, coredns_stub, kube_dns_stub]
    default: istio_dns_proxy
  dns_nameservers:
    description: DNS servers that answer for O(host_suffix) names, for O(dns=kube_dns_stub).
    type: list
    elements: str
  state:
    description: C(present) creates or updates; C(absent) removes what this module created for the service on every side.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Istio's CRDs must be installed in every cluster (M(multicloud.mesh.istio_multicluster)); otherwise
    the module fails naming the cluster.
  - Objects are written with server-side apply, field manager C(multicloud.mesh).
requirements:
  - kubernetes >= 30.1 (Python library)
  - PyYAML
seealso:
  - module: multicloud.mesh.istio_multicluster
"""

EXAMPLES = r"""
- name: Call messenger (cluster 2, GKE) from cluster 1 (EKS) as messenger.default.global
  multicloud.mesh.mesh_service_entry:
    source:
      cluster_name: mesh-2
      kubeconfig: "{{ mesh2_kubeconfig }}"
      name: messenger
      namespace: default
    consumers:
      - cluster_name: mesh-1
        kubeconfig: "{{ mesh1_kubeconfig }}"
  register: link

- name: Show the endpoint cluster 1 uses
  ansible.builtin.debug:
    msg: "{{ link.entries[0].endpoints }} ({{ link.entries[0].resolution }})"

- name: The seed's fixed address, only the http port, CoreDNS stub on an EKS consumer
  multicloud.mesh.mesh_service_entry:
    source:
      cluster_name: mesh-2
      kubeconfig: "{{ mesh2_kubeconfig }}"
      name: messenger
      ports: [http]
    consumers:
      - cluster_name: mesh-1
        kubeconfig: "{{ mesh1_kubeconfig }}"
        dns: coredns_stub
    address: 127.127.42.69

- name: Remove the link on both sides
  multicloud.mesh.mesh_service_entry:
    source:
      cluster_name: mesh-2
      kubeconfig: "{{ mesh2_kubeconfig }}"
      name: messenger
    consumers:
      - cluster_name: mesh-1
        kubeconfig: "{{ mesh1_kubeconfig }}"
    state: absent
"""

RETURN = r"""
msg:
  description: With O(validate_only), that the options are valid.
  returned: when O(validate_only=true) and the options are valid
  type: str
  sample: the options are valid (host messenger.default.global); no cluster was contacted
host:
  description: The host consumers call.
  returned: always
  type: str
  sample: messenger.default.global
owner:
  description: Value of the C(multicloud.mesh/service-entry-owner) label on everything written.
  returned: unless O(validate_only=true)
  type: str
  sample: mesh-2.default.messenger
source:
  description: The source side.
  returned: unless O(validate_only=true)
  type: dict
  contains:
    cluster_name:
      description: Name of the source cluster.
      type: str
    server:
      description: Its API server URL.
      type: str
    host:
      description: The exposed host.
      type: str
    address:
      description: Virtual address of the host in the source cluster.
      type: str
      returned: when O(state=present)
    service:
      description: C(namespace/name) of the exposed Service.
      type: str
      returned: when O(state=present)
    ports:
      description: The exposed ports (C(name), C(number), C(protocol)).
      type: list
      elements: dict
      returned: when O(state=present)
    gateway:
      description: The gateway Service, its addresses, the resolution they imply and the port.
      type: dict
      returned: when O(state=present)
      sample: {"name": "istio-eastwestgateway", "namespace": "istio-system", "addresses": ["172.17.3.4"],
               "resolution": "STATIC", "port": 15443}
    objects:
      description: The source-side objects and what happened to them.
      type: list
      elements: dict
      returned: when O(state=present)
      sample: [{"ref": "ServiceEntry/istio-system/messenger-default-global", "action": "created"}]
entries:
  description: Per consumer, the entry written and the endpoint it resolves to (empty when O(state=absent)).
  returned: unless O(validate_only=true)
  type: list
  elements: dict
  contains:
    cluster_name:
      description: Name of the consumer.
      type: str
    server:
      description: Its API server URL.
      type: str
    host:
      description: The host.
      type: str
    address:
      description: The virtual address allocated (or kept) in this consumer.
      type: str
      sample: 245.91.12.7
    endpoints:
      description: Where the consumer sends the traffic (the source gateway).
      type: list
      elements: dict
      sample: [{"address": "172.17.3.4", "port": 15443}]
    resolution:
      description: C(STATIC) for an IP gateway, C(DNS) for a hostname gateway.
      type: str
    service_entry:
      description: C(name), C(namespace), C(action) (created, updated, unchanged) and the C(spec) written.
      type: dict
    destination_rule:
      description: C(name), C(namespace) and C(action) of the DestinationRule.
      type: dict
    dns:
      description: The DNS mode and what happened to the DNS stub (null when nothing is edited).
      type: dict
      sample: {"mode": "istio_dns_proxy", "action": null}
removed:
  description: Per cluster, the objects removed (O(state=absent)).
  returned: when O(state=absent)
  type: dict
  sample: {"mesh-1": ["DestinationRule/istio-system/messenger-default-global"]}
changes:
  description: Per cluster, counts of actions and the objects that changed.
  returned: unless O(validate_only=true)
  type: dict
"""

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicloud.mesh.plugins.module_utils.kube import (
    HAS_KUBERNETES,
    KUBE_ARG_SPEC,
    KUBE_IMP_ERR,
    mask_kubeconfigs,
)
from ansible_collections.multicloud.mesh.plugins.module_utils.service_entry import (
    DNS_MODES,
    ServiceEntryError,
    run,
)


def argument_spec():
    source = copy.deepcopy(KUBE_ARG_SPEC)
    source.update(
        cluster_name=dict(type="str", required=True),
        name=dict(type="str", required=True),
        namespace=dict(type="str", default="default"),
        ports=dict(type="list", elements="str"),
        gateway=dict(type="dict", options=dict(
            kind=dict(type="str", choices=["eastwest", "ingress"], default="eastwest"),
            name=dict(type="str"),
            namespace=dict(type="str", default="istio-system"),
        )),
    )
    consumer = copy.deepcopy(KUBE_ARG_SPEC)
    consumer.update(
        cluster_name=dict(type="str", required=True),
        dns=dict(type="str", choices=list(DNS_MODES)),
    )
    return dict(
        source=dict(type="dict", required=True, options=source),
        consumers=dict(type="list", elements="dict", default=[], options=consumer),
        host_suffix=dict(type="str", default="global"),
        address_range=dict(type="str", default="240.0.0.0/4"),
        address=dict(type="str"),
        gateway_port=dict(type="int", default=15443),
        entry_namespace=dict(type="str", default="istio-system"),
        cluster_domain=dict(type="str", default="cluster.local"),
        wait_timeout=dict(type="int", default=300),
        dns=dict(type="str", choices=list(DNS_MODES), default="istio_dns_proxy"),
        dns_nameservers=dict(type="list", elements="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        validate_only=dict(type="bool", default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    mask_kubeconfigs(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBE_IMP_ERR)
    try:
        result = run(module.params, check_mode=module.check_mode, diff=module._diff)
    except ServiceEntryError as exc:
        module.fail_json(msg=exc.msg)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
