"""Extensions of moto's EKS (and classic ELB) backends for the sandbox, patched in-process.

moto 5.2 answers EKS calls with everything ACTIVE at once, a random endpoint, no
UpdateClusterVersion / UpdateNodegroupVersion / DescribeUpdate / ListUpdates, replaces
resourcesVpcConfig wholesale on UpdateClusterConfig, and tags only clusters. The module under
test needs the real service's shape, so this file patches moto's classes (only inside the
emulator process) instead of re-implementing EKS. Every extension is listed in
docs/sandbox-emulators.md (AWS section); keep that list in sync.

Lifecycle (CREATING -> ACTIVE, UPDATING -> ACTIVE, DELETING -> gone) runs on timers owned by a
``Lifecycle`` object that the emulator installs; it also starts/stops the real local API server
of each cluster through ``hooks``.
"""

import datetime
import re
import threading
import time
import uuid

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.eks import models as eks_models
from moto.eks import responses as eks_responses
from moto.eks import urls as eks_urls
from . import cloud_versions
from moto.eks.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)

# What this region offers, from the one table both emulators answer from (cloud_versions.py).
SUPPORTED_VERSIONS = cloud_versions.EKS_OFFERED
DEFAULT_VERSION = cloud_versions.EKS_DEFAULT_VERSION
SUPPORT_TYPES = ["STANDARD", "EXTENDED"]
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
AUTH_MODES = ["API", "API_AND_CONFIG_MAP", "CONFIG_MAP"]

_installed = False
_lock = threading.RLock()
LOCK = _lock  # for the webhooks in aws_emulator.py


class Lifecycle:
    """Timers and hooks behind the EKS status machine.

    ``ready_delay``: seconds a cluster stays CREATING (at least until its API server is up),
    ``update_delay``: UPDATING -> ACTIVE, ``delete_delay``: DELETING -> gone; node groups use the
    same delays. ``on_cluster_create(cluster) -> {"endpoint", "ca_data"}`` (may block, runs on a
    worker thread), ``on_cluster_delete(cluster)``.
    """

    def __init__(self, ready_delay=2.0, update_delay=1.0, delete_delay=1.0,
                 on_cluster_create=None, on_cluster_delete=None):
        self.ready_delay = ready_delay
        self.update_delay = update_delay
        self.delete_delay = delete_delay
        self.on_cluster_create = on_cluster_create
        self.on_cluster_delete = on_cluster_delete
        self.errors = []
        self.principal_of = None  # access key -> caller ARN (the emulator's identities), for the creator's entry
        self.node_join_failures = []  # why node groups ended CREATE_FAILED NodeCreationFailure (status)
        self._failures = {}  # operation -> how many of its next calls fail asynchronously
        self._failures_lock = threading.Lock()

    def fail_next(self, operation):
        """The operation the current request starts fails later (fault kind ``failed``)."""
        with self._failures_lock:
            self._failures[operation] = self._failures.get(operation, 0) + 1

    def take_failure(self, operation):
        with self._failures_lock:
            if self._failures.get(operation, 0) > 0:
                self._failures[operation] -= 1
                return True
        return False

    def later(self, delay, func, *args):
        def run():
            if delay:
                time.sleep(delay)
            try:
                with _lock:
                    func(*args)
            except Exception as exc:  # keep the emulator alive; surface in /_sandbox/status
                self.errors.append("%s: %s" % (getattr(func, "__name__", func), exc))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


LIFECYCLE = Lifecycle()


def _minor(version):
    match = re.match(r"^1\.(\d+)$", str(version or ""))
    return int(match.group(1)) if match else None


def _invalid(message, **kw):
    return InvalidParameterException(clusterName=kw.get("cluster"), nodegroupName=kw.get("nodegroup"),
                                     fargateProfileName=None, addonName=None, message=message)


def _not_found(message, cluster=None, nodegroup=None):
    return ResourceNotFoundException(clusterName=cluster, nodegroupName=nodegroup,
                                     fargateProfileName=None, addonName=None, message=message)


def _in_use(message, cluster=None, nodegroup=None):
    return ResourceInUseException(clusterName=cluster, nodegroupName=nodegroup, addonName=None,
                                  message=message)


def _normalise_logging(current, requested):
    enabled = set()
    for entry in (current or {}).get("clusterLogging", []):
        if entry.get("enabled"):
            enabled.update(entry.get("types") or [])
    for entry in (requested or {}).get("clusterLogging", []):
        for log_type in entry.get("types") or []:
            if log_type not in LOG_TYPES:
                raise _invalid("Invalid log type %s; valid: %s" % (log_type, ", ".join(LOG_TYPES)))
            if entry.get("enabled"):
                enabled.add(log_type)
            else:
                enabled.discard(log_type)
    result = []
    if enabled:
        result.append({"types": [t for t in LOG_TYPES if t in enabled], "enabled": True})
    disabled = [t for t in LOG_TYPES if t not in enabled]
    if disabled:
        result.append({"types": disabled, "enabled": False})
    return {"clusterLogging": result}


def _validate_scaling(scaling, nodegroup=None):
    if not scaling:
        return
    lo, hi, want = scaling.get("minSize"), scaling.get("maxSize"), scaling.get("desiredSize")
    if hi is not None and hi < 1:
        raise _invalid("Maximum capacity %s can't be less than 1" % hi, nodegroup=nodegroup)
    if lo is not None and lo < 0:
        raise _invalid("Minimum capacity %s can't be negative" % lo, nodegroup=nodegroup)
    if lo is not None and hi is not None and lo > hi:
        raise _invalid("Minimum capacity %s can't be greater than maximum capacity %s" % (lo, hi),
                       nodegroup=nodegroup)
    if want is not None and ((lo is not None and want < lo) or (hi is not None and want > hi)):
        raise _invalid("Desired capacity %s can't be outside the minimum %s and maximum %s "
                       "capacity" % (want, lo, hi), nodegroup=nodegroup)


def _ec2(backend):
    from moto.ec2.models import ec2_backends
    return ec2_backends[backend.account_id][backend.region_name]


def _resolve_vpc(backend, name, vpc_config):
    """Fill resourcesVpcConfig like EKS: check subnets, derive vpcId, add the cluster SG."""
    vpc_config = dict(vpc_config or {})
    subnet_ids = vpc_config.get("subnetIds") or []
    if len(subnet_ids) < 2:
        raise _invalid("Subnets specified must be in at least two different AZs", cluster=name)
    ec2 = _ec2(backend)
    zones, vpcs = set(), set()
    for subnet_id in subnet_ids:
        try:
            subnet = ec2.get_subnet(subnet_id)
        except Exception:
            raise _invalid("The subnet ID '%s' does not exist" % subnet_id, cluster=name)
        zones.add(subnet.availability_zone)
        vpcs.add(subnet.vpc_id)
    if len(zones) < 2:
        raise _invalid("Subnets specified must be in at least two different AZs", cluster=name)
    if len(vpcs) != 1:
        raise _invalid("Subnets must all belong to the same VPC", cluster=name)
    vpc_id = vpcs.pop()
    group = ec2.create_security_group(
        name="eks-cluster-sg-%s-%s" % (name, uuid.uuid4().hex[:10]),
        description="EKS created security group applied to ENI that is attached to EKS Control "
                    "Plane master nodes, as well as any managed workloads.",
        vpc_id=vpc_id, tags={"aws:eks:cluster-name": name, "kubernetes.io/cluster/%s" % name: "owned"})
    vpc_config.setdefault("securityGroupIds", [])
    vpc_config["clusterSecurityGroupId"] = group.id
    vpc_config["vpcId"] = vpc_id
    vpc_config.setdefault("endpointPublicAccess", True)
    vpc_config.setdefault("endpointPrivateAccess", False)
    vpc_config.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
    return vpc_config


def _new_update(update_type, params, nodegroup=None, operation=None):
    return {
        "_fail": bool(operation) and LIFECYCLE.take_failure(operation),
        "id": str(uuid.uuid4()),
        "status": "InProgress",
        "type": update_type,
        "params": [{"type": k, "value": str(v)} for k, v in params],
        "createdAt": utcnow(),
        "errors": [],
        "_nodegroup": nodegroup,
    }


def _public_update(update):
    return {k: v for k, v in update.items() if not k.startswith("_")}


def _get_cluster(backend, name):
    cluster = backend.clusters.get(name)
    if cluster is None:
        raise _not_found(eks_models.CLUSTER_NOT_FOUND_MSG.format(clusterName=name), cluster=name)
    return cluster


def _get_nodegroup(cluster, nodegroup_name):
    nodegroup = cluster.nodegroups.get(nodegroup_name)
    if nodegroup is None:
        raise _not_found(eks_models.NODEGROUP_NOT_FOUND_MSG.format(nodegroupName=nodegroup_name),
                         cluster=cluster.name, nodegroup=nodegroup_name)
    return nodegroup


def _require_active(obj, what):
    if obj.status != "ACTIVE":
        raise _in_use("%s is in %s state; wait until it is ACTIVE" % (what, obj.status))


def _finish_update(obj, update, changes):
    if update.get("_fail"):  # fault kind "failed": nothing changes, the update ends Failed
        update["status"] = "Failed"
        update["errors"] = [{"errorCode": "Unknown", "errorMessage": "The update failed (injected fault)",
                             "resourceIds": [getattr(obj, "name", None) or getattr(obj, "nodegroup_name", "")]}]
        if obj.status == "UPDATING":
            obj.status = "ACTIVE"
        return
    for attr, value in changes.items():
        setattr(obj, attr, value)
    update["status"] = "Successful"
    if obj.status == "UPDATING":
        obj.status = "ACTIVE"


# ---------------------------------------------------------------- node join

# Real EKS: a managed node group whose instances cannot reach the cluster's API server and the image
# registry (ECR, whose layers are served from S3) ends CREATE_FAILED after ~20 minutes with this
# health issue. The emulator decides it when the node group would become ACTIVE (after the ready
# delay) from what moto's EC2 backend holds at that moment. The check has no switch: a network that
# real EKS refuses is refused here too.
NODE_JOIN_CODE = "NodeCreationFailure"
NODE_JOIN_MESSAGE = "Instances failed to join the kubernetes cluster"
# What nodes need without an internet path (AWS "private clusters"): ECR (api + dkr) and STS over
# interface endpoints, EC2 for the VPC CNI (no IP addresses for pods -> the node never gets Ready),
# and S3 (ECR's image layers) over a gateway endpoint on the subnet's route table.
PRIVATE_INTERFACE_SERVICES = ("ecr.api", "ecr.dkr", "sts", "ec2")
PRIVATE_GATEWAY_SERVICES = ("s3",)


def _route_table_of(subnet_id, vpc_id, route_tables):
    """The explicitly associated route table of the subnet, else the VPC's main one (or None)."""
    for table in route_tables:
        if subnet_id in table.get("subnet_ids", ()):
            return table
    for table in route_tables:
        if table.get("vpc_id") == vpc_id and table.get("main"):
            return table
    return None


def _default_target(table):
    for route in (table or {}).get("routes", ()):
        if route.get("destination") == "0.0.0.0/0":
            return route.get("target")
    return None


def _igw_usable(igw_id, vpc_id, internet_gateways):
    igw = internet_gateways.get(igw_id)
    return igw is not None and igw.get("vpc_id") == vpc_id


def node_join_problems(subnet_ids, subnets, route_tables, nat_gateways, internet_gateways,
                       vpc_endpoints, endpoint_private_access, region):
    """Why nodes launched in each of ``subnet_ids`` could not join the cluster: {subnet_id: reason}
    (empty: every subnet gives its nodes a path). Plain data in, so it is testable without moto:

    ``subnets``: {id: {"vpc_id", "map_public_ip_on_launch"}}; ``route_tables``: [{"id", "vpc_id",
    "main", "subnet_ids", "routes": [{"destination", "target"}]}]; ``nat_gateways``: {id: {"state",
    "subnet_id", "connectivity_type"}}; ``internet_gateways``: {id: {"vpc_id" (attached) or None}};
    ``vpc_endpoints``: [{"vpc_id", "service_name", "type" (Interface/Gateway), "state",
    "route_table_ids", "private_dns_enabled" (None: AWS's default, on)}].

    A subnet gives a path when its route table sends 0.0.0.0/0 to an ``available`` public NAT
    gateway that itself sits in a subnet routed to the VPC's attached internet gateway (private
    subnet), or to the attached internet gateway with MapPublicIpOnLaunch on (public subnet), or
    when the cluster has private endpoint access and the VPC has the endpoints in
    PRIVATE_INTERFACE_SERVICES / PRIVATE_GATEWAY_SERVICES (the gateway one on the subnet's route
    table). Rule for a node group over several subnets: EKS spreads instances over all of them and
    the group fails when instances fail to join, so ONE subnet without a path fails the group.
    """
    problems = {}
    for subnet_id in subnet_ids:
        subnet = subnets.get(subnet_id)
        if subnet is None:
            problems[subnet_id] = "subnet does not exist"
            continue
        vpc_id = subnet.get("vpc_id")
        table = _route_table_of(subnet_id, vpc_id, route_tables)
        target = _default_target(table) or ""
        reasons = []
        if target.startswith("nat-"):
            nat = nat_gateways.get(target)
            if nat is None or nat.get("state") != "available":
                reasons.append("its 0.0.0.0/0 route goes to NAT gateway %s, which is %s"
                               % (target, "gone" if nat is None else nat.get("state")))
            elif (nat.get("connectivity_type") or "public") != "public":
                reasons.append("its 0.0.0.0/0 route goes to private NAT gateway %s" % target)
            else:
                nat_subnet = subnets.get(nat.get("subnet_id")) or {}
                nat_target = _default_target(_route_table_of(nat.get("subnet_id"), nat_subnet.get("vpc_id"),
                                                             route_tables)) or ""
                if not (nat_target.startswith("igw-") and _igw_usable(nat_target, vpc_id, internet_gateways)):
                    reasons.append("NAT gateway %s sits in subnet %s, which has no route to an attached "
                                   "internet gateway" % (target, nat.get("subnet_id")))
                else:
                    continue
        elif target.startswith("igw-"):
            if not _igw_usable(target, vpc_id, internet_gateways):
                reasons.append("its 0.0.0.0/0 route goes to internet gateway %s, which is not attached to %s"
                               % (target, vpc_id))
            elif not subnet.get("map_public_ip_on_launch"):
                reasons.append("its 0.0.0.0/0 route goes to an internet gateway but MapPublicIpOnLaunch is off "
                               "(instances get no public IP)")
            else:
                continue
        else:
            reasons.append("its route table %s has no 0.0.0.0/0 route to a NAT or internet gateway"
                           % ((table or {}).get("id") or "(none)"))
        if endpoint_private_access:
            missing = []
            for service in PRIVATE_INTERFACE_SERVICES + PRIVATE_GATEWAY_SERVICES:
                name = "com.amazonaws.%s.%s" % (region, service)
                gateway = service in PRIVATE_GATEWAY_SERVICES
                if not any(e.get("vpc_id") == vpc_id and e.get("service_name") == name
                           and e.get("state") == "available"
                           and (e.get("type") or "").lower() == ("gateway" if gateway else "interface")
                           and (table is not None and table.get("id") in (e.get("route_table_ids") or ())
                                if gateway else e.get("private_dns_enabled") is not False)
                           for e in vpc_endpoints):
                    missing.append(name)
            if not missing:
                continue
            reasons.append("the VPC endpoints for private access are incomplete (missing %s)" % ", ".join(missing))
        else:
            reasons.append("the cluster has no private endpoint access")
        problems[subnet_id] = "; ".join(reasons)
    return problems


def _network_of(backend, cluster, subnet_ids):
    """node_join_problems' inputs, read from moto's EC2 backend in this process."""
    ec2 = _ec2(backend)
    subnets = {}
    for zone_subnets in list(ec2.subnets.values()):
        for subnet in list(zone_subnets.values()):
            subnets[subnet.id] = {"vpc_id": subnet.vpc_id,
                                  "map_public_ip_on_launch": bool(subnet.map_public_ip_on_launch)}
    route_tables = []
    for table in list(ec2.route_tables.values()):
        routes = []
        for route in list(table.routes):
            target = None
            if route.nat_gateway is not None:
                target = route.nat_gateway.id
            elif route.gateway is not None:
                target = route.gateway.id
            routes.append({"destination": route.destination_cidr_block, "target": target})
        route_tables.append({"id": table.id, "vpc_id": table.vpc_id, "main": table.main_association_id is not None,
                             "subnet_ids": [t for t in list(table._associations.values()) if t.startswith("subnet-")],
                             "routes": routes})
    # moto keeps ConnectivityType None when the call left it out; AWS's default is public
    nat_gateways = {n.id: {"state": n.state, "subnet_id": n.subnet_id,
                           "connectivity_type": n.connectivity_type or "public"}
                    for n in list(ec2.nat_gateways.values())}
    internet_gateways = {g.id: {"vpc_id": g.vpc.id if g.vpc else None}
                         for g in list(ec2.internet_gateways.values())}
    endpoints = [{"vpc_id": e.vpc_id, "service_name": e.service_name, "type": e.vpc_endpoint_type,
                  "state": e.state, "route_table_ids": list(e.route_table_ids or []),
                  "private_dns_enabled": e.private_dns_enabled}
                 for e in list(ec2.vpc_end_points.values())]
    private = bool((cluster.resources_vpc_config or {}).get("endpointPrivateAccess"))
    return node_join_problems(subnet_ids, subnets, route_tables, nat_gateways, internet_gateways, endpoints,
                              private, backend.region_name)


# ---------------------------------------------------------------- secrets encryption

# EKS API reference (Provider.keyArn): the key is "symmetric and created in the same Region as the cluster"; EKS
# checks it (DescribeKey, CreateGrant with the caller's credentials) when the cluster is created or the config
# associated, and answers InvalidParameterException. The emulator reads moto's KMS backend in this process.
KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):([0-9]{12}):(key|alias)/(.+)$")


def check_encryption_config(backend, name, encryption_config):
    """InvalidParameterException for an encryptionConfig EKS would refuse; returns it normalised."""
    if not encryption_config:
        return []
    if len(encryption_config) != 1:
        raise _invalid("Only one encryption configuration is supported", cluster=name)
    entry = encryption_config[0] or {}
    if list(entry.get("resources") or []) != ["secrets"]:
        raise _invalid("Invalid resources %s in encryptionConfig: the only resource EKS encrypts is secrets"
                       % entry.get("resources"), cluster=name)
    key_arn = (entry.get("provider") or {}).get("keyArn")
    if not key_arn:
        raise _invalid("KeyArn is required", cluster=name)
    match = KMS_KEY_ARN_RE.match(key_arn)
    if not match:
        raise _invalid("Invalid KMS key ARN %s" % key_arn, cluster=name)
    region, account, kind, ident = match.groups()
    if region != backend.region_name:
        raise _invalid("KMS key %s is in %s: the key must be in the same region as the cluster (%s)"
                       % (key_arn, region, backend.region_name), cluster=name)
    from moto.kms.models import kms_backends
    kms = kms_backends[account][region]
    key = None
    try:
        key_id = kms.any_id_to_key_id(("alias/" if kind == "alias" else "") + ident)
        key = kms.keys.get(key_id)
    except Exception:  # pylint: disable=broad-except
        # moto raises its own NotFound types
        key = None
    if key is None:
        raise _invalid("KMS key %s does not exist (or cannot be used by the caller)" % key_arn, cluster=name)
    if key.key_state != "Enabled":
        raise _invalid("KMS key %s is %s: EKS needs an enabled key" % (key_arn, key.key_state), cluster=name)
    if key.key_spec != "SYMMETRIC_DEFAULT" or (key.key_usage or "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        raise _invalid("KMS key %s is not a symmetric encryption key (%s, %s): EKS needs a symmetric key"
                       % (key_arn, key.key_spec, key.key_usage), cluster=name)
    return [{"resources": ["secrets"], "provider": {"keyArn": key_arn}}]


def associate_encryption_config(self, cluster_name, encryption_config):
    cluster = _get_cluster(self, cluster_name)
    if cluster.encryption_config:  # EKS: once on, never removed nor changed
        raise _invalid("Encryption is already enabled on the cluster", cluster=cluster_name)
    _require_active(cluster, "Cluster %s" % cluster_name)
    config = check_encryption_config(self, cluster_name, encryption_config)
    if not config:
        raise _invalid("encryptionConfig is required", cluster=cluster_name)
    update = _new_update("AssociateEncryptionConfig", [("EncryptionConfig", config)],
                         operation="AssociateEncryptionConfig")
    cluster.updates[update["id"]] = update
    cluster.status = "UPDATING"
    LIFECYCLE.later(LIFECYCLE.update_delay, _finish_update, cluster, update, {"encryption_config": config})
    return update


# ---------------------------------------------------------------- backend methods

_orig = {}


def create_cluster(self, name, role_arn, resources_vpc_config, version=None, upgrade_policy=None, **kw):
    version = version or DEFAULT_VERSION
    if version not in SUPPORTED_VERSIONS:
        raise _invalid("unsupported Kubernetes version %s; supported: %s"
                       % (version, ", ".join(SUPPORTED_VERSIONS)), cluster=name)
    support = (upgrade_policy or {}).get("supportType") or "EXTENDED"  # EKS's default: extended support on
    if support not in SUPPORT_TYPES:
        raise _invalid("Invalid upgradePolicy.supportType %s" % support, cluster=name)
    if name in self.clusters:
        raise _in_use(eks_models.CLUSTER_EXISTS_MSG.format(clusterName=name), cluster=name)
    self._validate_role_exists(role_arn)
    kw["encryption_config"] = check_encryption_config(self, name, kw.get("encryption_config"))
    vpc = _resolve_vpc(self, name, resources_vpc_config)
    kw["logging"] = _normalise_logging(None, kw.get("logging"))
    cluster = _orig["create_cluster"](self, name=name, role_arn=role_arn,
                                      resources_vpc_config=vpc, version=version, **kw)
    cluster.status = "CREATING"
    cluster.endpoint = None
    cluster.certificate_authority = {}
    cluster.health = {"issues": []}
    cluster.updates = {}
    cluster.platformVersion = "eks.1"
    cluster.access_config = {"authenticationMode": "API_AND_CONFIG_MAP",
                             "bootstrapClusterCreatorAdminPermissions": True}
    cluster.upgrade_policy = {"supportType": support}
    cluster.creator_arn = None
    cluster.region_name = self.region_name
    cluster.account_id = self.account_id
    started = time.monotonic()
    inject_failure = LIFECYCLE.take_failure("CreateCluster")

    def come_up(cluster=cluster):
        # runs on a worker thread without the lock while the API server starts
        if inject_failure:  # fault kind "failed": no API server, FAILED after the ready delay
            time.sleep(LIFECYCLE.ready_delay)
            with _lock:
                cluster.status = "FAILED"
                cluster.health = {"issues": [{
                    "code": "ClusterUnreachable", "resourceIds": [cluster.name],
                    "message": "The control plane of %s could not be created (injected fault)" % cluster.name}]}
            return
        try:
            info = LIFECYCLE.on_cluster_create(cluster) if LIFECYCLE.on_cluster_create else None
        except Exception as exc:
            with _lock:
                cluster.status = "FAILED"
                cluster.health = {"issues": [{"code": "ClusterUnreachable", "message": str(exc)}]}
            return
        left = LIFECYCLE.ready_delay - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)
        with _lock:
            if cluster.status != "CREATING":
                return
            if info:
                cluster.endpoint = info["endpoint"]
                cluster.certificate_authority = {"data": info["ca_data"]}
            else:
                cluster.endpoint = "https://%s.gr7.%s.eks.amazonaws.com" % (
                    uuid.uuid4().hex[:32].upper(), self.region_name)
            cluster.status = "ACTIVE"

    threading.Thread(target=come_up, daemon=True).start()
    return cluster


def _validate_role_exists(self, role_arn):
    eks_models.validate_role_arn(role_arn)
    from moto.iam.models import iam_backends
    role_name = role_arn.split("/")[-1]
    try:
        iam_backends[self.account_id][self.partition].get_role(role_name)
    except Exception:
        raise _invalid("Role with arn %s does not exist or cannot be assumed by EKS" % role_arn)


def delete_cluster(self, name):
    cluster = _get_cluster(self, name)
    if cluster.nodegroups:
        raise _in_use(eks_models.CLUSTER_IN_USE_MSG, cluster=name,
                      nodegroup=",".join(sorted(cluster.nodegroups)))
    if cluster.status == "DELETING":
        return cluster
    cluster.status = "DELETING"

    def gone(cluster=cluster, backend=self):
        if LIFECYCLE.on_cluster_delete:
            try:
                LIFECYCLE.on_cluster_delete(cluster)
            except Exception as exc:
                LIFECYCLE.errors.append("down %s: %s" % (cluster.name, exc))
        sg = (cluster.resources_vpc_config or {}).get("clusterSecurityGroupId")
        if sg:
            try:
                _ec2(backend).delete_security_group(group_id=sg)
            except Exception as exc:
                LIFECYCLE.errors.append("delete sg %s: %s" % (sg, exc))
        if backend.clusters.get(cluster.name) is cluster:
            backend.clusters.pop(cluster.name)
            backend.cluster_count -= 1

    LIFECYCLE.later(LIFECYCLE.delete_delay, gone)
    return cluster


def create_nodegroup(self, cluster_name, nodegroup_name, **kw):
    cluster = _get_cluster(self, cluster_name)
    _validate_scaling(kw.get("scaling_config"), nodegroup_name)
    if not kw.get("subnets"):
        raise _invalid("subnets must be given", nodegroup=nodegroup_name)
    version = kw.get("version") or cluster.version
    if _minor(version) is None or _minor(version) > _minor(cluster.version):
        raise _invalid("Node group version %s can't be newer than cluster version %s"
                       % (version, cluster.version), nodegroup=nodegroup_name)
    kw["version"] = version
    kw.setdefault("release_version", None)
    kw["release_version"] = kw["release_version"] or "%s.0-20250101" % version
    if kw.get("node_role"):
        self._validate_role_exists(kw["node_role"])
    nodegroup = _orig["create_nodegroup"](self, cluster_name=cluster_name,
                                          nodegroup_name=nodegroup_name, **kw)
    nodegroup.status = "CREATING"
    nodegroup.scaling_config = dict(nodegroup.scaling_config)
    nodegroup.labels = dict(nodegroup.labels or {})
    nodegroup.taints = list(nodegroup.taints or [])
    nodegroup.tags = dict(nodegroup.tags or {})

    inject_failure = LIFECYCLE.take_failure("CreateNodegroup")

    def active(ng=nodegroup, backend=self, cluster=cluster):
        if ng.status != "CREATING":
            return
        if inject_failure:
            ng.status = "CREATE_FAILED"
            ng.health = {"issues": [{"code": "AsgInstanceLaunchFailures", "resourceIds": [ng.nodegroup_name],
                                     "message": "Instances failed to launch (injected fault)"}]}
            return
        try:
            problems = _network_of(backend, cluster, list(ng.subnets or []))
        except Exception as exc:  # the check cannot run: the node group fails with the reason
            problems = {"(emulator)": "the node join check could not read the network: %s" % exc}
        if problems:
            # resourceIds: the subnets whose instances would not join (the emulator runs no instances);
            # the reasons go to /_sandbox/status (node_join_failures), the message stays EKS's own
            ng.status = "CREATE_FAILED"
            ng.health = {"issues": [{"code": NODE_JOIN_CODE, "message": NODE_JOIN_MESSAGE,
                                     "resourceIds": sorted(problems)}]}
            LIFECYCLE.node_join_failures.append({"cluster": cluster.name, "nodegroup": ng.nodegroup_name,
                                                 "subnets": dict(problems)})
            return
        ng.status = "ACTIVE"

    LIFECYCLE.later(LIFECYCLE.ready_delay, active)
    return nodegroup


def delete_nodegroup(self, cluster_name, nodegroup_name):
    cluster = _get_cluster(self, cluster_name)
    nodegroup = _get_nodegroup(cluster, nodegroup_name)
    if nodegroup.status == "DELETING":
        return nodegroup
    nodegroup.status = "DELETING"

    def gone(cluster=cluster, ng=nodegroup):
        if cluster.nodegroups.get(ng.nodegroup_name) is ng:
            cluster.nodegroups.pop(ng.nodegroup_name)
            cluster.nodegroup_count -= 1

    LIFECYCLE.later(LIFECYCLE.delete_delay, gone)
    return nodegroup


def update_cluster_config(self, name, resources_vpc_config=None, logging=None,
                          client_request_token=None, access_config=None, upgrade_policy=None, **_ignored):
    cluster = _get_cluster(self, name)
    _require_active(cluster, "Cluster %s" % name)
    params, changes = [], {}
    if resources_vpc_config:
        if "subnetIds" in resources_vpc_config or "securityGroupIds" in resources_vpc_config:
            # Supported by EKS since 2023 but never by this module; keep the emulator strict so a
            # regression that sends them shows up.
            raise _invalid("subnetIds/securityGroupIds updates are not supported by the sandbox",
                           cluster=name)
        merged = dict(cluster.resources_vpc_config)
        merged.update(resources_vpc_config)
        if not merged.get("endpointPublicAccess") and not merged.get("endpointPrivateAccess"):
            raise _invalid("Cluster must have either public or private API endpoint access",
                           cluster=name)
        changes["resources_vpc_config"] = merged
        for key, value in resources_vpc_config.items():
            params.append((key[0].upper() + key[1:], value))
    if logging:
        changes["logging"] = _normalise_logging(cluster.logging, logging)
        params.append(("ClusterLogging", logging.get("clusterLogging")))
    if access_config:
        mode = access_config.get("authenticationMode")
        if mode:
            current = cluster.access_config.get("authenticationMode")
            if mode not in AUTH_MODES:
                raise _invalid("Invalid authenticationMode %s" % mode, cluster=name)
            order = AUTH_MODES.index
            # EKS only lets you move CONFIG_MAP -> API_AND_CONFIG_MAP -> API
            if (current, mode) not in (("CONFIG_MAP", "API_AND_CONFIG_MAP"),
                                       ("API_AND_CONFIG_MAP", "API"), (current, current)):
                raise _invalid("Unsupported authentication mode update from %s to %s"
                               % (current, mode), cluster=name)
            del order
            changes["access_config"] = dict(cluster.access_config, authenticationMode=mode)
            params.append(("AuthenticationMode", mode))
    if upgrade_policy:
        support = upgrade_policy.get("supportType")
        if support not in SUPPORT_TYPES:
            raise _invalid("Invalid upgradePolicy.supportType %s" % support, cluster=name)
        row = dict((r["clusterVersion"], r) for r in cloud_versions.EKS_VERSIONS).get(cluster.version) or {}
        if support == "STANDARD" and row.get("status") == "EXTENDED_SUPPORT":
            # AWS: a cluster past its standard support cannot go back to the STANDARD policy
            raise _invalid("Cluster %s runs version %s, which is in extended support; upgrade it to a version in "
                           "standard support before setting supportType STANDARD" % (name, cluster.version),
                           cluster=name)
        changes["upgrade_policy"] = {"supportType": support}
        params.append(("UpgradePolicy", support))
    if not params:
        raise _invalid("No changes needed", cluster=name)
    kind = "UpgradePolicyUpdate" if upgrade_policy and len(params) == 1 else "AccessConfigUpdate" if access_config and len(params) == 1 else (
        "LoggingUpdate" if logging and not resources_vpc_config else "EndpointAccessUpdate")
    update = _new_update(kind, params, operation="UpdateClusterConfig")
    cluster.updates[update["id"]] = update
    cluster.status = "UPDATING"
    LIFECYCLE.later(LIFECYCLE.update_delay, _finish_update, cluster, update, changes)
    return update


def update_cluster_version(self, name, version, client_request_token=None):
    cluster = _get_cluster(self, name)
    _require_active(cluster, "Cluster %s" % name)
    current, wanted = _minor(cluster.version), _minor(version)
    if wanted is None or version not in SUPPORTED_VERSIONS or wanted != current + 1:
        raise _invalid("Unsupported Kubernetes minor version update from %s to %s"
                       % (cluster.version, version), cluster=name)
    for ng in cluster.nodegroups.values():
        if _minor(ng.version) < current:
            raise _invalid("Nodegroup %s must be updated to match cluster version %s before "
                           "updating cluster version" % (ng.nodegroup_name, cluster.version),
                           cluster=name)
    update = _new_update("VersionUpdate", [("Version", version), ("PlatformVersion", "eks.1")],
                         operation="UpdateClusterVersion")
    cluster.updates[update["id"]] = update
    cluster.status = "UPDATING"
    LIFECYCLE.later(LIFECYCLE.update_delay, _finish_update, cluster, update,
                    {"version": version, "platformVersion": "eks.1"})
    return update


def update_nodegroup_config(self, cluster_name, nodegroup_name, labels=None, taints=None,
                            scaling_config=None, **kw):
    cluster = _get_cluster(self, cluster_name)
    nodegroup = _get_nodegroup(cluster, nodegroup_name)
    _require_active(nodegroup, "Nodegroup %s" % nodegroup_name)
    merged = dict(nodegroup.scaling_config)
    merged.update(scaling_config or {})
    _validate_scaling(merged, nodegroup_name)
    params = []
    if labels:
        params.append(("LabelsToAdd", labels.get("addOrUpdateLabels")))
        params.append(("LabelsToRemove", labels.get("removeLabels")))
    if taints:
        params.append(("TaintsToAdd", taints.get("addOrUpdateTaints")))
        params.append(("TaintsToRemove", taints.get("removeTaints")))
    for key in ("minSize", "maxSize", "desiredSize"):
        if scaling_config and key in scaling_config:
            params.append((key[0].upper() + key[1:], scaling_config[key]))
    params = [(k, v) for k, v in params if v is not None]
    if not params:
        raise _invalid("No changes needed", nodegroup=nodegroup_name)
    update = _new_update("ConfigUpdate", params, nodegroup=nodegroup_name, operation="UpdateNodegroupConfig")
    cluster.updates[update["id"]] = update
    nodegroup.status = "UPDATING"

    def apply():
        if update.get("_fail"):
            _finish_update(nodegroup, update, {})
            return
        _orig["update_nodegroup_config"](self, cluster_name=cluster_name,
                                         nodegroup_name=nodegroup_name, labels=labels,
                                         taints=taints, scaling_config=scaling_config, **kw)
        _finish_update(nodegroup, update, {})

    LIFECYCLE.later(LIFECYCLE.update_delay, apply)
    return update


def update_nodegroup_version(self, cluster_name, nodegroup_name, version=None,
                             release_version=None, force=False, **_ignored):
    cluster = _get_cluster(self, cluster_name)
    nodegroup = _get_nodegroup(cluster, nodegroup_name)
    _require_active(nodegroup, "Nodegroup %s" % nodegroup_name)
    version = version or cluster.version
    if _minor(version) is None or _minor(version) > _minor(cluster.version) \
            or _minor(version) < _minor(nodegroup.version):
        raise _invalid("Requested Nodegroup version %s is invalid (cluster %s, nodegroup %s)"
                       % (version, cluster.version, nodegroup.version), nodegroup=nodegroup_name)
    release = release_version or "%s.0-20250101" % version
    if version == nodegroup.version and release == nodegroup.release_version:
        raise _invalid("Nodegroup %s is already at version %s" % (nodegroup_name, version),
                       nodegroup=nodegroup_name)
    update = _new_update("VersionUpdate", [("Version", version), ("ReleaseVersion", release)],
                         nodegroup=nodegroup_name, operation="UpdateNodegroupVersion")
    cluster.updates[update["id"]] = update
    nodegroup.status = "UPDATING"
    LIFECYCLE.later(LIFECYCLE.update_delay, _finish_update, nodegroup, update,
                    {"version": version, "release_version": release, "modified_at": utcnow()})
    return update


def describe_update(self, name, update_id, nodegroup_name=None):
    cluster = _get_cluster(self, name)
    update = cluster.updates.get(update_id)
    if update is None or update["_nodegroup"] != nodegroup_name:
        raise _not_found("No update found for ID: %s" % update_id, cluster=name)
    return update


def list_updates(self, name, nodegroup_name=None):
    cluster = _get_cluster(self, name)
    if nodegroup_name:
        _get_nodegroup(cluster, nodegroup_name)
    return [u["id"] for u in cluster.updates.values() if u["_nodegroup"] == nodegroup_name]


def _find_taggable(self, arn):
    for cluster in self.clusters.values():
        if cluster.arn == arn:
            return cluster
        for ng in cluster.nodegroups.values():
            if ng.arn == arn:
                return ng
    raise _not_found("Resource was not found: %s" % arn)


def tag_resource(self, resource_arn, tags):
    _find_taggable(self, resource_arn).tags.update(tags or {})


def untag_resource(self, resource_arn, tag_keys):
    target = _find_taggable(self, resource_arn)
    for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
        target.tags.pop(key, None)


def list_tags_for_resource(self, resource_arn):
    return _find_taggable(self, resource_arn).tags


# ---------------------------------------------------------------- response methods

def _r_create_cluster(self):
    access = self._get_param("accessConfig") or {}
    if access.get("authenticationMode") == "CONFIG_MAP" and access.get("bootstrapClusterCreatorAdminPermissions") is False:
        raise _invalid("bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to "
                       "CONFIG_MAP", cluster=self._get_param("name"))
    with _lock:
        cluster = self.eks_backend.create_cluster(
            name=self._get_param("name"), version=self._get_param("version"),
            role_arn=self._get_param("roleArn"),
            resources_vpc_config=self._get_param("resourcesVpcConfig"),
            kubernetes_network_config=self._get_param("kubernetesNetworkConfig"),
            logging=self._get_param("logging"),
            client_request_token=self._get_param("clientRequestToken"),
            tags=self._get_param("tags"), encryption_config=self._get_param("encryptionConfig"),
            remote_network_config=self._get_param("remoteNetworkConfig"),
            upgrade_policy=self._get_param("upgradePolicy"))
        mode = access.get("authenticationMode")
        if mode:
            if mode not in AUTH_MODES:
                raise _invalid("Invalid authenticationMode %s" % mode)
            cluster.access_config["authenticationMode"] = mode
        if "bootstrapClusterCreatorAdminPermissions" in access:
            cluster.access_config["bootstrapClusterCreatorAdminPermissions"] = bool(
                access["bootstrapClusterCreatorAdminPermissions"])
        cluster.creator_access_key = self.get_access_key()
        creator = LIFECYCLE.principal_of(cluster.creator_access_key) if LIFECYCLE.principal_of else None
        cluster.creator_arn = creator
        # CONFIG_MAP: the creator is admin through EKS's hidden aws-auth mapping; API modes: through its entry
        cluster.creator_config_map_admin = cluster.access_config.get("authenticationMode") == "CONFIG_MAP"
        cluster.access_entries = {}
        bootstrap_creator_entry(self.eks_backend, cluster, creator)
        return ActionResult({"cluster": cluster})


def describe_cluster_versions(cluster_versions=None, default_only=False, include_all=False):
    """DescribeClusterVersions from the table: every offered version (newest first), or the ones asked."""
    def day(text):
        return datetime.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    rows = []
    for row in cloud_versions.EKS_VERSIONS:
        version = row["clusterVersion"]
        if cluster_versions and version not in cluster_versions:
            continue
        if default_only and version != DEFAULT_VERSION:
            continue
        rows.append({"clusterVersion": version, "clusterType": "eks", "defaultPlatformVersion": "eks.1",
                     "defaultVersion": version == DEFAULT_VERSION, "status": row["status"],
                     "versionStatus": row["status"], "kubernetesPatchVersion": version + ".0",
                     "releaseDate": day(row["releaseDate"]),
                     "endOfStandardSupportDate": day(row["endOfStandardSupportDate"]),
                     "endOfExtendedSupportDate": day(row["endOfExtendedSupportDate"])})
    return rows


def _r_describe_cluster_versions(self):
    query = self.querystring  # a GET: every parameter is in the query string, lists repeated
    rows = describe_cluster_versions(query.get("clusterVersions") or [],
                                     (query.get("defaultOnly") or [""])[0].lower() == "true",
                                     (query.get("includeAll") or [""])[0].lower() == "true")
    return ActionResult({"clusterVersions": rows})


def _locked(name):
    original = getattr(eks_responses.EKSResponse, name)

    def wrapper(self):
        with _lock:
            return original(self)

    wrapper.__name__ = name
    return wrapper


def _r_update_cluster_config(self):
    with _lock:
        update = self.eks_backend.update_cluster_config(
            name=self._get_param("name"),
            resources_vpc_config=self._get_param("resourcesVpcConfig"),
            logging=self._get_param("logging"),
            client_request_token=self._get_param("clientRequestToken"),
            access_config=self._get_param("accessConfig"),
            upgrade_policy=self._get_param("upgradePolicy"))
        return ActionResult({"update": _public_update(update)})


def _r_update_cluster_version(self):
    with _lock:
        update = self.eks_backend.update_cluster_version(
            name=self._get_param("name"), version=self._get_param("version"))
        return ActionResult({"update": _public_update(update)})


def _r_update_nodegroup_config(self):
    with _lock:
        update = self.eks_backend.update_nodegroup_config(
            cluster_name=self._get_param("name"),
            nodegroup_name=self._get_param("nodegroupName"),
            labels=self._get_param("labels"), taints=self._get_param("taints"),
            scaling_config=self._get_param("scalingConfig"),
            update_config=self._get_param("updateConfig"))
        return ActionResult({"update": _public_update(update)})


def _r_update_nodegroup_version(self):
    with _lock:
        update = self.eks_backend.update_nodegroup_version(
            cluster_name=self._get_param("name"),
            nodegroup_name=self._get_param("nodegroupName"),
            version=self._get_param("version"),
            release_version=self._get_param("releaseVersion"),
            force=self._get_param("force"))
        return ActionResult({"update": _public_update(update)})


def _r_describe_update(self):
    with _lock:
        update = self.eks_backend.describe_update(
            name=self._get_param("name"), update_id=self._get_param("updateId"),
            nodegroup_name=self._get_param("nodegroupName"))
        return ActionResult({"update": _public_update(update)})


def _r_list_updates(self):
    with _lock:
        ids = self.eks_backend.list_updates(name=self._get_param("name"),
                                            nodegroup_name=self._get_param("nodegroupName"))
        return ActionResult({"updateIds": ids})


def _r_associate_encryption_config(self):
    with _lock:
        update = self.eks_backend.associate_encryption_config(
            cluster_name=self._get_param("name"), encryption_config=self._get_param("encryptionConfig"))
        return ActionResult({"update": _public_update(update)})


def _r_tag_resource(self):
    with _lock:
        self.eks_backend.tag_resource(self._extract_arn_from_path(), self._get_param("tags"))
        return EmptyResult()


def _elb_create_load_balancer_response(self):
    """Report the DNS name the sandbox's LB controller chose (tag) instead of moto's."""
    result = _orig["elb_create_load_balancer_response"](self)
    name = self._get_param("LoadBalancerName")
    wanted = None
    for tag in self._get_param("Tags", []) or []:
        if tag.get("Key") == "sandbox.multicloud.mesh/dns-name":
            wanted = tag.get("Value")
    balancer = self.elb_backend.load_balancers.get(name)
    if balancer is not None:
        balancer.dns_name = wanted or "%s-%010d.%s.elb.amazonaws.com" % (
            name, int(uuid.uuid5(uuid.NAMESPACE_DNS, name).int % 10 ** 10),
            self.elb_backend.region_name)
        return ActionResult({"DNSName": balancer.dns_name})
    return result


# ---------------------------------------------------------------- access entries (EKS access management API)

# moto 5.2 has no access entries. EKS's API: CreateAccessEntry / DescribeAccessEntry / ListAccessEntries /
# UpdateAccessEntry / DeleteAccessEntry, AssociateAccessPolicy / DisassociateAccessPolicy /
# ListAssociatedAccessPolicies, ListAccessPolicies, with EKS's error codes. The token webhook (aws_emulator.py)
# maps a principal to its entry; the authorization webhook answers from the entry's associated policies
# (access_decision below).
ACCESS_POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
# name -> (what it allows; see access_decision)
ACCESS_POLICIES = {
    "AmazonEKSClusterAdminPolicy": "everything (cluster-admin)",
    "AmazonEKSAdminPolicy": "every verb on namespaced resources; read namespaces",
    "AmazonEKSEditPolicy": "every verb on namespaced resources except RBAC; read namespaces",
    "AmazonEKSViewPolicy": "get/list/watch except Secrets and RBAC",
    "AmazonEKSAdminViewPolicy": "get/list/watch of everything, Secrets too",
}
ACCESS_ENTRY_TYPES = ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX",
                      "HYPERPOD_LINUX")
PRINCIPAL_RE = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):(role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
ASSUMED_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:sts::([0-9]{12}):assumed-role/([\w+=,.@-]+)/([\w+=,.@-]+)$")
RESERVED_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
READ_VERBS = ("get", "list", "watch")
RBAC_GROUP = "rbac.authorization.k8s.io"


def _invalid_request(message, cluster=None):
    return InvalidRequestException(clusterName=cluster, nodegroupName=None, addonName=None, message=message)


def canonical_principal(arn):
    """The principal an access entry names for a caller ARN: an assumed-role session -> its IAM role ARN
    (without path: STS does not keep it), an IAM user or role ARN as it is; None for anything else."""
    match = ASSUMED_ROLE_RE.match(arn or "")
    if match:
        return "arn:aws:iam::%s:role/%s" % (match.group(1), match.group(2))
    return arn if PRINCIPAL_RE.match(arn or "") else None


def _same_principal(entry_arn, arn):
    """An entry's ARN (maybe with a path) and a caller's canonical ARN name the same principal."""
    if entry_arn == arn:
        return True
    a, b = PRINCIPAL_RE.match(entry_arn or ""), PRINCIPAL_RE.match(arn or "")
    return bool(a and b and a.groups() == b.groups())


def find_entry(cluster, arn):
    for principal, entry in list(getattr(cluster, "access_entries", {}).items()):
        if _same_principal(principal, arn):
            return entry
    return None


def _access_cluster(backend, name):
    cluster = _get_cluster(backend, name)
    if cluster.access_config.get("authenticationMode") not in ("API", "API_AND_CONFIG_MAP"):
        raise _invalid_request("The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
                               "to perform this operation.", cluster=name)
    if not hasattr(cluster, "access_entries"):
        cluster.access_entries = {}
    return cluster


def _entry_of(cluster, principal_arn):
    entry = cluster.access_entries.get(principal_arn)
    if entry is None:
        raise _not_found("The specified principalArn could not be found. You can view your available access "
                         "entries with 'list-access-entries'.", cluster=cluster.name)
    return entry


def _principal_exists(backend, principal_arn):
    from moto.iam.models import iam_backends
    match = PRINCIPAL_RE.match(principal_arn)
    iam = iam_backends[match.group(1)][backend.partition]
    try:
        if match.group(2) == "role":
            iam.get_role(match.group(3))
        else:
            iam.get_user(match.group(3))
    except Exception:
        return False
    return True


def _check_identity(username, groups, cluster_name):
    if username is not None:
        if not username or username.startswith(RESERVED_PREFIXES):
            raise _invalid("username %r is invalid: it can't be empty or start with %s"
                           % (username, ", ".join(RESERVED_PREFIXES)), cluster=cluster_name)
    for group in groups or []:
        if not group or group.startswith("system:"):
            raise _invalid("kubernetesGroups: %r is invalid: a group can't be empty or start with system:" % group,
                           cluster=cluster_name)


def create_access_entry(self, cluster_name, principal_arn, kubernetes_groups=None, username=None,
                        entry_type=None, tags=None, bootstrap=False):
    cluster = _access_cluster(self, cluster_name)
    entry_type = entry_type or "STANDARD"
    if not PRINCIPAL_RE.match(principal_arn or ""):
        raise _invalid("The specified principalArn is invalid: %s is not the ARN of an IAM role or user "
                       "(arn:aws:iam::<account>:role/<name> or :user/<name>; not an STS assumed-role ARN)"
                       % principal_arn, cluster=cluster_name)
    if entry_type not in ACCESS_ENTRY_TYPES:
        raise _invalid("The specified type %s is invalid; valid: %s" % (entry_type, ", ".join(ACCESS_ENTRY_TYPES)),
                       cluster=cluster_name)
    if entry_type != "STANDARD":
        if username is not None or kubernetes_groups:
            raise _invalid("username and kubernetesGroups can only be set for access entries of type STANDARD",
                           cluster=cluster_name)
        if ":role/" not in principal_arn:
            raise _invalid("An access entry of type %s must name an IAM role" % entry_type, cluster=cluster_name)
    _check_identity(username, kubernetes_groups, cluster_name)
    if find_entry(cluster, principal_arn) is not None:
        raise _in_use("The specified access entry resource is already in use on this cluster.", cluster=cluster_name)
    if not bootstrap and not _principal_exists(self, principal_arn):
        raise _invalid("The specified principalArn is invalid: invalid principal %s" % principal_arn,
                       cluster=cluster_name)
    match = PRINCIPAL_RE.match(principal_arn)
    if username is None:
        if entry_type == "STANDARD":
            username = principal_arn if match.group(2) == "user" else \
                "arn:aws:sts::%s:assumed-role/%s/{{SessionName}}" % (match.group(1), match.group(3))
        else:
            username = "system:node:{{EC2PrivateDNSName}}"
    groups = list(kubernetes_groups or []) if entry_type == "STANDARD" else ["system:nodes"]
    now = utcnow()
    entry = {"clusterName": cluster_name, "principalArn": principal_arn, "kubernetesGroups": groups,
             "accessEntryArn": "arn:aws:eks:%s:%s:access-entry/%s/%s/%s/%s/%s" % (
                 self.region_name, self.account_id, cluster_name, match.group(2), match.group(1), match.group(3),
                 uuid.uuid4().hex[:12]),
             "createdAt": now, "modifiedAt": now, "tags": dict(tags or {}), "username": username,
             "type": entry_type, "_policies": {}}
    cluster.access_entries[principal_arn] = entry
    return entry


def describe_access_entry(self, cluster_name, principal_arn):
    return _entry_of(_access_cluster(self, cluster_name), principal_arn)


def list_access_entries(self, cluster_name, associated_policy_arn=None):
    cluster = _access_cluster(self, cluster_name)
    return sorted(arn for arn, entry in cluster.access_entries.items()
                  if not associated_policy_arn or associated_policy_arn in entry["_policies"])


def update_access_entry(self, cluster_name, principal_arn, kubernetes_groups=None, username=None):
    cluster = _access_cluster(self, cluster_name)
    entry = _entry_of(cluster, principal_arn)
    if entry["type"] != "STANDARD" and (username is not None or kubernetes_groups is not None):
        raise _invalid("username and kubernetesGroups can only be set for access entries of type STANDARD",
                       cluster=cluster_name)
    _check_identity(username, kubernetes_groups, cluster_name)
    if username is not None:
        entry["username"] = username
    if kubernetes_groups is not None:
        entry["kubernetesGroups"] = list(kubernetes_groups)
    entry["modifiedAt"] = utcnow()
    return entry


def delete_access_entry(self, cluster_name, principal_arn):
    cluster = _access_cluster(self, cluster_name)
    _entry_of(cluster, principal_arn)
    cluster.access_entries.pop(principal_arn)


def _check_scope(scope, cluster_name):
    scope = scope or {}
    kind, namespaces = scope.get("type"), scope.get("namespaces") or []
    if kind not in ("cluster", "namespace"):
        raise _invalid("accessScope.type must be cluster or namespace, not %r" % kind, cluster=cluster_name)
    if kind == "cluster" and namespaces:
        raise _invalid("accessScope.namespaces can't be set when accessScope.type is cluster", cluster=cluster_name)
    if kind == "namespace" and not namespaces:
        raise _invalid("accessScope.namespaces must name at least one namespace when accessScope.type is namespace",
                       cluster=cluster_name)
    for namespace in namespaces:
        if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$|^[a-z0-9][-a-z0-9]*\*$", namespace or ""):
            raise _invalid("accessScope.namespaces: %r is not a namespace name (a trailing * is allowed)" % namespace,
                           cluster=cluster_name)
    return {"type": kind, "namespaces": list(namespaces)}


def associate_access_policy(self, cluster_name, principal_arn, policy_arn, access_scope):
    cluster = _access_cluster(self, cluster_name)
    entry = _entry_of(cluster, principal_arn)
    if not (policy_arn or "").startswith(ACCESS_POLICY_PREFIX) or \
            policy_arn[len(ACCESS_POLICY_PREFIX):] not in ACCESS_POLICIES:
        raise _invalid("The specified policyArn is invalid: %s; EKS access policies are %s<name>, names: %s"
                       % (policy_arn, ACCESS_POLICY_PREFIX, ", ".join(sorted(ACCESS_POLICIES))), cluster=cluster_name)
    if entry["type"] != "STANDARD":
        raise _invalid("Access policies can only be associated with access entries of type STANDARD",
                       cluster=cluster_name)
    scope = _check_scope(access_scope, cluster_name)
    now = utcnow()
    had = entry["_policies"].get(policy_arn)
    # associating an associated policy again replaces its scope (EKS's documented way to change it)
    entry["_policies"][policy_arn] = {"policyArn": policy_arn, "accessScope": scope,
                                      "associatedAt": had["associatedAt"] if had else now, "modifiedAt": now}
    return entry["_policies"][policy_arn]


def disassociate_access_policy(self, cluster_name, principal_arn, policy_arn):
    cluster = _access_cluster(self, cluster_name)
    entry = _entry_of(cluster, principal_arn)
    if policy_arn not in entry["_policies"]:
        raise _not_found("The specified policyArn %s is not associated with this access entry" % policy_arn,
                         cluster=cluster_name)
    entry["_policies"].pop(policy_arn)


def list_associated_access_policies(self, cluster_name, principal_arn):
    cluster = _access_cluster(self, cluster_name)
    return [entry for _arn, entry in sorted(_entry_of(cluster, principal_arn)["_policies"].items())]


def _public_entry(entry):
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def _namespace_in(namespace, patterns):
    return any(namespace == p or (p.endswith("*") and namespace.startswith(p[:-1])) for p in patterns)


def _policy_allows(name, attrs):
    """Whether access policy ``name`` allows one request (resourceAttributes / nonResourceAttributes)."""
    if name == "AmazonEKSClusterAdminPolicy":
        return True
    if attrs.get("non_resource"):
        return False
    verb, group, resource = attrs.get("verb"), attrs.get("group") or "", attrs.get("resource") or ""
    namespaced = bool(attrs.get("namespace"))
    read = verb in READ_VERBS
    if resource == "namespaces" and not namespaced:
        return read
    if name == "AmazonEKSAdminViewPolicy":
        return read
    if name == "AmazonEKSViewPolicy":
        return read and resource != "secrets" and group != RBAC_GROUP
    if not namespaced:
        return False
    if name == "AmazonEKSAdminPolicy":
        return True
    if name == "AmazonEKSEditPolicy":
        return group != RBAC_GROUP
    return False


def access_decision(cluster, principal_arn, attrs):
    """(allowed, reason) for a request of ``principal_arn`` on ``cluster``, from its access entry's associated
    policies. ``attrs``: {"verb", "group", "resource", "namespace", "non_resource"}. A namespace-scoped
    association applies only to requests in one of its namespaces (a trailing * matches a prefix)."""
    if cluster.access_config.get("authenticationMode") not in ("API", "API_AND_CONFIG_MAP"):
        return False, "the cluster's authentication mode has no access entries"
    entry = find_entry(cluster, principal_arn)
    if entry is None:
        return False, "no access entry for %s" % principal_arn
    for policy_arn, association in sorted(entry["_policies"].items()):
        scope = association["accessScope"]
        if scope["type"] == "namespace" and not (attrs.get("namespace")
                                                 and _namespace_in(attrs["namespace"], scope["namespaces"])):
            continue
        name = policy_arn[len(ACCESS_POLICY_PREFIX):]
        if _policy_allows(name, attrs):
            return True, "allowed by %s (%s scope)" % (name, scope["type"])
    return False, "no access policy of %s allows %s" % (principal_arn, attrs.get("verb"))


def bootstrap_creator_entry(backend, cluster, creator_arn):
    """EKS, for a cluster created in API or API_AND_CONFIG_MAP mode with bootstrapClusterCreatorAdminPermissions:
    an access entry for the creator with AmazonEKSClusterAdminPolicy (cluster scope)."""
    principal = canonical_principal(creator_arn)
    if not principal or cluster.access_config.get("authenticationMode") not in ("API", "API_AND_CONFIG_MAP") \
            or not cluster.access_config.get("bootstrapClusterCreatorAdminPermissions"):
        return
    create_access_entry(backend, cluster.name, principal, bootstrap=True)
    associate_access_policy(backend, cluster.name, principal, ACCESS_POLICY_PREFIX + "AmazonEKSClusterAdminPolicy",
                            {"type": "cluster"})


def _r_create_access_entry(self):
    with _lock:
        entry = self.eks_backend.create_access_entry(
            cluster_name=self._get_param("name"), principal_arn=self._get_param("principalArn"),
            kubernetes_groups=self._get_param("kubernetesGroups"), username=self._get_param("username"),
            entry_type=self._get_param("type"), tags=self._get_param("tags"))
        return ActionResult({"accessEntry": _public_entry(entry)})


def _principal_param(self):
    # botocore percent-encodes the ARN in the path ("/" -> %2F); the server decodes it
    from urllib.parse import unquote
    return unquote(self._get_param("principalArn") or "")


def _r_describe_access_entry(self):
    with _lock:
        entry = self.eks_backend.describe_access_entry(self._get_param("name"), _principal_param(self))
        return ActionResult({"accessEntry": _public_entry(entry)})


def _r_list_access_entries(self):
    with _lock:
        arns = self.eks_backend.list_access_entries(self._get_param("name"),
                                                    (self.querystring.get("associatedPolicyArn") or [None])[0])
        return ActionResult({"accessEntries": arns})


def _r_update_access_entry(self):
    with _lock:
        entry = self.eks_backend.update_access_entry(
            self._get_param("name"), _principal_param(self), kubernetes_groups=self._get_param("kubernetesGroups"),
            username=self._get_param("username"))
        return ActionResult({"accessEntry": _public_entry(entry)})


def _r_delete_access_entry(self):
    with _lock:
        self.eks_backend.delete_access_entry(self._get_param("name"), _principal_param(self))
        return ActionResult({})


def _r_associate_access_policy(self):
    with _lock:
        principal = _principal_param(self)
        association = self.eks_backend.associate_access_policy(
            self._get_param("name"), principal, self._get_param("policyArn"), self._get_param("accessScope"))
        return ActionResult({"clusterName": self._get_param("name"), "principalArn": principal,
                             "associatedAccessPolicy": association})


def _r_disassociate_access_policy(self):
    from urllib.parse import unquote
    with _lock:
        self.eks_backend.disassociate_access_policy(self._get_param("name"), _principal_param(self),
                                                    unquote(self._get_param("policyArn") or ""))
        return ActionResult({})


def _r_list_associated_access_policies(self):
    with _lock:
        principal = _principal_param(self)
        rows = self.eks_backend.list_associated_access_policies(self._get_param("name"), principal)
        return ActionResult({"clusterName": self._get_param("name"), "principalArn": principal,
                             "associatedAccessPolicies": rows})


def _r_list_access_policies(self):
    return ActionResult({"accessPolicies": [{"name": n, "arn": ACCESS_POLICY_PREFIX + n}
                                            for n in sorted(ACCESS_POLICIES)]})


# DescribeTags' resource-type names where moto's differ from AWS's (moto: "nat-gateway", "vpc-elastic-ip").
# amazon.aws's ec2_vpc_nat_gateway and ec2_eip read their tags with AWS's names; with moto's, a re-run saw no
# tags, tagged again and reported a change every time (the eks_cluster role was never idempotent).
AWS_TAG_RESOURCE_TYPES = {"nat": "natgateway", "eipalloc": "elastic-ip"}


def _aws_tag_resource_types():
    from moto.ec2 import utils as ec2_utils
    ec2_utils.EC2_PREFIX_TO_RESOURCE.update(AWS_TAG_RESOURCE_TYPES)  # the dict moto's DescribeTags reads


def _sts_caller_identity(self, access_key_id, region):
    """GetCallerIdentity names the emulator's own admin key (not an IAM key in moto) as the token webhook and the
    creator's access entry do (moto's fallback: arn:aws:sts::<account>:user/moto)."""
    user_id, arn, account = _orig["sts_get_caller_identity"](self, access_key_id, region)
    if arn.endswith(":user/moto") and LIFECYCLE.principal_of:
        known = LIFECYCLE.principal_of(access_key_id)
        if known:
            return "AIDASANDBOXADMIN0000", known, account
    return user_id, arn, account


def _kms_accepts_key_arns():
    """KMS's DisableKey, EnableKey, ScheduleKeyDeletion and CancelKeyDeletion take a key ID or a key ARN; moto 5.2
    indexes its keys with what it got (an ARN: KeyError, a 500). amazon.aws.kms_key passes the ARN, so the eks_cluster
    role's KMS key could not be deleted."""
    from moto.kms.models import KmsBackend
    for name in ("disable_key", "enable_key", "schedule_key_deletion", "cancel_key_deletion"):
        original = getattr(KmsBackend, name)

        def by_id(self, key_id, *args, _original=original, **kwargs):
            return _original(self, self.get_key_id(key_id), *args, **kwargs)

        by_id.__name__ = name
        setattr(KmsBackend, name, by_id)


def install(lifecycle=None):
    """Patch moto's EKS/ELB classes (idempotent). Must run before the moto server app is built."""
    global _installed, LIFECYCLE
    if lifecycle is not None:
        LIFECYCLE = lifecycle
        globals()["LIFECYCLE"] = lifecycle
    if _installed:
        return
    _aws_tag_resource_types()
    _kms_accepts_key_arns()
    backend = eks_models.EKSBackend
    for name in ("create_cluster", "create_nodegroup", "update_nodegroup_config"):
        _orig[name] = getattr(backend, name)
    for func in (create_cluster, delete_cluster, create_nodegroup, delete_nodegroup,
                 update_cluster_config, update_cluster_version, update_nodegroup_config,
                 update_nodegroup_version, describe_update, list_updates, tag_resource,
                 untag_resource, list_tags_for_resource, _validate_role_exists, create_access_entry,
                 describe_access_entry, list_access_entries, update_access_entry, delete_access_entry,
                 associate_access_policy, disassociate_access_policy, list_associated_access_policies,
                 associate_encryption_config):
        setattr(backend, func.__name__, func)

    response = eks_responses.EKSResponse
    for name in ("describe_cluster", "describe_nodegroup", "list_clusters", "list_nodegroups",
                 "delete_cluster", "delete_nodegroup", "create_nodegroup", "untag_resource",
                 "list_tags_for_resource"):
        setattr(response, name, _locked(name))
    response.create_cluster = _r_create_cluster
    response.update_cluster_config = _r_update_cluster_config
    response.update_cluster_version = _r_update_cluster_version
    response.update_nodegroup_config = _r_update_nodegroup_config
    response.update_nodegroup_version = _r_update_nodegroup_version
    response.describe_update = _r_describe_update
    response.list_updates = _r_list_updates
    response.tag_resource = _r_tag_resource
    response.describe_cluster_versions = _r_describe_cluster_versions
    response.create_access_entry = _r_create_access_entry
    response.describe_access_entry = _r_describe_access_entry
    response.list_access_entries = _r_list_access_entries
    response.update_access_entry = _r_update_access_entry
    response.delete_access_entry = _r_delete_access_entry
    response.associate_access_policy = _r_associate_access_policy
    response.disassociate_access_policy = _r_disassociate_access_policy
    response.list_associated_access_policies = _r_list_associated_access_policies
    response.list_access_policies = _r_list_access_policies
    response.associate_encryption_config = _r_associate_encryption_config

    dispatch = eks_urls.response.dispatch
    eks_urls.url_paths.update({
        "{0}/cluster-versions$": dispatch,
        "{0}/access-policies$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/access-entries$": dispatch,
        # the principal ARN (and a policy ARN) hold "/" once the server decoded the path
        "{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/updates$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/encryption-config/associate$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$": dispatch,
        "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$":
            dispatch,
    })

    from moto.sts import models as sts_models
    _orig["sts_get_caller_identity"] = sts_models.STSBackend.get_caller_identity
    sts_models.STSBackend.get_caller_identity = _sts_caller_identity

    from moto.elb import responses as elb_responses
    _orig["elb_create_load_balancer_response"] = elb_responses.ELBResponse.create_load_balancer
    elb_responses.ELBResponse.create_load_balancer = _elb_create_load_balancer_response
    _installed = True
