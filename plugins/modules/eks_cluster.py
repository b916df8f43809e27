#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: eks_cluster
short_description: Create, update and delete Amazon EKS clusters and their managed node groups
version_added: 0.1.0
description:
  - Makes an Amazon EKS cluster and its managed node groups match the options, idempotently.
  - Updates in place what EKS allows, one update at a time and waiting for each - control-plane version
    (one minor version per run), endpoint access and public access CIDRs, control-plane logging,
    authentication mode, tags, node group scaling, labels, taints and version.
  - Grants more IAM principals access to the cluster through EKS access entries and access policies
    (O(access_entries)), after the cluster's own changes.
  - What EKS cannot change in place (O(role_arn), O(subnets), O(security_groups), a node group's instance
    types, AMI type, disk size, role or subnets) fails the task with a message naming the option; the
    module never deletes and recreates a cluster or node group to apply a change.
  - All options are validated before any API call, so bad input fails fast with a message naming the option.
  - With O(state=absent), node groups are deleted first, then the cluster.
  - Optionally writes a kubeconfig for the cluster, authenticating with C(aws eks get-token) or with a
    token the module generates itself.
author:
  - multicloud.mesh developers (@multicloud)
extends_documentation_fragment:
  - multicloud.mesh.aws
  - multicloud.mesh.progress
  - multicloud.mesh.eks_kubeconfig
attributes:
  check_mode:
    support: full
    description:
      - Predicts the changes without calling any mutating EKS API.
      - A cluster that does not exist is reported as created (C(changed=true)) even when O(role_arn),
        O(subnets) or a node group role are not set, with a warning naming them, since in a check run
        the IAM roles and subnets made by earlier tasks do not exist yet. A real run fails without them.
  diff_mode:
    support: full
    description: Returns the cluster view before and after.
options:
  name:
    description: Name of the EKS cluster.
    type: str
    required: true
  state:
    description: Whether the cluster should exist.
    type: str
    choices: [present, absent]
    default: present
  version:
    description:
      - Kubernetes minor version of the control plane, for example C(1.31).
      - On an existing cluster, a version one minor above the current one upgrades the control plane, then
        the node groups that do not pin O(node_groups[].version). Skipping a minor version or
        downgrading fails with a clear message before anything changes.
      - When not set, EKS picks its default version at creation and the version is left alone afterwards.
      - The version to create or upgrade to must be one EKS offers in the region (C(DescribeClusterVersions));
        otherwise the module fails before any change, listing the offered versions. A version in extended
        support also needs O(support_type=EXTENDED).
    type: str
  support_type:
    description:
      - The cluster's upgrade policy. C(STANDARD) keeps the cluster in standard support (EKS upgrades it
        automatically when its version's standard support ends). C(EXTENDED) allows a version in extended
        support, for an extra charge per cluster hour (about six times the control-plane price).
      - When not set, a new cluster gets C(STANDARD) (EKS's own default is C(EXTENDED), a cost this module does
        not take silently) and an existing cluster keeps its policy.
      - EKS refuses C(STANDARD) for a cluster whose version is already in extended support; upgrade it first.
    type: str
    choices: [STANDARD, EXTENDED]
    version_added: 0.3.0
  validate_only:
    description:
      - Only check the options, against the cloud as well (credentials, the offered versions, what an
        update in place allows), and change nothing. Fails with every problem found; V(changed) is always
        false. For a preflight before anything is created (the collection's C(site.yml) runs it for every
        cluster first).
    type: bool
    default: false
    version_added: 0.3.0
  role_arn:
    description:
      - ARN of the IAM role EKS uses to manage the cluster (policy C(AmazonEKSClusterPolicy)).
      - Required to create a cluster (in check mode a missing one is only warned about);
        cannot change afterwards. Not needed to update, delete or read an existing cluster.
    type: str
  subnets:
    description:
      - IDs of the subnets for the control-plane network interfaces (two or more, in two availability
        zones). Also the default subnets of node groups.
      - Required to create a cluster (except in check mode); cannot change afterwards.
    type: list
    elements: str
  security_groups:
    description: IDs of additional security groups for the control-plane network interfaces; fixed at creation.
    type: list
    elements: str
  endpoint_public_access:
    description: Whether the Kubernetes API endpoint is reachable from the internet. EKS default C(true).
    type: bool
  endpoint_private_access:
    description: Whether the Kubernetes API endpoint is reachable from inside the VPC. EKS default C(false).
    type: bool
  public_access_cidrs:
    description: CIDR blocks allowed to reach the public endpoint. EKS default C(0.0.0.0/0).
    type: list
    elements: str
  logging:
    description:
      - Control-plane log types sent to CloudWatch Logs; the other types are turned off.
      - An empty list turns all of them off; when not set, logging is left as it is.
    type: list
    elements: str
    choices: [api, audit, authenticator, controllerManager, scheduler]
  secrets_encryption_key_arn:
    description:
      - ARN of the KMS key (C(arn:aws:kms:<region>:<account>:key/<id>), or an alias ARN) that encrypts the cluster's
        Kubernetes secrets (envelope encryption, C(encryptionConfig) with resources C(secrets)). The key must be a
        symmetric key, enabled, in the cluster's region; the caller needs C(kms:DescribeKey) and C(kms:CreateGrant)
        on it.
      - On an existing cluster without it, the module associates it (C(AssociateEncryptionConfig), an update of
        several minutes). EKS never removes it nor changes the key afterwards, so a different key, or V(""), on an
        encrypted cluster fails before any change.
      - V("") means no encryption; when not set, the cluster's encryption is left as it is.
      - Deleting or disabling the key makes the cluster's secrets unreadable; delete the cluster first.
      - With O(validate_only), the key is looked up in KMS (C(kms:DescribeKey)); one that does not exist, is not
        enabled or is not a symmetric encryption key fails the check.
    type: str
    version_added: 0.3.0
  tags:
    description: Tags of the cluster.
    type: dict
  purge_tags:
    description: Remove tags not listed in O(tags) (cluster and node groups). Only applies when O(tags) is set.
    type: bool
    default: true
  authentication_mode:
    description:
      - How IAM principals are mapped to Kubernetes identities. EKS only moves C(CONFIG_MAP) to
        C(API_AND_CONFIG_MAP) to C(API), one step per update; other changes fail.
      - EKS default C(API_AND_CONFIG_MAP). The cluster creator gets cluster admin (in the C(API) modes through its
        own access entry with C(AmazonEKSClusterAdminPolicy), which EKS makes at creation).
    type: str
    choices: [API, API_AND_CONFIG_MAP, CONFIG_MAP]
  access_entries:
    description:
      - IAM principals (roles or users) allowed into the cluster through EKS access entries, each with its
        Kubernetes identity and the EKS access policies that say what it may do. Needs O(authentication_mode)
        C(API_AND_CONFIG_MAP) or C(API) (an existing C(CONFIG_MAP) cluster moves to C(API_AND_CONFIG_MAP) in place).
      - When not set, access entries are left alone (and not read). Entries not listed are kept unless
        O(purge_access_entries=true).
      - EKS gives the principal that creates the cluster its own entry with C(AmazonEKSClusterAdminPolicy); you do
        not list it. To let another operator or an AWX credential in, add its IAM role (not the
        C(assumed-role/...) session ARN) or user here.
      - Listed entries are made to match exactly - username (when set), Kubernetes groups and access policies
        with their scopes; a policy not listed is disassociated. The type cannot change in place.
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      principal_arn:
        description: ARN of the IAM role (C(arn:aws:iam::<account>:role/<name>)) or user (C(...:user/<name>)).
        type: str
        required: true
      type:
        description:
          - Entry type. C(STANDARD) for people and automation; the others are for node roles, and take no
            username, groups or access policies.
        type: str
        choices: [STANDARD, EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX]
        default: STANDARD
      username:
        description:
          - Kubernetes username of the principal. EKS's default is the user ARN, or
            C(arn:aws:sts::<account>:assumed-role/<role>/{{SessionName}}) for a role. Cannot start with
            C(system:), C(eks:), C(aws:), C(amazon:) or C(iam:). When not set, the entry's username is kept.
        type: str
      kubernetes_groups:
        description:
          - Kubernetes groups of the principal, for your own RBAC bindings (EKS checks no binding exists).
            Not C(system:*); grant admin with an access policy instead. Not set means no groups.
        type: list
        elements: str
      access_policies:
        description: EKS access policies associated with the entry (authorization next to RBAC). Not set means none.
        type: list
        elements: dict
        suboptions:
          policy:
            description:
              - C(AmazonEKSViewPolicy) (read, no Secrets), C(AmazonEKSAdminViewPolicy) (read, Secrets too),
                C(AmazonEKSEditPolicy) (change namespaced objects, not RBAC), C(AmazonEKSAdminPolicy) (everything
                in the namespaces, RBAC too), C(AmazonEKSClusterAdminPolicy) (cluster-admin), or the full ARN
                C(arn:aws:eks::aws:cluster-access-policy/<name>).
            type: str
            required: true
          access_scope:
            description: Where the policy applies.
            type: dict
            suboptions:
              type:
                description: C(cluster) (every namespace and cluster-scoped objects) or C(namespace).
                type: str
                choices: [cluster, namespace]
                default: cluster
              namespaces:
                description: The namespaces, with C(namespace) scope only (required then); a trailing C(*) matches a prefix.
                type: list
                elements: str
  purge_access_entries:
    description:
      - Delete the access entries not in O(access_entries). Needs O(access_entries) (an empty list removes all).
      - Never deletes the entry of the principal the module runs as (so a run cannot lock itself out; list it to
        change it, or remove it with another principal) nor entries of a type other than C(STANDARD) (EKS makes
        those for node roles). The cluster creator's entry is deleted when another principal runs the module
        with purge and does not list it.
    type: bool
    default: false
    version_added: 0.3.0
  node_role_arn:
    description: Default IAM role of the node groups that do not set O(node_groups[].node_role_arn).
    type: str
  node_groups:
    description:
      - The managed node groups of the cluster. Node groups not in the list are deleted; when the option is
        not set, node groups are left alone.
    type: list
    elements: dict
    suboptions:
      name:
        description: Node group name.
        type: str
        required: true
      instance_types:
        description: EC2 instance types; fixed at creation. Default C([t3.medium]).
        type: list
        elements: str
      ami_type:
        description: AMI type, for example C(AL2023_x86_64_STANDARD) (the default); fixed at creation.
        type: str
      disk_size:
        description: Root volume size in GiB; fixed at creation. Default C(20).
        type: int
      min_size:
        description: Minimum number of nodes. Default C(1).
        type: int
      max_size:
        description: Maximum number of nodes; at least O(node_groups[].min_size). Default the larger of C(1) and min_size.
        type: int
      desired_size:
        description:
          - Number of nodes wanted now, within min_size..max_size.
          - When not set, an existing node group keeps its current desired size (for example as the cluster
            autoscaler left it), clamped into the new bounds.
        type: int
      labels:
        description: Kubernetes labels of the nodes.
        type: dict
      taints:
        description: Kubernetes taints of the nodes.
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
      node_role_arn:
        description: IAM role of the nodes; defaults to O(node_role_arn). Fixed at creation.
        type: str
      subnets:
        description: Subnets of the nodes; defaults to O(subnets). Fixed at creation.
        type: list
        elements: str
      version:
        description:
          - Kubernetes minor version of the nodes. When not set, the node group follows the cluster's version.
        type: str
      tags:
        description: Tags of the node group (not propagated to instances).
        type: dict
  wait:
    description:
      - Wait until the cluster and node groups are C(ACTIVE) (or deleted) before returning.
      - Updates are always waited for between steps, since EKS runs one update at a time; creating node
        groups always waits for the cluster to become C(ACTIVE) first.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for each cluster or node group operation.
    type: int
    default: 1800
  kubeconfig:
    description:
      - Write a kubeconfig for the cluster to this path (mode 0600, one context named after the cluster).
      - Only when the cluster has an endpoint (it is C(ACTIVE)).
    type: path
notes:
  - The module calls EKS (and STS for V(token)) only; it never shells out to the AWS CLI or kubectl.
seealso:
  - module: multicloud.mesh.eks_cluster_info
    description: Reads a cluster (and writes its kubeconfig) without ever creating or changing it.
  - module: amazon.aws.ec2_vpc_net
  - name: multicloud.mesh.eks_cluster role
    description: Creates the VPC, subnets and IAM roles, then calls this module.
    link: https://github.com/multicloud/mesh/tree/main/roles/eks_cluster
"""

EXAMPLES = r"""
- name: A cluster with one managed node group, and a kubeconfig with an embedded token
  multicloud.mesh.eks_cluster:
    name: mesh-1
    region: eu-central-1
    version: "1.35"
    role_arn: arn:aws:iam::123456789012:role/mesh-1-cluster
    subnets: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]
    logging: [api, audit]
    tags:
      environment: multi-cloud-mesh
    node_groups:
      - name: default
        instance_types: [t3.medium]
        min_size: 2
        max_size: 4
        desired_size: 2
        node_role_arn: arn:aws:iam::123456789012:role/mesh-1-node
        labels:
          mesh: "true"
    kubeconfig: "{{ playbook_dir }}/mesh-1.kubeconfig"
    kubeconfig_auth: token
  register: eks

- name: Check the options against what EKS offers, before anything is created (changes nothing)
  multicloud.mesh.eks_cluster:
    name: mesh-1
    region: eu-central-1
    version: "1.35"
    validate_only: true

- name: Upgrade the control plane one minor version (node groups follow) and scale out
  multicloud.mesh.eks_cluster:
    name: mesh-1
    region: eu-central-1
    version: "1.36"
    node_groups:
      - name: default
        min_size: 2
        max_size: 6
        desired_size: 3

- name: Against the sandbox's AWS emulator
  multicloud.mesh.eks_cluster:
    name: mesh-1
    region: eu-central-1
    endpoint_url: http://127.0.0.1:4566
    profile: mesh-sandbox
    role_arn: arn:aws:iam::123456789012:role/mesh-1-cluster
    subnets: "{{ subnet_ids }}"

- name: Keep a cluster on a version in extended support (an extra charge per cluster hour)
  multicloud.mesh.eks_cluster:
    name: legacy-1
    region: eu-central-1
    version: "1.33"
    support_type: EXTENDED

- name: Let a second operator (read only) and the AWX credential's role (cluster admin) in, remove other entries
  multicloud.mesh.eks_cluster:
    name: mesh-1
    region: eu-central-1
    access_entries:
      - principal_arn: arn:aws:iam::123456789012:user/alice
        access_policies:
          - policy: AmazonEKSViewPolicy
            access_scope: {type: cluster}
      - principal_arn: arn:aws:iam::123456789012:role/awx-mesh
        access_policies:
          - policy: AmazonEKSClusterAdminPolicy
      - principal_arn: arn:aws:iam::123456789012:role/dev-team
        kubernetes_groups: [dev-team]
        access_policies:
          - policy: AmazonEKSEditPolicy
            access_scope: {type: namespace, namespaces: [dev, "dev-*"]}
    purge_access_entries: true

- name: Delete the node groups, then the cluster
  multicloud.mesh.eks_cluster:
    name: mesh-1
    region: eu-central-1
    state: absent
"""

RETURN = r"""
cluster:
  description:
    - The cluster as DescribeCluster returns it, in snake_case, plus C(node_groups) (each as
      DescribeNodegroup returns it, in snake_case). Empty after deletion.
    - In check mode, the cluster as it is now (or empty when it would be created).
  returned: always
  type: dict
  contains:
    name:
      description: Cluster name.
      type: str
      sample: mesh-1
    arn:
      description: Cluster ARN.
      type: str
      sample: arn:aws:eks:eu-central-1:123456789012:cluster/mesh-1
    endpoint:
      description: URL of the Kubernetes API server.
      type: str
      sample: https://0123456789ABCDEF.gr7.eu-central-1.eks.amazonaws.com
    certificate_authority:
      description: The cluster CA; C(data) is the base64 of its PEM.
      type: dict
      sample: {"data": "LS0tLS1CRUdJTi..."}
    version:
      description: Kubernetes minor version.
      type: str
      sample: "1.31"
    platform_version:
      description: EKS platform version.
      type: str
      sample: eks.12
    status:
      description: C(CREATING), C(ACTIVE), C(UPDATING), C(DELETING) or C(FAILED).
      type: str
      sample: ACTIVE
    identity:
      description: The OIDC issuer of the cluster (C(identity.oidc.issuer)).
      type: dict
      sample: {"oidc": {"issuer": "https://oidc.eks.eu-central-1.amazonaws.com/id/0123456789ABCDEF"}}
    resources_vpc_config:
      description: Subnets, security groups, VPC and endpoint access.
      type: dict
    logging:
      description: Control-plane logging configuration.
      type: dict
    access_config:
      description: Authentication mode.
      type: dict
    upgrade_policy:
      description: The support type (C(STANDARD) or C(EXTENDED)), see O(support_type).
      type: dict
      sample: {"support_type": "STANDARD"}
    encryption_config:
      description: The secrets encryption, see O(secrets_encryption_key_arn); absent or empty without it.
      type: list
      elements: dict
      sample: [{"resources": ["secrets"], "provider": {"key_arn": "arn:aws:kms:eu-central-1:123456789012:key/0a1b"}}]
    tags:
      description: Tags, keys as given.
      type: dict
    node_groups:
      description: The managed node groups.
      type: list
      elements: dict
      sample: [{"nodegroup_name": "default", "status": "ACTIVE", "version": "1.31",
                "scaling_config": {"min_size": 2, "max_size": 4, "desired_size": 2}}]
    access_entries:
      description:
        - The access entries (sorted by principal) with their associated access policies; only when
          O(access_entries) is set. Empty for a C(CONFIG_MAP) cluster.
      type: list
      elements: dict
      returned: when O(access_entries) is set
      version_added: 0.3.0
      sample: [{"principal_arn": "arn:aws:iam::123456789012:user/alice", "type": "STANDARD",
                "username": "arn:aws:iam::123456789012:user/alice", "kubernetes_groups": [],
                "access_entry_arn": "arn:aws:eks:eu-central-1:123456789012:access-entry/mesh-1/user/123456789012/alice/1a2b",
                "access_policies": [{"policy_arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                                     "access_scope": {"type": "cluster", "namespaces": []}}]}]
msg:
  description: With O(validate_only), that the options are valid.
  returned: when O(validate_only=true) and the options are valid
  type: str
  sample: the options of cluster mesh-1 are valid
changes:
  description: What was changed (or would be, in check mode), one line per EKS call.
  returned: always
  type: list
  elements: str
  sample: ["upgrade control plane 1.30 -> 1.31", "node group default scalingConfig"]
kubeconfig:
  description: Path of the kubeconfig written (or that would be written in check mode).
  returned: when O(kubeconfig) is set and the cluster has an endpoint
  type: str
  sample: /home/me/mesh-1.kubeconfig
diff:
  description: The cluster view before and after (credentials never shown), in diff mode.
  returned: when diff mode is on
  type: dict
health_issues:
  description:
    - The health issues of a node group that ended C(CREATE_FAILED), C(DEGRADED) or C(DELETE_FAILED) (the module
      failed). C(NodeCreationFailure) means its instances did not join the cluster, mostly because their subnets
      have no path to the EKS API and the image registry. A later run deletes a C(CREATE_FAILED) node group and
      creates it again.
  returned: when a node group failed
  type: list
  elements: dict
  sample: [{"code": "NodeCreationFailure", "message": "Instances failed to join the kubernetes cluster",
            "resource_ids": ["subnet-0a1b2c3d"]}]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.multicloud.mesh.plugins.module_utils import aws
from ansible_collections.multicloud.mesh.plugins.module_utils.progress import Progress
from ansible_collections.multicloud.mesh.plugins.module_utils.retry import WaitTimeout, wait_until

UPDATE_DONE = ("Successful", "Failed", "Cancelled")


def argument_spec():
    spec = aws.aws_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        version=dict(type="str"),
        role_arn=dict(type="str"),
        subnets=dict(type="list", elements="str"),
        security_groups=dict(type="list", elements="str"),
        endpoint_public_access=dict(type="bool"),
        endpoint_private_access=dict(type="bool"),
        public_access_cidrs=dict(type="list", elements="str"),
        logging=dict(type="list", elements="str", choices=aws.LOG_TYPES),
        secrets_encryption_key_arn=dict(type="str", no_log=False),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        authentication_mode=dict(type="str", choices=aws.AUTH_MODES),
        support_type=dict(type="str", choices=["STANDARD", "EXTENDED"]),
        validate_only=dict(type="bool", default=False),
        node_role_arn=dict(type="str"),
        node_groups=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            instance_types=dict(type="list", elements="str"),
            ami_type=dict(type="str"),
            disk_size=dict(type="int"),
            min_size=dict(type="int"),
            max_size=dict(type="int"),
            desired_size=dict(type="int"),
            labels=dict(type="dict"),
            taints=dict(type="list", elements="dict", options=dict(
                key=dict(type="str", required=True, no_log=False),
                value=dict(type="str"),
                effect=dict(type="str", required=True,
                            choices=sorted(aws.TAINT_EFFECTS) + sorted(aws.TAINT_EFFECTS.values())),
            )),
            node_role_arn=dict(type="str"),
            subnets=dict(type="list", elements="str"),
            version=dict(type="str"),
            tags=dict(type="dict"),
        )),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        access_entries=dict(type="list", elements="dict", options=dict(
            principal_arn=dict(type="str", required=True),
            type=dict(type="str", default="STANDARD", choices=list(aws.ACCESS_ENTRY_TYPES)),
            username=dict(type="str"),
            kubernetes_groups=dict(type="list", elements="str"),
            access_policies=dict(type="list", elements="dict", options=dict(
                policy=dict(type="str", required=True),
                access_scope=dict(type="dict", options=dict(
                    type=dict(type="str", default="cluster", choices=["cluster", "namespace"]),
                    namespaces=dict(type="list", elements="str"),
                )),
            )),
        )),
        purge_access_entries=dict(type="bool", default=False),
        kubeconfig=dict(type="path"),
        kubeconfig_auth=dict(type="str", choices=["builtin", "exec", "token"], default="exec"),
        progress_file=dict(type="path"),
    )
    return spec


class EksCluster(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.changed = False
        self.changes = []
        self.session = None
        self.eks = None
        self.progress = Progress(module.params.get("progress_file"))

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, changed=self.changed, changes=self.changes, **kwargs)

    def connect(self):
        self.session = aws.aws_session(self.params)
        self.eks = aws.RetryingClient(aws.client(self.session, "eks", self.params),
                                      timeout=min(300, self.params["wait_timeout"]))

    # ------------------------------------------------------------------ reads
    def describe(self):
        return aws.describe_cluster(self.eks, self.params["name"])

    def result(self, cluster, groups, access=None):
        out = aws.cluster_result(cluster, groups)
        if out and self.params["access_entries"] is not None:
            out["access_entries"] = aws.access_entries_result(access)
        return out

    # ------------------------------------------------------------------ access entries
    def read_access(self, cluster):
        """The cluster's access entries when the option is set and the cluster has them (else None / {})."""
        if self.params["access_entries"] is None or cluster is None:
            return None
        if (cluster.get("accessConfig") or {}).get("authenticationMode") == "CONFIG_MAP":
            return {}
        return aws.describe_access_entries(self.eks, self.params["name"])

    def access_mode_errors(self, after):
        if after.get("access_entries") is None or after["authentication_mode"] != "CONFIG_MAP":
            return []
        if not (self.params["access_entries"] or self.params["purge_access_entries"]):
            return []
        return ["access_entries needs authentication_mode API_AND_CONFIG_MAP or API, and cluster %s uses CONFIG_MAP: "
                "set authentication_mode: API_AND_CONFIG_MAP (EKS moves the cluster there in place)"
                % self.params["name"]]

    def plan_access(self, have, want):
        """The access-entry steps; purge never deletes the caller's own entry nor entries of other types than
        STANDARD (EKS makes those for node roles)."""
        if want is None:
            return {"errors": [], "steps": []}
        name = self.params["name"]
        plan = aws.plan_access_entries(name, have or {}, want, keep=lambda view: view["type"] != "STANDARD")
        if any(step["call"] == "delete_access_entry" for step in plan["steps"]):
            sts = aws.RetryingClient(aws.client(self.session, "sts", self.params), timeout=60)
            caller = sts.call("get_caller_identity")["Arn"]
            plan = aws.plan_access_entries(name, have or {}, want, keep=lambda view: view["type"] != "STANDARD"
                                           or aws.same_principal(view["principal_arn"], caller))
        return plan

    def run_access_steps(self, steps):
        for step in steps:
            if step["call"] in ("delete_access_entry", "disassociate_access_policy"):
                self.eks.call_or_none(step["call"], **step["args"])
            else:
                self.eks.call(step["call"], **step["args"])

    # ------------------------------------------------------------------ waits
    def _timeout(self):
        return self.params["wait_timeout"]

    def wait_cluster(self, status):
        name = self.params["name"]

        def probe():
            found = self.eks.call_or_none("describe_cluster", name=name)
            if found is None:
                return status == "gone"
            current = found["cluster"]["status"]
            self.progress.note("cluster %s" % name, current)
            if current == "FAILED":
                issues = (found["cluster"].get("health") or {}).get("issues") or []
                self.fail("cluster %s is FAILED: %s" % (name, "; ".join(i.get("message", "") for i in issues)
                                                        or "no details"))
            return current == status

        # a probe, not boto3's cluster_deleted waiter: a deletion of many minutes shows its progress too
        self._wait_until(probe, "cluster %s to %s" % (name, "be deleted" if status == "gone" else "become " + status))

    def _wait_until(self, probe, what):
        try:
            return wait_until(probe, timeout=self._timeout(), interval=2.0, what=what)
        except WaitTimeout as exc:
            self.fail("%s (wait_timeout=%s)" % (exc, self._timeout()))

    def wait_nodegroup(self, group_name, status):
        name = self.params["name"]

        def probe():
            found = self.eks.call_or_none("describe_nodegroup", clusterName=name, nodegroupName=group_name)
            if found is None:
                if status == "gone":
                    return True
                self.fail("node group %s disappeared while waiting for it" % group_name)
            current = found["nodegroup"]["status"]
            self.progress.note("node group %s" % group_name, current)
            if status == "gone" and current != "DELETE_FAILED":
                return False
            if current in ("CREATE_FAILED", "DEGRADED", "DELETE_FAILED"):
                issues = (found["nodegroup"].get("health") or {}).get("issues") or []
                self.fail("node group %s is %s: %s" % (group_name, current, aws.nodegroup_issues(issues)),
                          health_issues=aws.health_issues(issues))
            return current == status

        self._wait_until(probe, "node group %s to %s" % (group_name, "be deleted" if status == "gone" else "become " + status))

    def wait_update(self, update, group_name=None):
        name = self.params["name"]
        kwargs = {"name": name, "updateId": update["id"]}
        if group_name:
            kwargs["nodegroupName"] = group_name

        def probe():
            found = self.eks.call("describe_update", **kwargs)["update"]
            self.progress.note("%s update %s (%s)" % ("node group " + group_name if group_name else "cluster " + name,
                                                      update["id"], update.get("type", "?")), found["status"])
            return found if found["status"] in UPDATE_DONE else None

        done = self._wait_until(probe, "EKS update %s" % update["id"])
        if done["status"] != "Successful":
            errors = "; ".join("%s: %s" % (e.get("errorCode"), e.get("errorMessage")) for e in done.get("errors") or [])
            self.fail("EKS update %s of cluster %s ended %s: %s"
                      % (update["id"], name, done["status"], errors or "no details"))
        # the cluster/node group goes back to ACTIVE with the update
        if group_name:
            self.wait_nodegroup(group_name, "ACTIVE")
        else:
            self.wait_cluster("ACTIVE")

    # ------------------------------------------------------------------ state=absent
    def absent(self, cluster, groups):
        name = self.params["name"]
        if cluster is None:
            return
        self.changed = True
        for group in groups:
            if group["status"] != "DELETING":
                self.changes.append("delete node group %s" % group["nodegroupName"])
        if cluster["status"] != "DELETING":
            self.changes.append("delete cluster %s" % name)
        if self.module.check_mode:
            return
        for group in groups:
            if group["status"] in ("CREATING", "UPDATING"):
                self.wait_nodegroup(group["nodegroupName"], "ACTIVE")
            if group["status"] != "DELETING":
                self.eks.call_or_none("delete_nodegroup", clusterName=name, nodegroupName=group["nodegroupName"])
        for group in groups:
            # EKS refuses to delete a cluster that still has node groups
            self.wait_nodegroup(group["nodegroupName"], "gone")
        if cluster["status"] in ("CREATING", "UPDATING"):
            self.wait_cluster("ACTIVE")
        if cluster["status"] != "DELETING":
            self.eks.call_or_none("delete_cluster", name=name)
        if self.params["wait"]:
            self.wait_cluster("gone")

    # ------------------------------------------------------------------ state=present
    def present(self, cluster, groups):
        name = self.params["name"]
        if cluster is not None and cluster["status"] == "DELETING":
            self.fail("cluster %s is being deleted; wait until it is gone, then run again" % name)
        if cluster is not None and cluster["status"] == "FAILED":
            self.fail("cluster %s is FAILED; delete it with state=absent and create it again" % name)
        before = aws.cluster_view(cluster, groups) if cluster else None
        if before is not None and self.params["access_entries"] is not None:
            before["access_entries"] = self.read_access(cluster)
        after = aws.desired_view(self.params, before)
        after["access_entries"] = aws.desired_access_entries(self.params, before)
        if before is None:
            if self.module.check_mode:
                # What a create needs may not exist yet in check mode (the role's IAM roles and
                # subnets come from tasks that only predict their creation): report the create.
                missing = aws.creation_missing(self.params)
                if missing:
                    self.module.warn("check mode: cluster %s would be created, but %s %s not set (yet); a real "
                                     "run needs %s" % (name, ", ".join(missing),
                                                       "is" if len(missing) == 1 else "are",
                                                       "it" if len(missing) == 1 else "them"))
            else:
                errors = aws.creation_errors(self.params)
                if errors:
                    self.fail("; ".join(errors))
            plan = aws.plan_create(after)
        else:
            plan = aws.plan_update(before, after)
        if plan["errors"]:
            self.fail("cluster %s cannot be updated in place: %s" % (name, "; ".join(plan["errors"])),
                      diff=dict(before=before, after=after))
        problems = self.access_mode_errors(after) + self.version_errors(before, after)
        if problems:
            self.fail("cluster %s: %s" % (name, "; ".join(problems)))
        access_plan = self.plan_access((before or {}).get("access_entries"), after["access_entries"])
        if access_plan["errors"]:
            self.fail("cluster %s cannot be updated in place: %s" % (name, "; ".join(access_plan["errors"])),
                      diff=dict(before=before, after=after))
        steps = plan["steps"]
        self.changes.extend(step["what"] for step in steps + access_plan["steps"])
        self.changed = bool(steps or access_plan["steps"])
        if self.module.check_mode or not self.changed:
            return before, after
        if steps:
            self.run_cluster_steps(cluster, groups, steps, wait_active=bool(access_plan["steps"]))
        if after["access_entries"] is not None and before is None:
            # a new cluster: EKS made the creator's entry; plan again against what is there now
            have = self.read_access(self.describe()[0])
            fresh = self.plan_access(have, aws.desired_access_entries(self.params, {"access_entries": have}))
            self.changes[len(self.changes) - len(access_plan["steps"]):] = [step["what"] for step in fresh["steps"]]
            access_plan = fresh
        self.run_access_steps(access_plan["steps"])
        return before, after

    def run_cluster_steps(self, cluster, groups, steps, wait_active=False):
        name = self.params["name"]
        if cluster is not None and cluster["status"] in ("CREATING", "UPDATING"):
            self.wait_cluster("ACTIVE")
        for group in groups:
            if group["status"] in ("CREATING", "UPDATING"):
                self.wait_nodegroup(group["nodegroupName"], "ACTIVE")
        created_groups, deleted_groups = [], []
        for step in steps:
            call = step["call"]
            if call == "create_cluster":
                self.eks.call(call, **step["args"])
                if len(steps) > 1 or self.params["wait"] or wait_active:
                    self.wait_cluster("ACTIVE")
            elif call in ("update_cluster_version", "update_cluster_config", "associate_encryption_config"):
                self.wait_update(self.eks.call(call, **step["args"])["update"])
            elif call in ("update_nodegroup_config", "update_nodegroup_version"):
                group_name = step["args"]["nodegroupName"]
                self.wait_update(self.eks.call(call, **step["args"])["update"], group_name)
            elif call == "create_nodegroup":
                self.eks.call(call, **step["args"])
                created_groups.append(step["args"]["nodegroupName"])
            elif call == "delete_nodegroup":
                self.eks.call_or_none(call, **step["args"])
                if step.get("wait_gone"):  # a failed group, created again by the next step under its name
                    self.wait_nodegroup(step["args"]["nodegroupName"], "gone")
                else:
                    deleted_groups.append(step["args"]["nodegroupName"])
            else:  # tag_resource / untag_resource
                self.eks.call(call, **step["args"])
        if self.params["wait"]:
            for group_name in created_groups:
                self.wait_nodegroup(group_name, "ACTIVE")
            for group_name in deleted_groups:
                self.wait_nodegroup(group_name, "gone")

    def version_errors(self, before, after):
        """The version to create or upgrade to, against what EKS offers in this region (one read)."""
        if before is not None and (not after["version"] or after["version"] == before["version"]):
            if after["support_type"] == before.get("support_type"):
                return []
        offered = self.eks.paginate("describe_cluster_versions", "clusterVersions")
        version = after["version"] if before is None or after["version"] else before["version"]
        return aws.version_errors(offered, version, after["support_type"], self.session.region_name)

    def validate(self, cluster, groups):
        """validate_only: every problem a run would meet before its first change, and no change."""
        name = self.params["name"]
        if self.params["state"] == "absent":
            return []
        if cluster is not None and cluster["status"] in ("DELETING", "FAILED"):
            return ["cluster %s is %s" % (name, cluster["status"])]
        before = aws.cluster_view(cluster, groups) if cluster else None
        after = aws.desired_view(self.params, before)
        # a create's role and subnets are not checked: the role makes them after this preflight
        problems = aws.plan_update(before, after)["errors"] if before is not None else []
        if before is not None and self.params["access_entries"] is not None:
            before["access_entries"] = self.read_access(cluster)
            after["access_entries"] = aws.desired_access_entries(self.params, before)
            problems += self.access_mode_errors(after)
            problems += aws.plan_access_entries(name, before["access_entries"] or {}, after["access_entries"])["errors"]
        key = self.params.get("secrets_encryption_key_arn")
        if key and not (before or {}).get("secrets_encryption_key_arn"):  # the key a create or association would use
            problems += aws.kms_key_errors(aws.RetryingClient(aws.client(self.session, "kms", self.params),
                                                              timeout=min(300, self.params["wait_timeout"])), key)
        return problems + self.version_errors(before, after)

    # ------------------------------------------------------------------ kubeconfig
    def write_kubeconfig(self, cluster):
        return aws.write_cluster_kubeconfig(self.module, self.session, cluster)

    # ------------------------------------------------------------------ main
    def run(self):
        errors = aws.validate_params(self.params)
        if errors:
            self.fail("invalid options: " + "; ".join(errors))
        try:
            self.connect()
            cluster, groups = self.describe()
            if self.params["validate_only"]:
                problems = self.validate(cluster, groups)
                if problems:
                    self.fail("invalid options: " + "; ".join(problems))
                self.module.exit_json(changed=False, changes=[], msg="the options of cluster %s are valid"
                                      % self.params["name"], cluster=self.result(cluster, groups))
            if self.params["state"] == "absent":
                before = aws.result_view(aws.cluster_view(cluster, groups)) if cluster else {}
                self.absent(cluster, groups)
                if cluster is not None and not self.module.check_mode:
                    cluster, groups = self.describe()  # gone when waited for, else DELETING
                result = dict(changed=self.changed, changes=self.changes, cluster=self.result(cluster, groups))
                if self.module._diff:
                    result["diff"] = dict(before=before, after={})
                self.module.exit_json(**result)
            before, after = self.present(cluster, groups)
            access = (before or {}).get("access_entries")
            if not self.module.check_mode and self.changed:
                cluster, groups = self.describe()
                access = self.read_access(cluster)
            result = dict(changed=self.changed, changes=self.changes, cluster=self.result(cluster, groups, access))
            path, kube_changed, kube_diff = self.write_kubeconfig(cluster)
            if path:
                result["kubeconfig"] = path
                if kube_changed:
                    result["changed"] = True
                    self.changes.append("write kubeconfig %s" % path)
            if self.module._diff:
                result["diff"] = dict(before=aws.result_view(before) if before else {},
                                      after=aws.result_view(after))
                if kube_changed and kube_diff:
                    result["diff"]["after_kubeconfig"] = kube_diff["after"]
            self.module.exit_json(**result)
        except aws.AWSError as exc:
            self.fail(exc.message, error_code=exc.code)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not aws.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3 and botocore"), exception=aws.BOTO3_IMP_ERR)
    EksCluster(module).run()


if __name__ == "__main__":
    main()
