"""EKS access entries in the sandbox's AWS emulator (in-process, no API servers): the API calls with EKS's
error codes, the creator's bootstrap entry, the token webhook's mapping and the authorization webhook's
decisions from the associated access policies."""

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

from ansible_collections.multicloud.mesh.plugins.module_utils import aws  # noqa: E402

REGION = "eu-central-1"
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
VIEW = POLICY + "AmazonEKSViewPolicy"
EDIT = POLICY + "AmazonEKSEditPolicy"
ADMIN = POLICY + "AmazonEKSAdminPolicy"
CLUSTER_ADMIN = POLICY + "AmazonEKSClusterAdminPolicy"


@pytest.fixture(scope="module")
def admin(admin_session):
    return admin_session


def client(session, emu, service):
    return session.client(service, endpoint_url=emu.endpoint_url)


@pytest.fixture(scope="module")
def setup(admin, emu):
    """Two IAM users with keys, a role, and clusters in API_AND_CONFIG_MAP and CONFIG_MAP mode."""
    ec2, iam, eks = client(admin, emu, "ec2"), client(admin, emu, "iam"), client(admin, emu, "eks")
    vpc = ec2.create_vpc(CidrBlock="10.19.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.19.%d.0/24" % i, AvailabilityZone=REGION + z)
               ["Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    role = iam.create_role(RoleName="ae-cluster", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    users = {}
    for name in ("ae-alice", "ae-bob"):
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        key = iam.create_access_key(UserName=name)["AccessKey"]
        users[name] = {"arn": arn, "session": boto3.session.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION)}
    for name, mode in (("ae-api", "API_AND_CONFIG_MAP"), ("ae-cm", "CONFIG_MAP")):
        eks.create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": subnets},
                           accessConfig={"authenticationMode": mode, "bootstrapClusterCreatorAdminPermissions": True})
    for dummy in range(100):
        if all(eks.describe_cluster(name=n)["cluster"]["status"] == "ACTIVE" for n in ("ae-api", "ae-cm")):
            break
        time.sleep(0.1)
    return {"eks": eks, "users": users, "role": role, "subnets": subnets}


def code(call, *args, **kwargs):
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(*args, **kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"].get("Message", "")


def test_creator_gets_a_cluster_admin_entry(setup, emu):
    eks = setup["eks"]
    creator = "arn:aws:iam::123456789012:user/mesh-admin"
    assert eks.list_access_entries(clusterName="ae-api")["accessEntries"] == [creator]
    (policy,) = eks.list_associated_access_policies(clusterName="ae-api", principalArn=creator)[
        "associatedAccessPolicies"]
    assert policy["policyArn"] == CLUSTER_ADMIN and policy["accessScope"] == {"type": "cluster", "namespaces": []}
    entry = eks.describe_access_entry(clusterName="ae-api", principalArn=creator)["accessEntry"]
    assert entry["type"] == "STANDARD" and entry["username"] == creator


def test_entry_lifecycle_and_errors(setup):
    eks, alice = setup["eks"], setup["users"]["ae-alice"]["arn"]
    created = eks.create_access_entry(clusterName="ae-api", principalArn=alice, kubernetesGroups=["readers"])
    assert created["accessEntry"]["username"] == alice and created["accessEntry"]["kubernetesGroups"] == ["readers"]
    assert code(eks.create_access_entry, clusterName="ae-api", principalArn=alice)[0] == "ResourceInUseException"
    role_entry = eks.create_access_entry(clusterName="ae-api", principalArn=setup["role"])["accessEntry"]
    assert role_entry["username"] == "arn:aws:sts::123456789012:assumed-role/ae-cluster/{{SessionName}}"
    eks.delete_access_entry(clusterName="ae-api", principalArn=setup["role"])
    updated = eks.update_access_entry(clusterName="ae-api", principalArn=alice, username="alice",
                                      kubernetesGroups=[])["accessEntry"]
    assert updated["username"] == "alice" and updated["kubernetesGroups"] == []
    eks.associate_access_policy(clusterName="ae-api", principalArn=alice, policyArn=VIEW,
                                accessScope={"type": "namespace", "namespaces": ["dev"]})
    eks.associate_access_policy(clusterName="ae-api", principalArn=alice, policyArn=VIEW,
                                accessScope={"type": "cluster"})  # again: the scope is replaced
    (row,) = eks.list_associated_access_policies(clusterName="ae-api", principalArn=alice)["associatedAccessPolicies"]
    assert row["accessScope"]["type"] == "cluster"
    assert eks.list_access_entries(clusterName="ae-api", associatedPolicyArn=VIEW)["accessEntries"] == [alice]
    eks.disassociate_access_policy(clusterName="ae-api", principalArn=alice, policyArn=VIEW)
    assert code(eks.disassociate_access_policy, clusterName="ae-api", principalArn=alice,
                policyArn=VIEW)[0] == "ResourceNotFoundException"
    eks.delete_access_entry(clusterName="ae-api", principalArn=alice)
    for call, kwargs in ((eks.describe_access_entry, {}), (eks.delete_access_entry, {}),
                         (eks.update_access_entry, {"username": "x"}),
                         (eks.list_associated_access_policies, {}),
                         (eks.associate_access_policy, {"policyArn": VIEW, "accessScope": {"type": "cluster"}})):
        assert code(call, clusterName="ae-api", principalArn=alice, **kwargs)[0] == "ResourceNotFoundException"
    assert code(eks.list_access_entries, clusterName="nope")[0] == "ResourceNotFoundException"


@pytest.mark.parametrize("kwargs, needle", [
    ({"principalArn": "arn:aws:sts::123456789012:assumed-role/r/s"}, "principalArn is invalid"),
    ({"principalArn": "arn:aws:iam::123456789012:group/g"}, "principalArn is invalid"),
    ({"principalArn": "alice"}, "principalArn is invalid"),
    ({"principalArn": "arn:aws:iam::123456789012:user/nobody-here"}, "invalid principal"),
    ({"username": "system:admin"}, "username"),
    ({"kubernetesGroups": ["system:masters"]}, "kubernetesGroups"),
    ({"type": "EC2_LINUX", "username": "x"}, "only be set for access entries of type STANDARD"),
    ({"type": "SUPERUSER"}, "type SUPERUSER is invalid"),
])
def test_create_access_entry_bad_parameters(setup, kwargs, needle):
    args = dict({"clusterName": "ae-api", "principalArn": setup["users"]["ae-bob"]["arn"]}, **kwargs)
    err, message = code(setup["eks"].create_access_entry, **args)
    assert err == "InvalidParameterException" and needle in message


@pytest.mark.parametrize("policy, scope, needle", [
    (POLICY + "AmazonEKSSuperPolicy", {"type": "cluster"}, "policyArn is invalid"),
    ("arn:aws:iam::aws:policy/AdministratorAccess", {"type": "cluster"}, "policyArn is invalid"),
    (VIEW, {"type": "namespace"}, "must name at least one namespace"),
    (VIEW, {"type": "cluster", "namespaces": ["dev"]}, "can't be set when accessScope.type is cluster"),
    (VIEW, {"type": "namespace", "namespaces": ["Bad_NS"]}, "not a namespace name"),
])
def test_associate_access_policy_bad_parameters(setup, policy, scope, needle):
    eks, bob = setup["eks"], setup["users"]["ae-bob"]["arn"]
    eks.create_access_entry(clusterName="ae-api", principalArn=bob)
    try:
        err, message = code(eks.associate_access_policy, clusterName="ae-api", principalArn=bob, policyArn=policy,
                            accessScope=scope)
    finally:
        eks.delete_access_entry(clusterName="ae-api", principalArn=bob)
    assert err == "InvalidParameterException" and needle in message


def test_config_map_cluster_refuses_access_entries(setup):
    err, message = code(setup["eks"].create_access_entry, clusterName="ae-cm",
                        principalArn=setup["users"]["ae-bob"]["arn"])
    # EKS's own code and message for this case (not InvalidParameterException)
    assert err == "InvalidRequestException" and "must be set to one of [API, API_AND_CONFIG_MAP]" in message
    assert code(setup["eks"].list_access_entries, clusterName="ae-cm")[0] == "InvalidRequestException"


def test_config_map_without_creator_admin_is_refused(setup):
    err, message = code(setup["eks"].create_cluster, name="ae-cm-nobody", roleArn=setup["role"],
                        resourcesVpcConfig={"subnetIds": setup["subnets"]},
                        accessConfig={"authenticationMode": "CONFIG_MAP",
                                      "bootstrapClusterCreatorAdminPermissions": False})
    assert err == "InvalidParameterException" and "bootstrapClusterCreatorAdminPermissions must be true" in message


def review(emu, cluster, session):
    token = aws.eks_token(session, cluster, REGION, emu.endpoint_url)["token"]
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                       "spec": {"token": token}}).encode()
    return emu.token_review(cluster, body)["status"]


def sar(emu, cluster, user, verb, resource=None, namespace=None, group=""):
    spec = {"user": user["username"], "groups": user["groups"], "extra": user["extra"]}
    if resource is None:
        spec["nonResourceAttributes"] = {"path": "/version", "verb": verb}
    else:
        spec["resourceAttributes"] = {"verb": verb, "resource": resource, "group": group, "namespace": namespace or ""}
    body = json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}).encode()
    return emu.authorize(cluster, body)["status"]["allowed"]


def test_token_webhook_maps_entries_and_refuses_the_unlisted(setup, emu, admin):
    eks, users = setup["eks"], setup["users"]
    alice, bob = users["ae-alice"], users["ae-bob"]
    creator = review(emu, "ae-api", admin)
    assert creator["authenticated"] and "system:masters" in creator["user"]["groups"]
    assert not review(emu, "ae-api", alice["session"])["authenticated"]  # no entry yet: 401
    eks.create_access_entry(clusterName="ae-api", principalArn=alice["arn"], kubernetesGroups=["readers"])
    try:
        mapped = review(emu, "ae-api", alice["session"])
        assert mapped["authenticated"]
        assert mapped["user"]["username"] == alice["arn"]
        assert mapped["user"]["groups"] == ["readers", "system:authenticated"]
        assert "system:masters" not in mapped["user"]["groups"]
        unlisted = review(emu, "ae-api", bob["session"])
        assert not unlisted["authenticated"] and "not mapped" in unlisted["error"]
        # CONFIG_MAP: only the creator (EKS's hidden mapping)
        assert review(emu, "ae-cm", admin)["authenticated"]
        assert not review(emu, "ae-cm", alice["session"])["authenticated"]
    finally:
        eks.delete_access_entry(clusterName="ae-api", principalArn=alice["arn"])
    assert not review(emu, "ae-api", alice["session"])["authenticated"]


def test_creator_without_its_entry_is_refused_in_api_mode(setup, emu, admin):
    eks = setup["eks"]
    eks.create_cluster(name="ae-api2", roleArn=setup["role"], resourcesVpcConfig={"subnetIds": setup["subnets"]},
                       accessConfig={"authenticationMode": "API"})
    creator = "arn:aws:iam::123456789012:user/mesh-admin"
    assert review(emu, "ae-api2", admin)["authenticated"]
    eks.disassociate_access_policy(clusterName="ae-api2", principalArn=creator, policyArn=CLUSTER_ADMIN)
    eks.associate_access_policy(clusterName="ae-api2", principalArn=creator, policyArn=VIEW,
                                accessScope={"type": "cluster"})
    reduced = review(emu, "ae-api2", admin)
    assert reduced["authenticated"] and "system:masters" not in reduced["user"]["groups"]
    eks.delete_access_entry(clusterName="ae-api2", principalArn=creator)
    assert not review(emu, "ae-api2", admin)["authenticated"]


@pytest.mark.parametrize("policy, scope, checks", [
    (VIEW, {"type": "cluster"}, [
        (("list", "namespaces"), True), (("get", "pods", "dev"), True), (("list", "pods", "prod"), True),
        (("get", "secrets", "dev"), False), (("create", "namespaces"), False), (("delete", "pods", "dev"), False),
        (("list", "roles", "dev", "rbac.authorization.k8s.io"), False)]),
    (VIEW, {"type": "namespace", "namespaces": ["dev", "team-*"]}, [
        (("get", "pods", "dev"), True), (("get", "pods", "team-a"), True), (("get", "pods", "prod"), False),
        (("list", "pods"), False)]),
    (EDIT, {"type": "cluster"}, [
        (("create", "deployments", "dev", "apps"), True), (("get", "secrets", "dev"), True),
        (("create", "rolebindings", "dev", "rbac.authorization.k8s.io"), False), (("create", "namespaces"), False)]),
    (ADMIN, {"type": "namespace", "namespaces": ["dev"]}, [
        (("create", "rolebindings", "dev", "rbac.authorization.k8s.io"), True),
        (("delete", "pods", "prod"), False), (("create", "clusterroles", None, "rbac.authorization.k8s.io"), False)]),
    (CLUSTER_ADMIN, {"type": "cluster"}, [
        (("create", "namespaces"), True), (("delete", "clusterroles", None, "rbac.authorization.k8s.io"), True),
        (("get", None), True)]),
])
def test_authorization_webhook_follows_the_access_policies(setup, emu, policy, scope, checks):
    eks, alice = setup["eks"], setup["users"]["ae-alice"]
    eks.create_access_entry(clusterName="ae-api", principalArn=alice["arn"])
    eks.associate_access_policy(clusterName="ae-api", principalArn=alice["arn"], policyArn=policy, accessScope=scope)
    try:
        user = review(emu, "ae-api", alice["session"])["user"]
        got = [(args, sar(emu, "ae-api", user, *args)) for args, _want in checks]
        assert got == checks
    finally:
        eks.delete_access_entry(clusterName="ae-api", principalArn=alice["arn"])
    assert not sar(emu, "ae-api", user, "get", "pods", "dev")  # entry gone: no opinion -> refused


def test_authorization_webhook_has_no_opinion_without_an_eks_identity(emu):
    body = json.dumps({"spec": {"user": "system:serviceaccount:x:y", "groups": [],
                                "resourceAttributes": {"verb": "get", "resource": "pods"}}}).encode()
    assert emu.authorize("ae-api", body)["status"]["allowed"] is False


def test_operations_are_counted_by_name(setup, emu):
    """The ARN in the path (as %2F) does not hide the operation from the stats and fault injection."""
    eks, alice = setup["eks"], setup["users"]["ae-alice"]["arn"]
    emu.stats.clear()
    eks.create_access_entry(clusterName="ae-api", principalArn=alice)
    eks.describe_access_entry(clusterName="ae-api", principalArn=alice)
    eks.delete_access_entry(clusterName="ae-api", principalArn=alice)
    counted = emu.stats.snapshot()
    text = json.dumps(counted)
    for operation in ("CreateAccessEntry", "DescribeAccessEntry", "DeleteAccessEntry"):
        assert "eks:" + operation in text


def test_caller_identity_of_the_admin_key_is_the_creator(admin, emu, setup):
    """STS names the emulator's admin key as the token webhook and the creator's entry do (purge keeps it)."""
    assert client(admin, emu, "sts").get_caller_identity()["Arn"] == "arn:aws:iam::123456789012:user/mesh-admin"
    alice = setup["users"]["ae-alice"]
    assert client(alice["session"], emu, "sts").get_caller_identity()["Arn"] == alice["arn"]
