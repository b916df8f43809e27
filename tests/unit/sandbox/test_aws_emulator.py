"""The sandbox's AWS emulator in-process (no API servers): EKS lifecycle and updates, SigV4
checks, the token webhook, fault injection and the ELB mirror."""

import json
import os
import sys
import time

import boto3
import botocore
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
for path in (os.path.join(ROOT, "sandbox"), ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

from meshsandbox import aws_elb  # noqa: E402
from meshsandbox.aws_emulator import inject_fault  # noqa: E402
from ansible_collections.multicloud.mesh.plugins.module_utils import aws  # noqa: E402

REGION = "eu-central-1"
NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def session(admin_session):
    return admin_session


def c(session, emu, service, config=None):
    return session.client(service, endpoint_url=emu.endpoint_url, config=config)


@pytest.fixture(scope="module")
def net(session, emu):
    ec2, iam = c(session, emu, "ec2"), c(session, emu, "iam")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.%d.0/24" % i, AvailabilityZone=REGION + z)["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    role = iam.create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    # nodes in these subnets reach EKS and ECR through a NAT gateway (else node groups end CREATE_FAILED)
    nat_path(ec2, vpc, public_subnet(ec2, vpc, "10.9.100.0/24", igw=attached_igw(ec2, vpc)), main_table(ec2, vpc))
    return {"vpc": vpc, "subnets": subnets, "role": role}


def attached_igw(ec2, vpc):
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    return igw


def public_subnet(ec2, vpc, cidr, igw, zone="a", map_public=True):
    """A subnet with its own route table whose default route goes to the internet gateway."""
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=REGION + zone)["Subnet"]["SubnetId"]
    if map_public:
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    return subnet


def main_table(ec2, vpc):
    (table,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                  {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    return table["RouteTableId"]


def nat_path(ec2, vpc, nat_subnet, table):
    """A NAT gateway (with an EIP) in nat_subnet; table's default route goes to it."""
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=nat_subnet, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    return nat


def wait_status(fn, status, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn() == status:
            return True
        time.sleep(0.05)
    raise AssertionError("status never became %s" % status)


def test_credentials_file_is_private(emu):
    assert os.stat(emu.credentials_file).st_mode & 0o777 == 0o600


def test_cluster_lifecycle_and_updates(session, emu, net):
    eks = c(session, emu, "eks")
    created = eks.create_cluster(name="life", version="1.32", roleArn=net["role"],
                                 resourcesVpcConfig={"subnetIds": net["subnets"]})["cluster"]
    assert created["status"] == "CREATING"
    assert created["resourcesVpcConfig"]["vpcId"] == net["vpc"]
    assert created["resourcesVpcConfig"]["clusterSecurityGroupId"].startswith("sg-")
    wait_status(lambda: eks.describe_cluster(name="life")["cluster"]["status"], "ACTIVE")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        eks.update_cluster_version(name="life", version="1.34")
    assert "Unsupported Kubernetes minor version update from 1.32 to 1.34" in str(err.value)
    update = eks.update_cluster_version(name="life", version="1.33")["update"]
    assert eks.describe_cluster(name="life")["cluster"]["status"] == "UPDATING"
    wait_status(lambda: eks.describe_update(name="life", updateId=update["id"])["update"]["status"], "Successful")
    assert eks.describe_cluster(name="life")["cluster"]["version"] == "1.33"
    eks.update_cluster_config(name="life", resourcesVpcConfig={"publicAccessCidrs": ["10.0.0.0/8"]})
    wait_status(lambda: eks.describe_cluster(name="life")["cluster"]["status"], "ACTIVE")
    vpc = eks.describe_cluster(name="life")["cluster"]["resourcesVpcConfig"]
    assert vpc["publicAccessCidrs"] == ["10.0.0.0/8"] and vpc["subnetIds"] == net["subnets"]  # merged, not replaced

    ng = eks.create_nodegroup(clusterName="life", nodegroupName="ng", nodeRole=net["role"], subnets=net["subnets"],
                              scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1})["nodegroup"]
    assert ng["status"] == "CREATING" and ng["version"] == "1.33"
    wait_status(lambda: eks.describe_nodegroup(clusterName="life", nodegroupName="ng")["nodegroup"]["status"], "ACTIVE")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        eks.update_nodegroup_config(clusterName="life", nodegroupName="ng", scalingConfig={"desiredSize": 5})
    assert "Desired capacity" in str(err.value)
    eks.tag_resource(resourceArn=ng["nodegroupArn"], tags={"team": "mesh"})
    assert eks.describe_nodegroup(clusterName="life", nodegroupName="ng")["nodegroup"]["tags"] == {"team": "mesh"}
    with pytest.raises(botocore.exceptions.ClientError) as err:
        eks.delete_cluster(name="life")
    assert err.value.response["Error"]["Code"] == "ResourceInUseException"
    eks.delete_nodegroup(clusterName="life", nodegroupName="ng")
    eks.get_waiter("nodegroup_deleted").wait(clusterName="life", nodegroupName="ng", WaiterConfig={"Delay": 1})
    assert eks.delete_cluster(name="life")["cluster"]["status"] == "DELETING"
    eks.get_waiter("cluster_deleted").wait(name="life", WaiterConfig={"Delay": 1})


def test_cluster_versions_and_upgrade_policy(session, emu, net):
    """DescribeClusterVersions answers from the one table; a version not in it is refused; extended support
    is EKS's default and can only be left for STANDARD from a version in standard support."""
    from meshsandbox import cloud_versions
    eks = c(session, emu, "eks")
    rows = eks.describe_cluster_versions()["clusterVersions"]
    assert [r["clusterVersion"] for r in rows] == cloud_versions.EKS_OFFERED
    assert [r["clusterVersion"] for r in rows if r["defaultVersion"]] == [cloud_versions.EKS_DEFAULT_VERSION]
    assert dict((r["clusterVersion"], r["status"]) for r in rows)["1.34"] == "EXTENDED_SUPPORT"
    assert rows[0]["endOfStandardSupportDate"].year >= 2027
    assert [r["clusterVersion"] for r in eks.describe_cluster_versions(clusterVersions=["1.33"])["clusterVersions"]] == ["1.33"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        eks.create_cluster(name="old", version="1.31", roleArn=net["role"], resourcesVpcConfig={"subnetIds": net["subnets"]})
    assert "unsupported Kubernetes version 1.31" in str(err.value)
    made = eks.create_cluster(name="pol", version="1.34", roleArn=net["role"],
                              resourcesVpcConfig={"subnetIds": net["subnets"]})["cluster"]
    assert made["upgradePolicy"] == {"supportType": "EXTENDED"}
    wait_status(lambda: eks.describe_cluster(name="pol")["cluster"]["status"], "ACTIVE")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        eks.update_cluster_config(name="pol", upgradePolicy={"supportType": "STANDARD"})
    assert "in extended support" in str(err.value)
    std = eks.create_cluster(name="std", version="1.35", roleArn=net["role"], upgradePolicy={"supportType": "STANDARD"},
                             resourcesVpcConfig={"subnetIds": net["subnets"]})["cluster"]
    assert std["upgradePolicy"] == {"supportType": "STANDARD"}
    for name in ("pol", "std"):
        wait_status(lambda name=name: eks.describe_cluster(name=name)["cluster"]["status"], "ACTIVE")
        eks.delete_cluster(name=name)


def test_create_cluster_validates_subnets_and_role(session, emu, net):
    eks = c(session, emu, "eks")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        eks.create_cluster(name="x", roleArn=net["role"], resourcesVpcConfig={"subnetIds": net["subnets"][:1]})
    assert "at least two different AZs" in str(err.value)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        eks.create_cluster(name="x", roleArn="arn:aws:iam::123456789012:role/none",
                           resourcesVpcConfig={"subnetIds": net["subnets"]})
    assert "does not exist" in str(err.value)


def test_wrong_credentials_are_rejected(emu):
    bad = boto3.session.Session(aws_access_key_id=emu.admin_key, aws_secret_access_key="wrong", region_name=REGION)
    for service, call, code in (("eks", "list_clusters", "SignatureDoesNotMatch"),
                                ("ec2", "describe_vpcs", "AuthFailure"),
                                ("iam", "list_roles", "SignatureDoesNotMatch")):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            getattr(bad.client(service, endpoint_url=emu.endpoint_url, config=NO_RETRY), call)()
        assert err.value.response["Error"]["Code"] == code
    unknown = boto3.session.Session(aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x",
                                    region_name=REGION)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        unknown.client("eks", endpoint_url=emu.endpoint_url).list_clusters()
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_iam_created_keys_work(session, emu):
    iam = c(session, emu, "iam")
    iam.create_user(UserName="ci")
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    user = boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                                 region_name=REGION)
    assert "clusters" in user.client("eks", endpoint_url=emu.endpoint_url).list_clusters()


@pytest.mark.parametrize("service, operation, kind, code", [
    ("eks", "ListClusters", "throttle", "ThrottlingException"),
    ("ec2", "DescribeVpcs", "throttle", "RequestLimitExceeded"),
    ("iam", "ListRoles", "throttle", "Throttling"),
    ("eks", "ListClusters", "500", "InternalFailure"),
    ("eks", "ListClusters", "503", "ServiceUnavailable"),
])
def test_fault_injection(session, emu, service, operation, kind, code):
    inject_fault(emu.endpoint_url, service, operation, count=1, kind=kind)
    client = c(session, emu, service, NO_RETRY)
    call = getattr(client, botocore.xform_name(operation))
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == code
    assert aws.is_retryable(err.value)
    call()  # only the next N calls fail


def test_retrying_client_rides_out_injected_throttling(session, emu):
    inject_fault(emu.endpoint_url, "eks", "ListClusters", count=2, kind="throttle")
    wrapped = aws.RetryingClient(c(session, emu, "eks", NO_RETRY), timeout=30)
    assert "clusters" in wrapped.call("list_clusters")
    assert wrapped.retries == 2


def review(emu, cluster, token):
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                       "spec": {"token": token}}).encode()
    return emu.token_review(cluster, body)["status"]


def test_token_webhook(session, emu, net):
    eks = c(session, emu, "eks")
    eks.create_cluster(name="hook", version="1.32", roleArn=net["role"], resourcesVpcConfig={"subnetIds": net["subnets"]})
    token = aws.eks_token(session, "hook", REGION, emu.endpoint_url)["token"]
    good = review(emu, "hook", token)
    assert good["authenticated"] and "system:masters" in good["user"]["groups"]
    assert not review(emu, "other", token)["authenticated"]
    forged_session = boto3.session.Session(aws_access_key_id=emu.admin_key, aws_secret_access_key="f" * 40,
                                           region_name=REGION)
    forged = aws.eks_token(forged_session, "hook", REGION, emu.endpoint_url)["token"]
    assert "SignatureDoesNotMatch" in review(emu, "hook", forged)["error"]
    assert not review(emu, "hook", "k8s-aws-v1.bm90LWEtdXJs")["authenticated"]
    assert not review(emu, "hook", "Bearer something")["authenticated"]


def test_elb_mirror(session, emu, net):
    eks = c(session, emu, "eks")
    eks.create_cluster(name="lbc", version="1.32", roleArn=net["role"], resourcesVpcConfig={"subnetIds": net["subnets"]})
    state = {"name": "lbc", "extra_env": {"MESH_AWS_ENDPOINT_URL": emu.endpoint_url, "AWS_REGION": REGION,
                                          "MESH_AWS_CREDENTIALS_FILE": emu.credentials_file}}
    hostname = "a0123456789abcdef-0123456789.%s.elb.amazonaws.com" % REGION
    assert aws_elb.ensure_elb(state, "istio-system", "eastwest", hostname) == hostname
    elb = c(session, emu, "elb")
    (desc,) = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    assert desc["LoadBalancerName"] == "a0123456789abcdef" and desc["DNSName"] == hostname
    assert desc["VPCId"] == net["vpc"]
    assert aws_elb.delete_elb(state, "istio-system", "eastwest")
    assert elb.describe_load_balancers()["LoadBalancerDescriptions"] == []
    assert aws_elb.ensure_elb({"name": "plain", "extra_env": {}}, "ns", "svc", hostname) is None


def test_delays_default_to_the_environment(monkeypatch):
    """`meshsandbox clouds up` passes its environment on: MESH_AWS_EMULATOR_*_DELAY set the delays."""
    from meshsandbox import aws_main
    for name in ("READY", "UPDATE", "DELETE"):
        monkeypatch.delenv("MESH_AWS_EMULATOR_%s_DELAY" % name, raising=False)
    args = aws_main.build_parser().parse_args([])
    assert (args.ready_delay, args.update_delay, args.delete_delay) == (2.0, 1.0, 1.0)
    monkeypatch.setenv("MESH_AWS_EMULATOR_READY_DELAY", "7.5")
    monkeypatch.setenv("MESH_AWS_EMULATOR_DELETE_DELAY", "4")
    args = aws_main.build_parser().parse_args([])
    assert (args.ready_delay, args.update_delay, args.delete_delay) == (7.5, 1.0, 4.0)
    # an option still wins over the environment
    assert aws_main.build_parser().parse_args(["--ready-delay", "1"]).ready_delay == 1.0
    monkeypatch.setenv("MESH_AWS_EMULATOR_UPDATE_DELAY", "soon")
    with pytest.raises(SystemExit, match="MESH_AWS_EMULATOR_UPDATE_DELAY='soon' is not a number"):
        aws_main.build_parser()


def test_fault_slow_delays_the_answer(session, emu):
    inject_fault(emu.endpoint_url, "eks", "ListClusters", count=1, kind="slow", delay=0.6)
    client = c(session, emu, "eks", NO_RETRY)
    started = time.monotonic()
    client.list_clusters()
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    client.list_clusters()
    assert time.monotonic() - started < 0.5


def test_fault_failed_create_cluster_goes_failed_and_update_fails(session, emu, net):
    eks = c(session, emu, "eks", NO_RETRY)
    inject_fault(emu.endpoint_url, "eks", "CreateCluster", count=1, kind="failed")
    eks.create_cluster(name="doomed", version="1.32", roleArn=net["role"], resourcesVpcConfig={"subnetIds": net["subnets"]})
    assert wait_status(lambda: eks.describe_cluster(name="doomed")["cluster"]["status"], "FAILED")
    issues = eks.describe_cluster(name="doomed")["cluster"]["health"]["issues"]
    assert "injected fault" in issues[0]["message"]
    eks.create_cluster(name="fine", version="1.32", roleArn=net["role"], resourcesVpcConfig={"subnetIds": net["subnets"]})
    assert wait_status(lambda: eks.describe_cluster(name="fine")["cluster"]["status"], "ACTIVE")
    inject_fault(emu.endpoint_url, "eks", "UpdateClusterVersion", count=1, kind="failed")
    update = eks.update_cluster_version(name="fine", version="1.33")["update"]
    assert wait_status(lambda: eks.describe_update(name="fine", updateId=update["id"])["update"]["status"], "Failed")
    assert eks.describe_cluster(name="fine")["cluster"]["version"] == "1.32"
    import urllib.error
    with pytest.raises(urllib.error.HTTPError):  # only EKS operations that start work can fail later
        inject_fault(emu.endpoint_url, "ec2", "DescribeVpcs", count=1, kind="failed")


def test_runtime_delays(emu):
    import urllib.request
    before = emu.lifecycle.ready_delay
    req = urllib.request.Request(emu.endpoint_url + "/_sandbox/delays", method="POST",
                                 data=json.dumps({"ready_delay": 0.4}).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.load(resp)["ready_delay"] == 0.4
    assert emu.lifecycle.ready_delay == 0.4
    emu.lifecycle.ready_delay = before


# ---------------------------------------------------------------- node join (issue 15)

def node_group_outcome(eks, cluster, nodegroup, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        ng = eks.describe_nodegroup(clusterName=cluster, nodegroupName=nodegroup)["nodegroup"]
        if ng["status"] != "CREATING":
            return ng
        time.sleep(0.05)
    raise AssertionError("node group %s stayed CREATING" % nodegroup)


@pytest.fixture(scope="module")
def role_shape(session, emu, net):
    """The network roles/eks_cluster builds today: a VPC, public subnets (MapPublicIpOnLaunch) routed to an
    internet gateway, private subnets on the main route table (no NAT gateway), and a cluster on all four."""
    ec2 = c(session, emu, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    igw = attached_igw(ec2, vpc)
    public = [public_subnet(ec2, vpc, "10.60.%d.0/20" % (16 * i), igw, zone) for i, zone in enumerate("ab")]
    private = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.%d.0/20" % (128 + 16 * i),
                                 AvailabilityZone=REGION + zone)["Subnet"]["SubnetId"] for i, zone in enumerate("ab")]
    eks = c(session, emu, "eks")
    eks.create_cluster(name="shape", version="1.32", roleArn=net["role"],
                       resourcesVpcConfig={"subnetIds": public + private})
    wait_status(lambda: eks.describe_cluster(name="shape")["cluster"]["status"], "ACTIVE")
    return {"ec2": ec2, "eks": eks, "vpc": vpc, "igw": igw, "public": public, "private": private, "role": net["role"]}


def new_group(shape, name, subnets, cluster="shape"):
    shape["eks"].create_nodegroup(clusterName=cluster, nodegroupName=name, nodeRole=shape["role"], subnets=subnets,
                                  scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1})
    return node_group_outcome(shape["eks"], cluster, name)


def assert_join_failure(ng, subnets):
    assert ng["status"] == "CREATE_FAILED"
    assert ng["health"]["issues"] == [{"code": "NodeCreationFailure",
                                       "message": "Instances failed to join the kubernetes cluster",
                                       "resourceIds": sorted(subnets)}]


def test_node_join_role_network_private_subnets_without_nat_fail(emu, role_shape):
    ng = new_group(role_shape, "private-no-nat", role_shape["private"])
    assert_join_failure(ng, role_shape["private"])
    (why,) = [f for f in emu.status()["node_join_failures"] if f["nodegroup"] == "private-no-nat"]
    assert "no 0.0.0.0/0 route" in why["subnets"][role_shape["private"][0]]
    assert "no private endpoint access" in why["subnets"][role_shape["private"][0]]


def test_node_join_public_subnets_with_igw_and_public_ips_go_active(role_shape):
    assert new_group(role_shape, "public", role_shape["public"])["status"] == "ACTIVE"


def test_node_join_public_subnet_without_map_public_ip_fails(role_shape):
    ec2 = role_shape["ec2"]
    no_ip = public_subnet(ec2, role_shape["vpc"], "10.60.64.0/20", role_shape["igw"], map_public=False)
    ng = new_group(role_shape, "public-no-ip", [role_shape["public"][0], no_ip])
    assert_join_failure(ng, [no_ip])  # one subnet without a path fails the whole group


def test_node_join_private_subnets_with_nat_go_active_until_the_nat_is_deleted(role_shape):
    ec2, vpc = role_shape["ec2"], role_shape["vpc"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.%d.0/20" % (160 + 16 * i),
                                 AvailabilityZone=REGION + zone)["Subnet"]["SubnetId"] for i, zone in enumerate("ab")]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for subnet in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    nat = nat_path(ec2, vpc, role_shape["public"][0], table)
    assert new_group(role_shape, "private-nat", subnets)["status"] == "ACTIVE"
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert_join_failure(new_group(role_shape, "private-nat-deleted", subnets), subnets)


def test_node_join_private_endpoint_with_vpc_endpoints_goes_active(session, emu, role_shape):
    ec2, eks, vpc = role_shape["ec2"], role_shape["eks"], role_shape["vpc"]
    private = role_shape["private"]
    eks.create_cluster(name="private-ep", version="1.32", roleArn=role_shape["role"],
                       resourcesVpcConfig={"subnetIds": private, "endpointPrivateAccess": True,
                                           "endpointPublicAccess": False})
    wait_status(lambda: eks.describe_cluster(name="private-ep")["cluster"]["status"], "ACTIVE")
    endpoint_ids = [ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Interface", SubnetIds=private,
                                            ServiceName="com.amazonaws.%s.%s" % (REGION, service),
                                            PrivateDnsEnabled=True)["VpcEndpoint"]["VpcEndpointId"]
                    for service in ("ecr.api", "ecr.dkr", "sts", "ec2")]
    # without the S3 gateway endpoint (ECR's image layers) the nodes cannot pull their images
    assert_join_failure(new_group(role_shape, "ep-no-s3", private, cluster="private-ep"), private)
    ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Gateway", ServiceName="com.amazonaws.%s.s3" % REGION,
                            RouteTableIds=[main_table(ec2, vpc)])
    assert new_group(role_shape, "ep", private, cluster="private-ep")["status"] == "ACTIVE"
    # the same subnets on a cluster without private endpoint access: no path (role_shape's cluster)
    assert_join_failure(new_group(role_shape, "ep-public-cluster", private), private)
    ec2.delete_vpc_endpoints(VpcEndpointIds=endpoint_ids[:1])
    assert_join_failure(new_group(role_shape, "ep-no-ecr-api", private, cluster="private-ep"), private)


def public_nat_net(nat_state="available", map_public=False, private_access=False, endpoints=()):
    """node_join_problems' plain inputs: subnet-priv on rtb-priv (0.0.0.0/0 -> nat-1), nat-1 in subnet-pub
    (rtb-pub: 0.0.0.0/0 -> igw-1, attached)."""
    return dict(
        subnet_ids=["subnet-priv"],
        subnets={"subnet-priv": {"vpc_id": "vpc-1", "map_public_ip_on_launch": map_public},
                 "subnet-pub": {"vpc_id": "vpc-1", "map_public_ip_on_launch": True}},
        route_tables=[{"id": "rtb-main", "vpc_id": "vpc-1", "main": True, "subnet_ids": [], "routes": []},
                      {"id": "rtb-priv", "vpc_id": "vpc-1", "main": False, "subnet_ids": ["subnet-priv"],
                       "routes": [{"destination": "0.0.0.0/0", "target": "nat-1"}]},
                      {"id": "rtb-pub", "vpc_id": "vpc-1", "main": False, "subnet_ids": ["subnet-pub"],
                       "routes": [{"destination": "0.0.0.0/0", "target": "igw-1"}]}],
        nat_gateways={"nat-1": {"state": nat_state, "subnet_id": "subnet-pub", "connectivity_type": "public"}},
        internet_gateways={"igw-1": {"vpc_id": "vpc-1"}},
        vpc_endpoints=list(endpoints), endpoint_private_access=private_access, region=REGION)


@pytest.mark.parametrize("state", ["pending", "deleting", "deleted", "failed"])
def test_node_join_check_nat_gateway_not_available_fails(state):
    from meshsandbox.aws_eks_ext import node_join_problems
    assert node_join_problems(**public_nat_net()) == {}
    problems = node_join_problems(**public_nat_net(nat_state=state))
    assert list(problems) == ["subnet-priv"] and "which is %s" % state in problems["subnet-priv"]


def test_node_join_check_nat_gateway_needs_its_own_internet_route():
    from meshsandbox.aws_eks_ext import node_join_problems
    net = public_nat_net()
    net["internet_gateways"]["igw-1"]["vpc_id"] = None  # detached
    assert "no route to an attached internet gateway" in node_join_problems(**net)["subnet-priv"]
    net = public_nat_net()
    net["route_tables"][1]["subnet_ids"] = []  # subnet-priv falls back to the main table: no default route
    assert "rtb-main has no 0.0.0.0/0 route" in node_join_problems(**net)["subnet-priv"]


def test_node_join_check_endpoints_must_be_complete_available_and_in_the_region():
    from meshsandbox.aws_eks_ext import node_join_problems

    def endpoint(service, kind="Interface", **kw):
        return dict({"vpc_id": "vpc-1", "service_name": "com.amazonaws.%s.%s" % (REGION, service), "type": kind,
                     "state": "available", "route_table_ids": ["rtb-priv"] if kind == "Gateway" else [],
                     "private_dns_enabled": None}, **kw)

    full = [endpoint(s) for s in ("ecr.api", "ecr.dkr", "sts", "ec2")] + [endpoint("s3", "Gateway")]
    assert node_join_problems(**public_nat_net(nat_state="deleted", private_access=True, endpoints=full)) == {}
    # the endpoints without private endpoint access on the cluster do not help
    assert "no private endpoint access" in node_join_problems(
        **public_nat_net(nat_state="deleted", endpoints=full))["subnet-priv"]
    for broken, missing in ((dict(state="pending"), "sts"), (dict(private_dns_enabled=False), "sts"),
                            (dict(vpc_id="vpc-2"), "sts"),
                            (dict(service_name="com.amazonaws.us-east-1.sts"), "sts")):
        endpoints = [endpoint(s, **(broken if s == "sts" else {})) for s in ("ecr.api", "ecr.dkr", "sts", "ec2")]
        problems = node_join_problems(**public_nat_net(nat_state="deleted", private_access=True,
                                                       endpoints=endpoints + [endpoint("s3", "Gateway")]))
        assert "missing com.amazonaws.%s.%s" % (REGION, missing) in problems["subnet-priv"], broken
    s3_elsewhere = full[:-1] + [endpoint("s3", "Gateway", route_table_ids=["rtb-pub"])]
    assert "missing com.amazonaws.%s.s3" % REGION in node_join_problems(
        **public_nat_net(nat_state="deleted", private_access=True, endpoints=s3_elsewhere))["subnet-priv"]


def test_describe_tags_knows_aws_resource_types_of_nat_gateways_and_elastic_ips(session, emu, net):
    """DescribeTags filters by AWS's resource-type names, "natgateway" and "elastic-ip" (amazon.aws's
    ec2_vpc_nat_gateway and ec2_eip read their tags that way; with moto's own names every re-run re-tagged
    the NAT gateways and reported a change)."""
    ec2 = c(session, emu, "ec2")
    alloc = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "tags-eip"}]}])["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net["subnets"][0], AllocationId=alloc, TagSpecifications=[
        {"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": "tags-nat"}]}])["NatGateway"]["NatGatewayId"]
    for resource_id, kind, name in ((nat, "natgateway", "tags-nat"), (alloc, "elastic-ip", "tags-eip")):
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]},
                                          {"Name": "resource-type", "Values": [kind]}])["Tags"]
        assert [(t["Key"], t["Value"], t["ResourceType"]) for t in tags] == [("Name", name, kind)]
    ec2.delete_nat_gateway(NatGatewayId=nat)


# ---- secrets encryption (issue 15): the key EKS refuses, the emulator refuses ---------------------------

def eks_refused(call, text, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(**kwargs)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException", err.value.response
    assert text in err.value.response["Error"]["Message"], err.value.response
    return err.value.response["Error"]["Message"]


def secrets_config(key_arn):
    return [{"resources": ["secrets"], "provider": {"keyArn": key_arn}}]


def test_create_cluster_refuses_a_secrets_key_eks_could_not_use(session, emu, net):
    eks, kms = c(session, emu, "eks"), c(session, emu, "kms")
    vpc = {"subnetIds": net["subnets"]}
    missing = "arn:aws:kms:%s:123456789012:key/00000000-0000-0000-0000-000000000000" % REGION
    eks_refused(eks.create_cluster, "does not exist", name="enc", roleArn=net["role"], resourcesVpcConfig=vpc,
                encryptionConfig=secrets_config(missing))
    off = kms.create_key(Description="off")["KeyMetadata"]
    kms.disable_key(KeyId=off["KeyId"])  # moto's DisableKey takes the key ID only
    disabled = off["Arn"]
    eks_refused(eks.create_cluster, "Disabled", name="enc", roleArn=net["role"], resourcesVpcConfig=vpc,
                encryptionConfig=secrets_config(disabled))
    other = boto3.session.Session(aws_access_key_id=emu.admin_key, aws_secret_access_key=emu.admin_secret,
                                  region_name="us-east-1").client("kms", endpoint_url=emu.endpoint_url)
    elsewhere = other.create_key(Description="us")["KeyMetadata"]["Arn"]
    eks_refused(eks.create_cluster, "same region", name="enc", roleArn=net["role"], resourcesVpcConfig=vpc,
                encryptionConfig=secrets_config(elsewhere))
    asymmetric = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    eks_refused(eks.create_cluster, "symmetric", name="enc", roleArn=net["role"], resourcesVpcConfig=vpc,
                encryptionConfig=secrets_config(asymmetric))
    good = kms.create_key(Description="secrets")["KeyMetadata"]["Arn"]
    eks_refused(eks.create_cluster, "secrets", name="enc", roleArn=net["role"], resourcesVpcConfig=vpc,
                encryptionConfig=[{"resources": ["configmaps"], "provider": {"keyArn": good}}])
    assert "enc" not in eks.list_clusters()["clusters"]
    made = eks.create_cluster(name="enc", roleArn=net["role"], resourcesVpcConfig=vpc,
                              encryptionConfig=secrets_config(good))["cluster"]
    assert made["encryptionConfig"] == secrets_config(good)
    wait_status(lambda: eks.describe_cluster(name="enc")["cluster"]["status"], "ACTIVE")
    eks_refused(eks.associate_encryption_config, "already enabled", clusterName="enc",
                encryptionConfig=secrets_config(good))
    eks.delete_cluster(name="enc")


def test_associate_encryption_config_once(session, emu, net):
    eks, kms = c(session, emu, "eks"), c(session, emu, "kms")
    eks.create_cluster(name="later", roleArn=net["role"], resourcesVpcConfig={"subnetIds": net["subnets"]})
    wait_status(lambda: eks.describe_cluster(name="later")["cluster"]["status"], "ACTIVE")
    assert not eks.describe_cluster(name="later")["cluster"].get("encryptionConfig")
    eks_refused(eks.associate_encryption_config, "does not exist", clusterName="later",
                encryptionConfig=secrets_config("arn:aws:kms:%s:123456789012:key/nope" % REGION))
    key = kms.create_key(Description="later")["KeyMetadata"]["Arn"]
    update = eks.associate_encryption_config(clusterName="later", encryptionConfig=secrets_config(key))["update"]
    assert update["type"] == "AssociateEncryptionConfig"
    wait_status(lambda: eks.describe_update(name="later", updateId=update["id"])["update"]["status"], "Successful")
    assert eks.describe_cluster(name="later")["cluster"]["encryptionConfig"] == secrets_config(key)
    eks_refused(eks.associate_encryption_config, "already enabled", clusterName="later",
                encryptionConfig=secrets_config(key))
    eks.delete_cluster(name="later")


def test_kms_key_state_calls_take_the_key_arn_as_aws_does(session, emu):
    """amazon.aws.kms_key passes the key ARN to ScheduleKeyDeletion, CancelKeyDeletion, EnableKey, DisableKey; AWS
    accepts an ARN or an ID there (moto 5.2 only the ID: a 500)."""
    kms = c(session, emu, "kms", config=NO_RETRY)
    arn = kms.create_key(Description="arn-calls")["KeyMetadata"]["Arn"]
    kms.disable_key(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=arn)
    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"


class _Cluster:  # what public_endpoint_refusal reads of a moto cluster
    name = "gate"
    resources_vpc_config = {}


def test_public_endpoint_gate_honours_the_cidrs(emu):
    cluster = _Cluster()
    assert emu.operator_address == "203.0.113.10"
    cluster.resources_vpc_config = {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
    assert emu.public_endpoint_refusal(cluster) is None
    cluster.resources_vpc_config = {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/28"]}
    assert emu.public_endpoint_refusal(cluster) is None
    cluster.resources_vpc_config = {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]}
    expected = "the operator's address 203.0.113.10 is not in the publicAccessCidrs 198.51.100.0/24 of gate"
    assert emu.public_endpoint_refusal(cluster) == expected
    cluster.resources_vpc_config = {"endpointPublicAccess": False, "endpointPrivateAccess": True}
    assert emu.public_endpoint_refusal(cluster).startswith("the public endpoint of gate is off")
