"""Classic ELBs for LoadBalancer Services of EKS-backed sandbox clusters.

``meshsandbox.lbcontroller`` assigns each LoadBalancer Service an ingress hostname; for an
EKS-flavoured cluster it calls this module's ``ensure_elb(state, ns, name, hostname, svc)`` and
``delete_elb(state, ns, name)`` so that the AWS emulator holds a matching classic ELB, as the
in-tree AWS cloud provider does: named after the hostname's first label, in the cluster's
subnets, with its own ``k8s-elb-<name>`` security group, tagged
``kubernetes.io/cluster/<cluster>=owned`` and ``kubernetes.io/service-name=<ns>/<name>``.
A teardown that forgets a Service thus leaves an ELB (and a security group that blocks VPC
deletion) that tests can see.

The controller learns where the emulator is from the cluster's ``extra_env`` (set by the
emulator when it starts the cluster): ``MESH_AWS_ENDPOINT_URL``, ``MESH_AWS_CREDENTIALS_FILE``,
``AWS_REGION``. Clusters started without the emulator have none, and the hook does nothing.
"""

import configparser
import time

PROFILE = "mesh-sandbox"
TAG_CLUSTER = "kubernetes.io/cluster/%s"
TAG_SERVICE = "kubernetes.io/service-name"
# The emulator reports this tag's value as the ELB's DNSName (see aws_eks_ext.py).
TAG_DNS_NAME = "sandbox.multicloud.mesh/dns-name"
_known = {}
_KNOWN_TTL = 15.0
SANDBOX_AGENT = "meshsandbox-lb-controller"


def _clients(endpoint_url, region, credentials_file):
    import boto3
    parser = configparser.ConfigParser()
    parser.read(credentials_file)
    section = parser[PROFILE]
    session = boto3.session.Session(aws_access_key_id=section["aws_access_key_id"],
                                    aws_secret_access_key=section["aws_secret_access_key"],
                                    region_name=region)
    # the emulator counts these calls apart from the client's (aws_emulator.SANDBOX_AGENT)
    from botocore.config import Config
    config = Config(user_agent_extra=SANDBOX_AGENT)
    return (session.client("elb", endpoint_url=endpoint_url, config=config),
            session.client("ec2", endpoint_url=endpoint_url, config=config),
            session.client("eks", endpoint_url=endpoint_url, config=config))


def find_service_elb(elb, cluster, service_ns, service_name):
    key = TAG_CLUSTER % cluster
    names = [d["LoadBalancerName"] for d in
             elb.describe_load_balancers().get("LoadBalancerDescriptions", [])]
    for start in range(0, len(names), 20):
        for desc in elb.describe_tags(LoadBalancerNames=names[start:start + 20])["TagDescriptions"]:
            tags = {t["Key"]: t["Value"] for t in desc.get("Tags", [])}
            if key in tags and tags.get(TAG_SERVICE) == "%s/%s" % (service_ns, service_name):
                return desc["LoadBalancerName"]
    return None


def create_service_elb(endpoint_url, region, credentials_file, cluster, service_ns, service_name,
                       hostname, ports=None):
    """Create (idempotently) the classic ELB of a Service; return its DNS name (= hostname)."""
    elb, ec2, eks = _clients(endpoint_url, region, credentials_file)
    existing = find_service_elb(elb, cluster, service_ns, service_name)
    if existing:
        desc = elb.describe_load_balancers(LoadBalancerNames=[existing])
        return desc["LoadBalancerDescriptions"][0]["DNSName"]
    name = hostname.split(".")[0].rsplit("-", 1)[0][:32]
    vpc = eks.describe_cluster(name=cluster)["cluster"]["resourcesVpcConfig"]
    by_zone = {}
    if vpc.get("subnetIds"):
        for sub in ec2.describe_subnets(SubnetIds=vpc["subnetIds"])["Subnets"]:
            by_zone.setdefault(sub["AvailabilityZone"], sub["SubnetId"])
    group = ec2.create_security_group(
        GroupName="k8s-elb-%s" % name, VpcId=vpc["vpcId"],
        Description="Security group for Kubernetes ELB %s (%s/%s)"
                    % (name, service_ns, service_name),
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [
            {"Key": TAG_CLUSTER % cluster, "Value": "owned"}]}])["GroupId"]
    listeners = [{"Protocol": "TCP", "LoadBalancerPort": int(p.get("port") or 80),
                  "InstanceProtocol": "TCP", "InstancePort": int(p.get("nodePort") or 30000)}
                 for p in (ports or [{"port": 80}])]
    tags = [{"Key": TAG_CLUSTER % cluster, "Value": "owned"},
            {"Key": TAG_SERVICE, "Value": "%s/%s" % (service_ns, service_name)},
            {"Key": TAG_DNS_NAME, "Value": hostname}]
    return elb.create_load_balancer(LoadBalancerName=name, Listeners=listeners,
                                    Subnets=sorted(by_zone.values()), SecurityGroups=[group],
                                    Tags=tags)["DNSName"]


def delete_service_elb(endpoint_url, region, credentials_file, cluster, service_ns, service_name):
    """Delete the Service's ELB and its security group; True when something was deleted."""
    elb, ec2, _eks = _clients(endpoint_url, region, credentials_file)
    name = find_service_elb(elb, cluster, service_ns, service_name)
    if not name:
        return False
    desc = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    elb.delete_load_balancer(LoadBalancerName=name)
    for group in desc.get("SecurityGroups", []):
        try:
            ec2.delete_security_group(GroupId=group)
        except Exception:  # noqa: BLE001 - shared or already gone
            pass
    return True


def _target(state):
    env = state.get("extra_env") or {}
    if not env.get("MESH_AWS_ENDPOINT_URL") or not env.get("MESH_AWS_CREDENTIALS_FILE"):
        return None
    return (env["MESH_AWS_ENDPOINT_URL"], env.get("AWS_REGION", "eu-central-1"),
            env["MESH_AWS_CREDENTIALS_FILE"], env.get("MESH_EKS_CLUSTER", state["name"]))


def ensure_elb(state, service_ns, service_name, hostname, svc=None):
    """lbcontroller hook: make sure the Service's ELB exists (cheap when recently checked)."""
    target = _target(state)
    if target is None:
        return None
    key = (target[3], service_ns, service_name)
    if time.monotonic() - _known.get(key, -_KNOWN_TTL) < _KNOWN_TTL:
        return hostname
    ports = []
    for port in (svc.spec.ports or []) if svc is not None and svc.spec else []:
        ports.append({"port": port.port, "nodePort": port.node_port})
    dns = create_service_elb(target[0], target[1], target[2], target[3], service_ns, service_name,
                             hostname, ports)
    _known[key] = time.monotonic()
    return dns


def delete_elb(state, service_ns, service_name):
    """lbcontroller hook: delete the Service's ELB (and its security group)."""
    target = _target(state)
    if target is None:
        return False
    _known.pop((target[3], service_ns, service_name), None)
    return delete_service_elb(target[0], target[1], target[2], target[3], service_ns, service_name)
