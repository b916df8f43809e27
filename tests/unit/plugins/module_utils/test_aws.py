"""Unit tests of plugins/module_utils/aws.py: EKS token, validation, views and the update planner."""

import base64
import datetime
import os
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # ansible_collections/multicloud/mesh -> the repo (make venv)

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.multicloud.mesh.plugins.module_utils import aws  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/eks"
NODE_ROLE = "arn:aws:iam::123456789012:role/node"


def params(**kw):
    base = {"name": "mesh-1", "state": "present", "region": "eu-central-1", "profile": None,
            "access_key": None, "secret_key": None, "session_token": None, "endpoint_url": None,
            "version": "1.31", "role_arn": ROLE, "subnets": ["subnet-a", "subnet-b"], "security_groups": None,
            "endpoint_public_access": None, "endpoint_private_access": None, "public_access_cidrs": None,
            "logging": None, "tags": None, "purge_tags": True, "authentication_mode": None,
            "node_role_arn": NODE_ROLE, "node_groups": None}
    base.update(kw)
    return base


def group(**kw):
    base = {"name": "default", "instance_types": None, "ami_type": None, "disk_size": None, "min_size": 1,
            "max_size": 3, "desired_size": 2, "labels": None, "taints": None, "node_role_arn": None,
            "subnets": None, "version": None, "tags": None}
    base.update(kw)
    return base


def api_cluster(**kw):
    cluster = {"name": "mesh-1", "arn": "arn:aws:eks:eu-central-1:123456789012:cluster/mesh-1",
               "status": "ACTIVE", "version": "1.31", "roleArn": ROLE,
               "resourcesVpcConfig": {"subnetIds": ["subnet-b", "subnet-a"], "securityGroupIds": [],
                                      "endpointPublicAccess": True, "endpointPrivateAccess": False,
                                      "publicAccessCidrs": ["0.0.0.0/0"], "vpcId": "vpc-1"},
               "logging": {"clusterLogging": [{"types": ["api", "audit"], "enabled": True},
                                              {"types": ["authenticator", "controllerManager", "scheduler"],
                                               "enabled": False}]},
               "tags": {}, "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"}}
    cluster.update(kw)
    return cluster


def api_group(**kw):
    ng = {"nodegroupName": "default", "nodegroupArn": "arn:aws:eks:eu-central-1:123456789012:nodegroup/mesh-1/default/x",
          "status": "ACTIVE", "version": "1.31", "instanceTypes": ["t3.medium"], "amiType": "AL2023_x86_64_STANDARD",
          "diskSize": 20, "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2}, "labels": {},
          "taints": [], "nodeRole": NODE_ROLE, "subnets": ["subnet-a", "subnet-b"], "tags": {}}
    ng.update(kw)
    return ng


def plan(p, cluster=None, groups=None):
    before = aws.cluster_view(cluster or api_cluster(), groups if groups is not None else [api_group()])
    return aws.plan_update(before, aws.desired_view(p, before))


# ------------------------------------------------------------------------------------------ token

@pytest.fixture
def session():
    return boto3.session.Session(aws_access_key_id="AKIAEXAMPLE000000001",
                                 aws_secret_access_key="secret/example/key/0000000000000000000000",
                                 region_name="eu-central-1")


def test_token_is_presigned_get_caller_identity(session):
    token = aws.eks_token(session, "mesh-1", "eu-central-1")["token"]
    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token  # base64url without padding
    url = aws.decode_eks_token(token)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https" and parts.netloc.startswith("sts.")
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]
    assert query["X-Amz-Credential"][0].startswith("AKIAEXAMPLE000000001/")
    assert "/eu-central-1/sts/aws4_request" in query["X-Amz-Credential"][0]
    assert len(query["X-Amz-Signature"][0]) == 64


def test_token_payload_is_plain_base64url(session):
    token = aws.eks_token(session, "mesh-1", "eu-central-1")["token"]
    payload = token[len("k8s-aws-v1."):]
    assert set(payload) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert decoded == aws.decode_eks_token(token)


def test_token_signature_covers_cluster_name(session):
    one = parse_qs(urlsplit(aws.decode_eks_token(aws.eks_token(session, "one", "eu-central-1")["token"])).query)
    two = parse_qs(urlsplit(aws.decode_eks_token(aws.eks_token(session, "two", "eu-central-1")["token"])).query)
    if one["X-Amz-Date"] == two["X-Amz-Date"]:
        assert one["X-Amz-Signature"] != two["X-Amz-Signature"]


def test_token_uses_endpoint_url_and_session_token():
    sess = boto3.session.Session(aws_access_key_id="ASIAEXAMPLE000000001", aws_secret_access_key="s" * 40,
                                 aws_session_token="tok", region_name="eu-central-1")
    url = aws.decode_eks_token(aws.eks_token(sess, "c", "eu-central-1", "http://127.0.0.1:4566")["token"])
    assert url.startswith("http://127.0.0.1:4566/?")
    assert parse_qs(urlsplit(url).query)["X-Amz-Security-Token"] == ["tok"]


def test_token_expiration_is_14_minutes(session):
    now = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
    assert aws.eks_token(session, "c", "eu-central-1", now=now)["expiration"] == "2030-01-01T12:14:00Z"


def test_token_verifies_with_the_sandbox_verifier(session):
    sandbox = os.path.join(ROOT, "sandbox")
    sys.path.insert(0, sandbox)
    try:
        from meshsandbox.aws_sigv4 import SignatureError, verify_eks_token
    finally:
        sys.path.remove(sandbox)
    token = aws.eks_token(session, "mesh-1", "eu-central-1")["token"]
    secrets = {"AKIAEXAMPLE000000001": "secret/example/key/0000000000000000000000"}
    hosts = {"sts.eu-central-1.amazonaws.com", "sts.amazonaws.com"}
    assert verify_eks_token(token, "mesh-1", secrets.get, hosts)["access_key"] == "AKIAEXAMPLE000000001"
    with pytest.raises(SignatureError):
        verify_eks_token(token, "other-cluster", secrets.get, hosts)
    with pytest.raises(SignatureError):
        verify_eks_token(token, "mesh-1", {"AKIAEXAMPLE000000001": "wrong"}.get, hosts)
    late = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=16)
    with pytest.raises(SignatureError) as err:
        verify_eks_token(token, "mesh-1", secrets.get, hosts, now=late)
    assert err.value.code == "ExpiredToken"


def test_exec_user_runs_aws_eks_get_token():
    user = aws.exec_user("mesh-1", "eu-central-1", profile="p", endpoint_url="http://127.0.0.1:1")
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"][-4:] == ["--cluster-name", "mesh-1", "--output", "json"]
    assert {"name": "AWS_PROFILE", "value": "p"} in user["exec"]["env"]


# ------------------------------------------------------------------------------------------ validation

@pytest.mark.parametrize("overrides, message", [
    ({"region": "europe-central"}, "region 'europe-central' is not an AWS region name"),
    ({"region": None}, "region is required"),
    ({"version": "1.3x"}, "version '1.3x' must be a Kubernetes minor version"),
    ({"node_groups": [group(min_size=3, max_size=2, desired_size=2)]}, "node_groups[default].min_size 3 is greater than max_size 2"),
    ({"node_groups": [group(min_size=2, max_size=4, desired_size=1)]}, "node_groups[default].desired_size 1 is outside min_size..max_size (2..4)"),
    ({"node_groups": [group(min_size=2, max_size=4, desired_size=5)]}, "desired_size 5 is outside"),
    ({"node_groups": [group(), group()]}, "node_groups[default].name is used twice"),
    ({"subnets": ["subnet-a"]}, "subnets must name at least two subnets"),
    ({"public_access_cidrs": ["10.0.0.1/8"]}, "public_access_cidrs: '10.0.0.1/8' is not a CIDR block"),
    ({"role_arn": "eks-role"}, "role_arn 'eks-role' is not an IAM role ARN"),
    ({"profile": "p", "access_key": "AKIA", "secret_key": "s"}, "profile and access_key/secret_key are mutually exclusive"),
    ({"access_key": "AKIA"}, "access_key and secret_key must be given together"),
    ({"endpoint_public_access": False, "endpoint_private_access": False}, "cannot both be false"),
    ({"name": "bad name!"}, "name 'bad name!' is not a valid EKS cluster name"),
])
def test_validate_params_names_the_option(overrides, message):
    errors = aws.validate_params(params(**overrides))
    assert any(message in e for e in errors), errors


def test_validate_params_accepts_good_input():
    assert aws.validate_params(params(node_groups=[group()], region="us-gov-west-1")) == []


def test_creation_needs_role_and_subnets():
    errors = aws.creation_errors(params(role_arn=None, subnets=None, node_role_arn=None, node_groups=[group()]))
    assert any(e.startswith("role_arn is required to create cluster mesh-1") for e in errors)
    assert any(e.startswith("subnets is required") for e in errors)
    assert any("node_groups[default].node_role_arn is required" in e for e in errors)


def test_creation_missing_names_the_options():
    assert aws.creation_missing(params(role_arn=None, subnets=None, node_role_arn=None,
                                       node_groups=[group()])) == ["role_arn", "subnets",
                                                                   "node_groups[default].node_role_arn"]
    assert aws.creation_missing(params(node_groups=[group()])) == []


def test_name_errors():
    assert aws.name_errors({"name": "mesh-1"}) == []
    assert "not a valid EKS cluster name" in aws.name_errors({"name": "-x"})[0]
    assert aws.name_errors({"name": None})


# ------------------------------------------------------------------------------------------ planner

def test_no_change_no_steps():
    assert plan(params(node_groups=[group()], logging=["api", "audit"])) == {"errors": [], "steps": []}


def test_unset_options_keep_current_values():
    assert plan(params(version=None, role_arn=None, subnets=None)) == {"errors": [], "steps": []}


def test_one_minor_upgrade_then_node_groups_follow():
    result = plan(params(version="1.32", node_groups=[group()]))
    calls = [s["call"] for s in result["steps"]]
    assert result["errors"] == []
    assert calls == ["update_cluster_version", "update_nodegroup_version"]
    assert result["steps"][0]["args"] == {"name": "mesh-1", "version": "1.32"}
    assert result["steps"][1]["args"]["version"] == "1.32"


@pytest.mark.parametrize("version, message", [
    ("1.33", "version 1.33 skips minor versions"),
    ("1.34", "set version 1.32 first"),
    ("1.30", "EKS cannot downgrade"),
])
def test_version_skip_or_downgrade_is_an_error(version, message):
    result = plan(params(version=version))
    assert any(message in e for e in result["errors"]), result["errors"]
    assert not any(s["call"] == "update_cluster_version" for s in result["steps"])


@pytest.mark.parametrize("overrides, option", [
    ({"role_arn": "arn:aws:iam::123456789012:role/other"}, "role_arn cannot be changed in place"),
    ({"subnets": ["subnet-a", "subnet-c"]}, "subnets cannot be changed in place"),
    ({"security_groups": ["sg-1"]}, "security_groups cannot be changed in place"),
    ({"node_groups": [group(instance_types=["m5.large"])]}, "node_groups[default].instance_types cannot be changed"),
    ({"node_groups": [group(disk_size=50)]}, "node_groups[default].disk_size cannot be changed"),
    ({"node_groups": [group(node_role_arn=ROLE)]}, "node_groups[default].node_role_arn cannot be changed"),
    ({"authentication_mode": "CONFIG_MAP"}, "authentication_mode cannot change from API_AND_CONFIG_MAP to CONFIG_MAP"),
])
def test_immutable_changes_are_errors_naming_the_option(overrides, option):
    result = plan(params(**overrides))
    assert any(option in e for e in result["errors"]), result["errors"]


def test_scaling_labels_taints_in_one_nodegroup_update():
    want = group(max_size=5, desired_size=4, labels={"mesh": "true"},
                 taints=[{"key": "dedicated", "value": "mesh", "effect": "NoSchedule"}])
    have = api_group(labels={"old": "x"}, taints=[{"key": "gone", "effect": "NO_EXECUTE"}])
    result = plan(params(node_groups=[want]), groups=[have])
    assert result["errors"] == []
    (step,) = result["steps"]
    assert step["call"] == "update_nodegroup_config"
    assert step["args"]["scalingConfig"] == {"minSize": 1, "maxSize": 5, "desiredSize": 4}
    assert step["args"]["labels"] == {"addOrUpdateLabels": {"mesh": "true"}, "removeLabels": ["old"]}
    assert step["args"]["taints"]["addOrUpdateTaints"] == [{"key": "dedicated", "value": "mesh", "effect": "NO_SCHEDULE"}]
    assert step["args"]["taints"]["removeTaints"] == [{"key": "gone", "effect": "NO_EXECUTE"}]


def test_taint_effect_spellings_are_equivalent():
    want = group(taints=[{"key": "k", "value": None, "effect": "NoSchedule"}])
    have = api_group(taints=[{"key": "k", "effect": "NO_SCHEDULE"}])
    assert plan(params(node_groups=[want]), groups=[have])["steps"] == []


def test_desired_size_unset_keeps_autoscaler_choice_within_bounds():
    have = api_group(scalingConfig={"minSize": 1, "maxSize": 5, "desiredSize": 4})
    assert plan(params(node_groups=[group(max_size=5, desired_size=None)]), groups=[have])["steps"] == []
    result = plan(params(node_groups=[group(max_size=3, desired_size=None)]), groups=[have])
    assert result["steps"][0]["args"]["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 3}


def test_nodegroups_created_and_removed_to_match_the_list():
    result = plan(params(node_groups=[group(name="new")]))
    assert [(s["call"], s["args"]["nodegroupName"]) for s in result["steps"]] == [
        ("create_nodegroup", "new"), ("delete_nodegroup", "default")]
    create = result["steps"][0]["args"]
    assert create["nodeRole"] == NODE_ROLE and create["subnets"] == ["subnet-a", "subnet-b"]
    assert create["version"] == "1.31"


def test_node_groups_unset_leaves_them_alone():
    assert plan(params(node_groups=None)) == {"errors": [], "steps": []}


def test_endpoint_logging_and_auth_mode_are_separate_updates():
    result = plan(params(public_access_cidrs=["10.0.0.0/8"], logging=["api"], authentication_mode="API"))
    assert [s["call"] for s in result["steps"]] == ["update_cluster_config"] * 3
    assert result["steps"][0]["args"]["resourcesVpcConfig"] == {"publicAccessCidrs": ["10.0.0.0/8"]}
    assert result["steps"][1]["args"]["logging"]["clusterLogging"][0] == {"types": ["api"], "enabled": True}
    assert result["steps"][2]["args"]["accessConfig"] == {"authenticationMode": "API"}


def test_tags_added_changed_and_purged():
    cluster = api_cluster(tags={"keep": "1", "change": "a", "drop": "x"})
    result = plan(params(tags={"keep": "1", "change": "b", "new": "n"}), cluster=cluster)
    calls = dict((s["call"], s["args"]) for s in result["steps"])
    assert calls["tag_resource"]["tags"] == {"change": "b", "new": "n"}
    assert calls["untag_resource"]["tagKeys"] == ["drop"]
    result = plan(params(tags={"new": "n"}, purge_tags=False), cluster=cluster)
    assert [s["call"] for s in result["steps"]] == ["tag_resource"]


def test_plan_create_orders_cluster_then_nodegroups():
    want = aws.desired_view(params(node_groups=[group(name="b"), group(name="a")]), None)
    steps = aws.plan_create(want)["steps"]
    assert [s["what"] for s in steps] == ["create cluster mesh-1", "create node group a", "create node group b"]
    assert steps[0]["args"]["resourcesVpcConfig"]["subnetIds"] == ["subnet-a", "subnet-b"]
    assert steps[1]["args"]["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 2}


def test_plan_update_is_pure():
    before = aws.cluster_view(api_cluster(), [api_group()])
    after = aws.desired_view(params(version="1.32", node_groups=[group(desired_size=3)]), before)
    snapshot = repr((before, after))
    aws.plan_update(before, after)
    assert repr((before, after)) == snapshot


# ------------------------------------------------------------------------------------------ errors, retries

def client_error(code, status=400, message="m"):
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "DescribeCluster")


@pytest.mark.parametrize("exc, retry", [
    (client_error("ThrottlingException", 429), True),
    (client_error("Throttling"), True),
    (client_error("RequestLimitExceeded", 503), True),
    (client_error("InternalFailure", 500), True),
    (client_error("ServiceUnavailable", 503), True),
    (client_error("ResourceNotFoundException", 404), False),
    (client_error("InvalidParameterException"), False),
    (client_error("SignatureDoesNotMatch", 403), False),
])
def test_is_retryable(exc, retry):
    assert aws.is_retryable(exc) is retry


def test_credential_errors_say_what_to_check():
    err = aws.describe_error(client_error("SignatureDoesNotMatch", 403, "bad sig"), "eks.describe_cluster")
    assert "SignatureDoesNotMatch" in err.message and "check the AWS credentials" in err.message


class FakeClient(object):
    class meta(object):
        class service_model(object):
            service_name = "eks"

    def __init__(self, failures):
        self.failures = list(failures)
        self.calls = 0

    def describe_cluster(self, **kw):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {"cluster": {"name": kw["name"]}}


def test_retrying_client_retries_throttling(monkeypatch):
    from ansible_collections.multicloud.mesh.plugins.module_utils import retry
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)
    fake = FakeClient([client_error("ThrottlingException", 429), client_error("InternalFailure", 500)])
    wrapped = aws.RetryingClient(fake, timeout=30)
    assert wrapped.call("describe_cluster", name="c")["cluster"]["name"] == "c"
    assert fake.calls == 3 and wrapped.retries == 2


def test_retrying_client_does_not_retry_final_errors():
    fake = FakeClient([client_error("ResourceNotFoundException", 404)])
    assert aws.RetryingClient(fake).call_or_none("describe_cluster", name="c") is None
    fake = FakeClient([client_error("InvalidParameterException")])
    with pytest.raises(aws.AWSError) as err:
        aws.RetryingClient(fake).call("describe_cluster", name="c")
    assert fake.calls == 1 and "InvalidParameterException" in err.value.message


class FakeEks(object):
    """Just what describe_cluster reads: one cluster with node groups listed over two pages."""

    class meta(object):
        class service_model(object):
            service_name = "eks"

    def __init__(self, exists=True):
        self.exists = exists

    def describe_cluster(self, name):
        if not self.exists:
            raise client_error("ResourceNotFoundException", 404)
        return {"cluster": {"name": name, "status": "ACTIVE", "resourcesVpcConfig": {"subnetIds": ["s1"]},
                            "tags": {"Team_Name": "x"}}}

    def list_nodegroups(self, clusterName, nextToken=None):
        if nextToken is None:
            return {"nodegroups": ["zeta"], "nextToken": "t"}
        return {"nodegroups": ["alpha", "gone"]}

    def describe_nodegroup(self, clusterName, nodegroupName):
        if nodegroupName == "gone":  # deleted between list and describe
            raise client_error("ResourceNotFoundException", 404)
        return {"nodegroup": {"nodegroupName": nodegroupName, "scalingConfig": {"minSize": 1},
                              "labels": {"Mesh_Label": "1"}}}


def test_describe_cluster_and_result():
    cluster, groups = aws.describe_cluster(aws.RetryingClient(FakeEks()), "mesh-1")
    assert cluster["name"] == "mesh-1" and [g["nodegroupName"] for g in groups] == ["zeta", "alpha"]
    result = aws.cluster_result(cluster, groups)
    assert result["resources_vpc_config"] == {"subnet_ids": ["s1"]}
    assert result["tags"] == {"Team_Name": "x"}
    assert [g["nodegroup_name"] for g in result["node_groups"]] == ["alpha", "zeta"]
    assert result["node_groups"][0]["scaling_config"] == {"min_size": 1}
    assert result["node_groups"][0]["labels"] == {"Mesh_Label": "1"}


def test_describe_missing_cluster():
    assert aws.describe_cluster(aws.RetryingClient(FakeEks(exists=False)), "mesh-1") == (None, [])
    assert aws.cluster_result(None, []) == {}


# ------------------------------------------------------------------------------------------ versions

OFFERED = [
    {"clusterVersion": "1.35", "status": "STANDARD_SUPPORT", "defaultVersion": True,
     "endOfStandardSupportDate": datetime.datetime(2027, 3, 27)},
    {"clusterVersion": "1.34", "status": "EXTENDED_SUPPORT", "defaultVersion": False,
     "endOfStandardSupportDate": datetime.datetime(2026, 12, 2), "endOfExtendedSupportDate": datetime.datetime(2027, 12, 2)},
]


def test_a_version_not_offered_is_refused_with_the_offered_ones():
    errors = aws.version_errors(OFFERED, "1.31", "STANDARD", "eu-central-1")
    assert errors == ["version 1.31 is not offered by EKS in eu-central-1; offered: 1.35 (standard support until "
                      "2027-03-27), 1.34 (extended support until 2027-12-02)"]


def test_extended_support_only_when_asked_for():
    errors = aws.version_errors(OFFERED, "1.34", "STANDARD", "eu-central-1")
    assert len(errors) == 1 and "version 1.34 is in extended support" in errors[0]
    assert "set support_type EXTENDED" in errors[0] and "standard support (1.35)" in errors[0]
    assert aws.version_errors(OFFERED, "1.34", "EXTENDED", "eu-central-1") == []
    assert aws.version_errors(OFFERED, "1.35", "STANDARD", "eu-central-1") == []


def test_no_version_checks_the_default():
    assert aws.version_errors(OFFERED, None, "STANDARD", "eu-central-1") == []
    old_default = [dict(OFFERED[1], defaultVersion=True)]
    assert "EKS's default version 1.34 is in extended support" in aws.version_errors(
        old_default, None, "STANDARD", "eu-central-1")[0]


def test_support_type_defaults_to_standard_on_create_and_changes_in_place():
    after = aws.desired_view(params(), None)
    assert aws.cluster_create_args(after)["upgradePolicy"] == {"supportType": "STANDARD"}
    result = plan(params(support_type="EXTENDED"), cluster=api_cluster(upgradePolicy={"supportType": "STANDARD"}))
    assert result["steps"] == [{"call": "update_cluster_config",
                                "args": {"name": "mesh-1", "upgradePolicy": {"supportType": "EXTENDED"}},
                                "what": "support type STANDARD -> EXTENDED"}]
    assert plan(params(), cluster=api_cluster(upgradePolicy={"supportType": "EXTENDED"}))["steps"] == []


# ------------------------------------------------------------------------------------------ failed node groups

def test_plan_replaces_a_node_group_that_failed_to_create():
    failed = api_group(status="CREATE_FAILED", subnets=["subnet-old"])
    out = plan(params(node_groups=[group(subnets=["subnet-a", "subnet-b"])]), groups=[failed])
    assert out["errors"] == []  # its subnets may change: it is created anew
    calls = [(s["call"], s.get("wait_gone", False)) for s in out["steps"]]
    assert calls == [("delete_nodegroup", True), ("create_nodegroup", False)]
    assert out["steps"][1]["args"]["subnets"] == ["subnet-a", "subnet-b"]
    assert out["steps"][0]["what"] == "delete node group default (CREATE_FAILED)"


def test_plan_keeps_an_active_node_group_on_a_rerun():
    assert plan(params(node_groups=[group()]), groups=[api_group()])["steps"] == []


def test_node_creation_failure_names_subnets_and_what_nodes_need():
    text = aws.nodegroup_issues([{"code": "NodeCreationFailure", "message": "Instances failed to join the kubernetes "
                                  "cluster", "resourceIds": ["subnet-1", "subnet-2"]}])
    assert text.startswith("NodeCreationFailure: Instances failed to join the kubernetes cluster (subnet-1, subnet-2); ")
    assert "NAT gateway" in text and "ecr.api" in text
    assert aws.nodegroup_issues([]) == "no details"
    other = aws.nodegroup_issues([{"code": "AsgInstanceLaunchFailures", "message": "no capacity"}])
    assert other == "AsgInstanceLaunchFailures: no capacity"
    assert aws.health_issues([{"code": "X", "resourceIds": ["i-1"]}]) == [{"code": "X", "resource_ids": ["i-1"]}]


# ------------------------------------------------------------------------------------------ secrets encryption

KEY = "arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000001"
OTHER_KEY = "arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000002"


@pytest.mark.parametrize("key, message", [
    ("alias/mesh-1-secrets", "is not a KMS key ARN"),
    ("arn:aws:kms:eu-central-1:123456789012:secret/x", "is not a KMS key ARN"),
    ("arn:aws:kms:us-east-1:123456789012:key/0a1b", "EKS needs a key in the cluster's region eu-central-1"),
])
def test_secrets_key_arn_is_validated(key, message):
    errors = aws.validate_params(params(secrets_encryption_key_arn=key))
    assert any(message in e and "secrets_encryption_key_arn" in e for e in errors), errors


def test_secrets_encryption_at_create():
    want = aws.desired_view(params(secrets_encryption_key_arn=KEY), None)
    args = aws.plan_create(want)["steps"][0]["args"]
    assert args["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": KEY}}]
    assert "encryptionConfig" not in aws.plan_create(aws.desired_view(params(), None))["steps"][0]["args"]
    assert "encryptionConfig" not in aws.plan_create(aws.desired_view(params(secrets_encryption_key_arn=""),
                                                                      None))["steps"][0]["args"]


def test_secrets_encryption_associated_once_never_changed_nor_removed():
    result = plan(params(secrets_encryption_key_arn=KEY))
    assert result["errors"] == []
    assert [s["call"] for s in result["steps"]] == ["associate_encryption_config"]
    assert result["steps"][0]["args"] == {"clusterName": "mesh-1", "encryptionConfig": [
        {"resources": ["secrets"], "provider": {"keyArn": KEY}}]}
    encrypted = api_cluster(encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": KEY}}])
    assert plan(params(secrets_encryption_key_arn=KEY), cluster=encrypted) == {"errors": [], "steps": []}
    assert plan(params(), cluster=encrypted) == {"errors": [], "steps": []}  # unset: left alone
    for other, what in ((OTHER_KEY, OTHER_KEY), ("", "no encryption")):
        result = plan(params(secrets_encryption_key_arn=other), cluster=encrypted)
        assert result["steps"] == [] and len(result["errors"]) == 1
        assert "EKS never removes nor changes" in result["errors"][0] and what in result["errors"][0]
    assert plan(params(secrets_encryption_key_arn=""), cluster=api_cluster()) == {"errors": [], "steps": []}


class FakeKms(object):
    def __init__(self, meta=None, code=None):
        self.meta, self.code = meta, code

    def call_or_none(self, operation, not_found=(), **kwargs):
        assert operation == "describe_key" and kwargs == {"KeyId": KEY}
        if self.code in not_found:
            return None
        return {"KeyMetadata": self.meta}


def test_kms_key_errors_are_what_eks_refuses():
    good = {"KeyState": "Enabled", "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"}
    assert aws.kms_key_errors(FakeKms(good), KEY) == []
    assert "KMS has no such key" in aws.kms_key_errors(FakeKms(code="NotFoundException"), KEY)[0]
    assert "the key is PendingDeletion" in aws.kms_key_errors(FakeKms(dict(good, KeyState="PendingDeletion")), KEY)[0]
    assert "symmetric encryption key" in aws.kms_key_errors(FakeKms(dict(good, KeySpec="RSA_2048")), KEY)[0]
