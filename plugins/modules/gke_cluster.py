#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gke_cluster
short_description: Create, update and delete Google Kubernetes Engine clusters and their node pools
version_added: 0.1.0
description:
  - Creates, updates in place, or deletes a GKE cluster through the Kubernetes Engine REST API v1,
    authenticating with C(google-auth); C(gcloud) is not needed.
  - Changes GKE allows in place are made one operation at a time, as GKE runs one operation per cluster;
    they are master upgrade, release channel, addons, workload identity, master authorized networks, resource labels
    (with the label fingerprint), node pool autoscaling, labels, taints and management, adding and removing
    node pools.
  - Changes GKE cannot make in place (network, subnetwork, a node pool's machine type or disk size) fail
    before any call, naming the option.
  - When another operation runs on the cluster, the module waits for it and retries instead of failing.
  - Optionally writes a kubeconfig file (mode 0600) for the cluster.
author:
  - multicloud.mesh developers (@multicloud)
options:
  project:
    description:
      - The Google Cloud project ID.
      - The E(GCP_PROJECT) or E(GCE_PROJECT) environment variable is used when not set.
    type: str
  location:
    description:
      - A zone (for example C(europe-west3-b)) for a zonal cluster or a region (for example C(europe-west3))
        for a regional cluster.
    type: str
    required: true
  name:
    description:
      - Name of the cluster; 1-40 lowercase letters, digits or C(-), starting with a letter.
    type: str
    required: true
  release_channel:
    description:
      - The release channel the cluster subscribes to. Can be changed in place.
      - V(UNSPECIFIED) leaves the cluster on no channel.
    type: str
    choices: [RAPID, REGULAR, STABLE, EXTENDED, UNSPECIFIED]
  initial_cluster_version:
    description:
      - The Kubernetes version of the master, as C(1.X), C(1.X.Y), C(1.X.Y-gke.N) or V(latest).
      - At creation, the version the cluster starts with. On an existing cluster, when the master's version
        does not match (C(1.34) matches C(1.34.1-gke.1829001)), the master is upgraded to it.
        Downgrading the minor version is an error. V(latest) is used only at creation.
      - A version that GKE's server config does not offer in O(location) fails before any change, listing the
        offered ones.
      - Nodes follow the master through node auto-upgrade (O(node_pools[].auto_upgrade)).
    type: str
    aliases: [cluster_version]
  validate_only:
    description:
      - Only check the options, against GKE as well (credentials, the versions and channels its server
        config offers in O(location), what an update in place allows), and change nothing. Fails with every
        problem found; V(changed) is always false. For a preflight before anything is created (the
        collection's C(site.yml) runs it for every cluster first).
    type: bool
    default: false
    version_added: 0.3.0
  network:
    description:
      - The VPC network of the cluster (name or resource path). Only set at creation.
      - GKE's default is C(default).
    type: str
  subnetwork:
    description:
      - The subnetwork of the cluster (name or resource path). Only set at creation.
    type: str
  node_pools:
    description:
      - The node pools of the cluster. When given, this is the complete list; pools not listed are removed
        and new ones are added.
      - When not given, a new cluster gets GKE's C(default-pool) and an existing cluster's pools are left alone.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the node pool.
        type: str
        required: true
      machine_type:
        description:
          - Compute Engine machine type of the nodes, for example C(n1-standard-4). Cannot change in place.
          - GKE's default is C(e2-medium).
        type: str
      initial_node_count:
        description:
          - Number of nodes per zone when the pool is created. Ignored for existing pools (GKE does not
            report a pool's current size; use O(node_pools[].autoscaling)).
          - GKE's default is 3.
        type: int
      autoscaling:
        description: Cluster autoscaler settings of the pool. Changed in place.
        type: dict
        suboptions:
          enabled:
            description: Whether the autoscaler manages the pool's size.
            type: bool
            default: true
          min_node_count:
            description: Minimum number of nodes per zone; at most O(node_pools[].autoscaling.max_node_count).
            type: int
          max_node_count:
            description: Maximum number of nodes per zone, at least 1.
            type: int
      disk_size_gb:
        description:
          - Boot disk size of each node, in GB (at least 10). Cannot change in place.
          - GKE's default is 100.
        type: int
      labels:
        description: Kubernetes labels of the nodes. Changed in place.
        type: dict
      taints:
        description: Kubernetes taints of the nodes. Changed in place.
        type: list
        elements: dict
        suboptions:
          key:
            description: Taint key.
            type: str
            required: true
          value:
            description: Taint value.
            type: str
          effect:
            description: Taint effect.
            type: str
            required: true
            choices: [NoSchedule, PreferNoSchedule, NoExecute, NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE]
      auto_upgrade:
        description: Whether GKE upgrades the nodes automatically. GKE's default is true.
        type: bool
      auto_repair:
        description: Whether GKE repairs unhealthy nodes automatically. GKE's default is true.
        type: bool
      service_account:
        description:
          - The Google service account of the nodes, V(default) (the Compute Engine default service account, which
            has the project's Editor role in many projects) or an account's email
            (C(<name>@<project>.iam.gserviceaccount.com)). Fixed at creation.
          - A dedicated account with only C(roles/logging.logWriter), C(roles/monitoring.metricWriter),
            C(roles/monitoring.viewer), C(roles/stackdriver.resourceMetadata.writer) and C(roles/artifactregistry.reader)
            limits what a compromised node can do; the caller needs C(iam.serviceAccountUser) on it.
          - When not set, a new pool gets V(default).
        type: str
        version_added: 0.3.0
      oauth_scopes:
        description:
          - The access scopes of the nodes (URLs like C(https://www.googleapis.com/auth/cloud-platform)). Fixed at
            creation. With C(cloud-platform), what the nodes can do is decided by the service account's IAM roles.
          - When not set, a new pool gets C([https://www.googleapis.com/auth/cloud-platform]).
        type: list
        elements: str
        version_added: 0.3.0
  addons:
    description:
      - Cluster addons to enable (V(true)) or disable (V(false)); addons not named are left as they are
        (at creation GKE's defaults apply). Changed in place.
    type: dict
    suboptions:
      http_load_balancing:
        description: The HTTP(S) load balancing (Ingress) controller. GKE's default is on.
        type: bool
      horizontal_pod_autoscaling:
        description: Horizontal pod autoscaling support. GKE's default is on.
        type: bool
      network_policy:
        description: The network policy addon. GKE's default is off.
        type: bool
      dns_cache:
        description: NodeLocal DNSCache. GKE's default is off.
        type: bool
      gce_persistent_disk_csi_driver:
        description: The Compute Engine persistent disk CSI driver. GKE's default is on.
        type: bool
      gcs_fuse_csi_driver:
        description: The Cloud Storage FUSE CSI driver. GKE's default is off.
        type: bool
      config_connector:
        description: Config Connector. GKE's default is off.
        type: bool
  labels:
    description:
      - Resource labels of the cluster (the complete set; labels not listed are removed). Changed in place.
    type: dict
  workload_identity:
    description:
      - Whether Workload Identity is enabled, with the workload pool C(<project>.svc.id.goog). Changed in place.
    type: bool
  master_authorized_networks:
    description:
      - CIDR blocks allowed to reach the control plane. An empty list disables the restriction. Changed in place.
    type: list
    elements: dict
    suboptions:
      cidr_block:
        description: A CIDR block, for example C(203.0.113.0/24).
        type: str
        required: true
      display_name:
        description: A name for the block.
        type: str
  private_nodes:
    description:
      - Whether the nodes have internal IP addresses only (C(privateClusterConfig.enablePrivateNodes)). Set at
        creation; a different value on an existing cluster fails before any change.
      - GKE requires a VPC-native cluster for it; the module then creates the cluster with alias IPs
        (C(ipAllocationPolicy.useIpAliases)).
      - Private nodes reach the internet (container images outside Artifact Registry, the other cloud's API server
        for Istio's endpoint discovery) only through Cloud NAT on the subnetwork's router, which this module does not
        create.
    type: bool
    version_added: 0.3.0
  master_ipv4_cidr_block:
    description:
      - With O(private_nodes), the private /28 range of the control plane's private endpoint, for example
        C(172.16.0.0/28); it must not overlap the cluster's networks. When not set, GKE (1.29 and later) picks an
        address of the subnetwork. Fixed at creation.
    type: str
    version_added: 0.3.0
  state:
    description:
      - V(present) creates or updates the cluster, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait for the last operation (creation, deletion, the last update) to finish.
      - Operations of a multi-step update are always waited for one after the other, as GKE requires.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for operations (and for an operation someone else runs on the cluster), and the
        budget for retrying transient API errors.
    type: int
    default: 1800
  kubeconfig:
    description:
      - When set, write a kubeconfig for the cluster to this path (mode 0600), with one context named after
        the cluster. Nothing is written while the cluster has no endpoint yet.
    type: path
  kubeconfig_auth:
    description:
      - How the kubeconfig authenticates.
      - V(builtin) writes an exec entry that runs the collection's own token helper
        (C(plugins/module_utils/token_helper.py)) with the Python interpreter that ran the module; every
        Kubernetes client gets a fresh token whenever its token nears its expiry, so a long run never meets
        an expired one, and no gcloud is needed. The helper uses O(service_account_file) (its path is written
        into the kubeconfig, never the key) or application default credentials, and caches each token for
        half its life in C(~/.cache/multicloud.mesh/tokens) (mode 0600). O(service_account_contents) and
        O(access_token) cannot be renewed by it and are refused with V(builtin).
      - V(exec) runs C(gke-gcloud-auth-plugin), like C(gcloud container clusters get-credentials) does.
      - V(token) stores a bearer token from the module's credentials, for execution environments without
        gcloud. It expires (about an hour); each run refreshes it, which alone does not count as a change.
    type: str
    choices: [builtin, exec, token]
    default: exec
extends_documentation_fragment:
  - multicloud.mesh.gcp
  - multicloud.mesh.progress
notes:
  - Supports check mode (no mutating call is made) and diff mode (the managed settings before and after).
  - The module only reads and writes through the GKE API; it never runs C(gcloud) or C(kubectl).
seealso:
  - name: GKE REST API v1, projects.locations.clusters
    description: The API this module calls.
    link: https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters
attributes:
  check_mode:
    support: full
    description: Predicts the change from the current cluster and makes no mutating API call.
  diff_mode:
    support: full
    description: Returns the cluster settings before and after the change.
"""

EXAMPLES = r"""
- name: A zonal cluster with an autoscaled node pool (what `gcloud container clusters create` did)
  multicloud.mesh.gke_cluster:
    project: my-project
    location: europe-west3-b
    name: mesh-2
    release_channel: REGULAR
    node_pools:
      - name: default-pool
        machine_type: n1-standard-4
        initial_node_count: 1
        autoscaling:
          min_node_count: 1
          max_node_count: 5
    addons:
      http_load_balancing: true
      horizontal_pod_autoscaling: true
    labels:
      team: mesh
    workload_identity: true
    auth_kind: serviceaccount
    service_account_file: /secrets/gke-deployer.json
    kubeconfig: "{{ playbook_dir }}/kubeconfigs/mesh-2"
    kubeconfig_auth: token
  register: gke

- name: Use the result
  ansible.builtin.debug:
    msg: "{{ gke.cluster.endpoint }} runs {{ gke.cluster.current_master_version }}"

- name: Upgrade the master and add a tainted pool, showing what changes first
  multicloud.mesh.gke_cluster:
    project: my-project
    location: europe-west3-b
    name: mesh-2
    initial_cluster_version: "1.34"
    node_pools:
      - name: default-pool
        machine_type: n1-standard-4
        autoscaling: {min_node_count: 1, max_node_count: 8}
      - name: gateways
        machine_type: e2-standard-2
        initial_node_count: 1
        taints:
          - {key: dedicated, value: gateway, effect: NoSchedule}
  check_mode: true
  diff: true

- name: Delete the cluster (credentials from AWX's Google Compute Engine credential)
  multicloud.mesh.gke_cluster:
    location: europe-west3-b
    name: mesh-2
    state: absent
"""

RETURN = r"""
cluster:
  description:
    - The cluster as the GKE API returns it, with keys in snake_case (label keys are kept as they are).
    - Empty when the cluster does not exist (O(state=absent), or creation in check mode).
    - C(master_auth) only carries C(cluster_ca_certificate).
  returned: always
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
      sample: mesh-2
    location:
      description: Zone or region of the cluster.
      type: str
      sample: europe-west3-b
    status:
      description: C(PROVISIONING), C(RUNNING), C(RECONCILING), C(STOPPING), C(ERROR) or C(DEGRADED).
      type: str
      sample: RUNNING
    endpoint:
      description: IP address (and port, in the sandbox) of the Kubernetes API server, without scheme.
      type: str
      sample: 34.89.10.20
    current_master_version:
      description: Kubernetes version of the master.
      type: str
      sample: 1.33.5-gke.1080000
    master_auth:
      description: Control plane authentication.
      type: dict
      contains:
        cluster_ca_certificate:
          description: Base64-encoded PEM of the cluster's root CA.
          type: str
    node_pools:
      description: Node pools, as the API returns them (snake_case).
      type: list
      elements: dict
    resource_labels:
      description: Resource labels.
      type: dict
    label_fingerprint:
      description: Fingerprint of the resource labels.
      type: str
    self_link:
      description: API URL of the cluster.
      type: str
msg:
  description: With O(validate_only), that the options are valid.
  returned: when O(validate_only=true) and the options are valid
  type: str
  sample: the options of cluster mesh-2 are valid
changes:
  description: What was changed (or would be, in check mode), one entry per GKE operation.
  returned: always
  type: list
  elements: str
  sample: ["upgrade master 1.33.5-gke.1080000 -> 1.34", "node pool default-pool autoscaling"]
operations:
  description: The GKE operations this run started, as returned when they finished (snake_case).
  returned: always
  type: list
  elements: dict
kubeconfig:
  description: Path of the kubeconfig written (or that would be written in check mode).
  returned: when O(kubeconfig) is set and the cluster has an endpoint
  type: str
diff:
  description: The managed settings before and after (also shown with C(--diff)).
  returned: always
  type: dict
"""

import copy

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.multicloud.mesh.plugins.module_utils import gcp
from ansible_collections.multicloud.mesh.plugins.module_utils.kubeconfig import redact, write_kubeconfig
from ansible_collections.multicloud.mesh.plugins.module_utils.progress import Progress


def argument_spec():
    spec = gcp.auth_argument_spec()
    spec.update(
        project=dict(type="str", fallback=(env_fallback, ["GCP_PROJECT", "GCE_PROJECT"])),
        location=dict(type="str", required=True),
        name=dict(type="str", required=True),
        release_channel=dict(type="str", choices=["RAPID", "REGULAR", "STABLE", "EXTENDED", "UNSPECIFIED"]),
        initial_cluster_version=dict(type="str", aliases=["cluster_version"]),
        network=dict(type="str"),
        subnetwork=dict(type="str"),
        node_pools=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            machine_type=dict(type="str"),
            initial_node_count=dict(type="int"),
            autoscaling=dict(type="dict", options=dict(
                enabled=dict(type="bool", default=True),
                min_node_count=dict(type="int"),
                max_node_count=dict(type="int"),
            )),
            disk_size_gb=dict(type="int"),
            labels=dict(type="dict"),
            taints=dict(type="list", elements="dict", options=dict(
                key=dict(type="str", required=True, no_log=False),
                value=dict(type="str"),
                effect=dict(type="str", required=True, choices=sorted(gcp.TAINT_EFFECTS)),
            )),
            auto_upgrade=dict(type="bool"),
            auto_repair=dict(type="bool"),
            service_account=dict(type="str"),
            oauth_scopes=dict(type="list", elements="str"),
        )),
        addons=dict(type="dict", options=dict((name, dict(type="bool")) for name in gcp.ADDONS)),
        labels=dict(type="dict"),
        workload_identity=dict(type="bool"),
        master_authorized_networks=dict(type="list", elements="dict", options=dict(
            cidr_block=dict(type="str", required=True),
            display_name=dict(type="str"),
        )),
        private_nodes=dict(type="bool"),
        master_ipv4_cidr_block=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        kubeconfig=dict(type="path"),
        kubeconfig_auth=dict(type="str", choices=["builtin", "exec", "token"], default="exec"),
        validate_only=dict(type="bool", default=False),
        progress_file=dict(type="path"),
    )
    return spec


def public_cluster(cluster):
    """snake_case cluster for the result; only the CA of master_auth (never client keys)."""
    if not cluster:
        return {}
    cluster = copy.deepcopy(cluster)
    ca = (cluster.get("masterAuth") or {}).get("clusterCaCertificate")
    cluster["masterAuth"] = {"clusterCaCertificate": ca} if ca else {}
    return gcp.to_snake(cluster)


class GkeCluster:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.changed = False
        self.changes = []
        self.operations = []
        self.client = None
        self.credentials = None

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, changes=self.changes, changed=self.changed,
                              operations=[gcp.to_snake(o) for o in self.operations], **kwargs)

    def connect(self):
        self.credentials = gcp.gcp_credentials(self.params)
        gcp.refresh_credentials(self.credentials)
        session = gcp.authorized_session(self.credentials)
        self.client = gcp.GkeClient(session, self.params["project"], self.params["location"],
                                    endpoint=self.params["api_endpoint"], timeout=self.params["wait_timeout"],
                                    poll_interval=1.0, warn=self.module.warn,
                                    progress=Progress(self.params.get("progress_file")))

    def run_op(self, op, wait=True):
        if wait:
            op = self.client.wait_operation(op)
        self.operations.append(op)
        return op

    def absent(self, current):
        name = self.params["name"]
        if current is None:
            return {}, None, None
        before = gcp.cluster_view(current)
        self.changed = True
        self.changes.append("delete cluster %s" % name)
        if self.module.check_mode:
            return {}, before, None
        if current.get("status") == "STOPPING":
            self.client.wait_idle(name)
            return {}, before, None
        self.client.wait_idle(name)
        self.run_op(self.client.delete_cluster(name), wait=self.params["wait"])
        return (public_cluster(self.client.get_cluster(name)) if not self.params["wait"] else {}), before, None

    def present(self, current):
        name = self.params["name"]
        if current is not None and current.get("status") in ("PROVISIONING", "RECONCILING", "STOPPING"):
            # someone else's operation: wait for it (reads only), then look again
            self.client.wait_idle(name)
            current = self.client.get_cluster(name)
        if current is not None and current.get("status") == "ERROR":
            self.fail("cluster %s is in status ERROR (%s); delete it with state=absent and create it again"
                      % (name, current.get("statusMessage", "no message")))
        before = gcp.cluster_view(current)
        after = gcp.desired_view(self.params, before)
        errors = self.offered_errors(before, after)
        if errors:
            self.fail("cluster %s: %s" % (name, "; ".join(errors)))
        if current is None:
            body = gcp.cluster_body(self.params, after)
            self.changed = True
            self.changes.append("create cluster %s" % name)
            if self.module.check_mode:
                return {}, before, after
            self.run_op(self.client.create_cluster(body), wait=self.params["wait"])
            return self.client.get_cluster(name), before, after
        plan = gcp.plan_update(before, after, self.params["project"])
        if plan["errors"]:
            self.fail("cluster %s cannot be updated in place: %s" % (name, "; ".join(plan["errors"])),
                      diff=dict(before=before, after=after))
        steps = plan["steps"]
        self.changes.extend(step["what"] for step in steps)
        self.changed = bool(steps)
        if self.module.check_mode or not steps:
            return current, before, after
        self.client.wait_idle(name)
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            op = getattr(self.client, step["call"])(*step["args"])
            self.run_op(op, wait=self.params["wait"] or not last)
        return self.client.get_cluster(name), before, after

    def offered_errors(self, before, after):
        """A master version or channel to create with or move to, against GKE's server config (one read)."""
        if not before:  # a create: what the body asks for (desired_view leaves the version to GKE's answer)
            version, channel = self.params.get("initial_cluster_version"), self.params.get("release_channel")
        else:
            version = after["master_version"] if after["master_version"] != before.get("master_version") else None
            channel = after["release_channel"] if after["release_channel"] != before.get("release_channel") else None
        if not version and not channel:
            return []
        return gcp.server_config_errors(self.client.server_config(), version, channel, self.params["location"])

    def validate(self, current):
        """validate_only: every problem a run would meet before its first change, and no change."""
        name = self.params["name"]
        if self.params["state"] == "absent":
            return []
        if current is not None and current.get("status") == "ERROR":
            return ["cluster %s is in status ERROR" % name]
        before = gcp.cluster_view(current)
        after = gcp.desired_view(self.params, before)
        problems = gcp.plan_update(before, after, self.params["project"])["errors"] if current else []
        return problems + self.offered_errors(before, after)

    def write_kubeconfig(self, cluster):
        path = self.params["kubeconfig"]
        if not path or not cluster:
            return None, False, None
        ca_b64 = (cluster.get("masterAuth") or {}).get("clusterCaCertificate")
        if not cluster.get("endpoint") or not ca_b64:
            self.module.warn("cluster %s has no endpoint yet (status %s): kubeconfig %s not written"
                             % (cluster.get("name"), cluster.get("status"), path))
            return None, False, None
        import base64
        ca_pem = base64.b64decode(ca_b64).decode()
        server = "https://%s" % cluster["endpoint"]
        user = gcp.kubeconfig_user(self.params["kubeconfig_auth"], self.credentials, self.params)
        changed, diff = write_kubeconfig(path, cluster["name"], server, ca_pem, user,
                                         check_mode=self.module.check_mode)
        # a refreshed bearer token alone is not a change (every run gets a new token)
        if changed and diff["before"] == diff["after"]:
            changed = False
        return path, changed, diff

    def run(self):
        errors = gcp.validate_params(self.params)
        if errors:
            self.fail("invalid options: %s" % "; ".join(errors))
        try:
            self.connect()
            current = self.client.get_cluster(self.params["name"])
            if self.params["validate_only"]:
                problems = self.validate(current)
                if problems:
                    self.fail("invalid options: %s" % "; ".join(problems))
                self.module.exit_json(changed=False, changes=[], cluster=public_cluster(current),
                                      operations=[], msg="the options of cluster %s are valid" % self.params["name"])
            if self.params["state"] == "absent":
                cluster, before, after = self.absent(current)
                kube = (None, False, None)
            else:
                cluster, before, after = self.present(current)
                kube = self.write_kubeconfig(cluster)
        except gcp.GcpError as exc:
            self.fail(exc.message, error_status=exc.status)
        result = dict(changed=self.changed or kube[1], changes=self.changes,
                      cluster=public_cluster(cluster),
                      operations=[gcp.to_snake(o) for o in self.operations],
                      diff=dict(before=before or {}, after=after or {}))
        if kube[0]:
            result["kubeconfig"] = kube[0]
            if kube[1]:
                self.changes.append("write kubeconfig %s" % kube[0])
                result["diff"]["before"]["kubeconfig"] = redact(kube[2]["before"])
                result["diff"]["after"]["kubeconfig"] = redact(kube[2]["after"])
        self.module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("release_channel", "initial_cluster_version"),
                            ("service_account_file", "service_account_contents")],
    )
    if not gcp.HAS_GOOGLE_AUTH:
        module.fail_json(msg="the google-auth and requests Python libraries are required on the host that "
                             "runs this module", exception=gcp.GOOGLE_AUTH_IMP_ERR)
    GkeCluster(module).run()


if __name__ == "__main__":
    main()
