"""Unit tests of the access-entry part of plugins/module_utils/aws.py: validation, views and the planner."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ansible_collections.multicloud.mesh.plugins.module_utils import aws  # noqa: E402

USER = "arn:aws:iam::123456789012:user/alice"
ROLE = "arn:aws:iam::123456789012:role/ops"
VIEW = aws.ACCESS_POLICY_PREFIX + "AmazonEKSViewPolicy"
EDIT = aws.ACCESS_POLICY_PREFIX + "AmazonEKSEditPolicy"


def params(entries, **kw):
    base = {"name": "c", "region": "eu-central-1", "state": "present", "wait_timeout": 60,
            "access_entries": entries, "purge_access_entries": False}
    base.update(kw)
    return base


def entry(principal=USER, **kw):
    base = {"principal_arn": principal, "type": "STANDARD", "username": None, "kubernetes_groups": None,
            "access_policies": None}
    base.update(kw)
    return base


def test_valid_entries_have_no_errors():
    assert aws.access_entry_errors(params([
        entry(access_policies=[{"policy": "AmazonEKSViewPolicy", "access_scope": {"type": "cluster"}}]),
        entry(ROLE, kubernetes_groups=["ops"], access_policies=[
            {"policy": EDIT, "access_scope": {"type": "namespace", "namespaces": ["dev", "team-*"]}}]),
        entry("arn:aws:iam::123456789012:role/nodes", type="EC2_LINUX")])) == []


@pytest.mark.parametrize("bad, needle", [
    (params([entry("alice")]), "is not an IAM role or user ARN"),
    (params([entry("arn:aws:sts::123456789012:assumed-role/ops/s1")]), "STS assumed-role session"),
    (params([entry(), entry()]), "listed twice"),
    (params([entry(username="system:admin")]), "username 'system:admin' is not allowed"),
    (params([entry(kubernetes_groups=["system:masters"])]), "kubernetes_groups: 'system:masters' is not allowed"),
    (params([entry(ROLE, type="EC2_LINUX", username="x")]), "only for type STANDARD"),
    (params([entry(type="EC2_LINUX")]), "must name an IAM role"),
    (params([entry(access_policies=[{"policy": "AmazonEKSSuperPolicy", "access_scope": None}])],),
     "unknown access policy 'AmazonEKSSuperPolicy'"),
    (params([entry(access_policies=[{"policy": "AmazonEKSViewPolicy",
                                     "access_scope": {"type": "namespace", "namespaces": None}}])]),
     "needs access_scope.namespaces"),
    (params([entry(access_policies=[{"policy": "AmazonEKSViewPolicy",
                                     "access_scope": {"type": "cluster", "namespaces": ["dev"]}}])]),
     "only for access_scope.type namespace"),
    (params([entry(access_policies=[{"policy": "AmazonEKSViewPolicy",
                                     "access_scope": {"type": "namespace", "namespaces": ["Dev_1"]}}])]),
     "'Dev_1' is not a namespace name"),
    (params([entry()], authentication_mode="CONFIG_MAP"), "set authentication_mode: API_AND_CONFIG_MAP"),
    (params(None, purge_access_entries=True), "purge_access_entries needs access_entries"),
])
def test_bad_entries_are_named(bad, needle):
    errors = aws.validate_params(bad)
    assert any(needle in e for e in errors), errors


def view(principal=USER, policies=None, groups=(), username=None, kind="STANDARD"):
    return {"principal_arn": principal, "type": kind, "username": username or principal,
            "kubernetes_groups": sorted(groups), "access_policies": policies or {}, "access_entry_arn": None}


def test_plan_creates_associates_and_is_idempotent():
    want = aws.desired_access_entries(params([entry(access_policies=[
        {"policy": "AmazonEKSViewPolicy", "access_scope": {"type": "cluster", "namespaces": None}}])]), None)
    plan = aws.plan_access_entries("c", {}, want)
    assert [s["call"] for s in plan["steps"]] == ["create_access_entry", "associate_access_policy"]
    assert plan["steps"][0]["args"] == {"clusterName": "c", "principalArn": USER, "type": "STANDARD",
                                        "kubernetesGroups": []}
    assert plan["steps"][1]["args"]["accessScope"] == {"type": "cluster"}
    have = {USER: view(policies={VIEW: {"type": "cluster", "namespaces": []}})}
    again = aws.desired_access_entries(params([entry(access_policies=[
        {"policy": VIEW, "access_scope": None}])]), {"access_entries": have})
    assert aws.plan_access_entries("c", have, again) == {"errors": [], "steps": []}


def test_plan_updates_scope_groups_and_policies():
    cluster_scope = {"type": "cluster", "namespaces": []}
    have = {USER: view(policies={VIEW: dict(cluster_scope), EDIT: dict(cluster_scope)})}
    want = aws.desired_access_entries(params([entry(kubernetes_groups=["readers"], access_policies=[
        {"policy": "AmazonEKSViewPolicy", "access_scope": {"type": "namespace", "namespaces": ["b", "a"]}}])]),
        {"access_entries": have})
    steps = aws.plan_access_entries("c", have, want)["steps"]
    assert [s["call"] for s in steps] == ["update_access_entry", "associate_access_policy",
                                          "disassociate_access_policy"]
    assert steps[0]["args"]["kubernetesGroups"] == ["readers"] and "username" not in steps[0]["args"]
    assert steps[1]["args"]["accessScope"] == {"type": "namespace", "namespaces": ["a", "b"]}
    assert steps[2]["args"]["policyArn"] == EDIT


def test_purge_deletes_unlisted_standard_entries_but_keeps_what_keep_says():
    caller = "arn:aws:iam::123456789012:user/mesh-admin"
    nodes = "arn:aws:iam::123456789012:role/nodes"
    have = {USER: view(), caller: view(caller), nodes: view(nodes, kind="EC2_LINUX")}
    kept = aws.desired_access_entries(params([]), {"access_entries": have})
    assert aws.plan_access_entries("c", have, kept)["steps"] == []  # no purge: unlisted entries stay
    want = aws.desired_access_entries(params([], purge_access_entries=True), {"access_entries": have})
    plan = aws.plan_access_entries("c", have, want, keep=lambda v: v["type"] != "STANDARD"
                                   or aws.same_principal(v["principal_arn"], caller))
    assert [(s["call"], s["args"]["principalArn"]) for s in plan["steps"]] == [("delete_access_entry", USER)]


def test_type_change_is_refused():
    have = {ROLE: view(ROLE)}
    want = aws.desired_access_entries(params([entry(ROLE, type="EC2_LINUX")]), {"access_entries": have})
    assert "cannot change from STANDARD to EC2_LINUX" in aws.plan_access_entries("c", have, want)["errors"][0]


def test_same_principal_counts_a_session_as_its_role():
    assert aws.same_principal("arn:aws:iam::123456789012:role/path/ops",
                              "arn:aws:sts::123456789012:assumed-role/ops/awx-job")
    assert not aws.same_principal(USER, "arn:aws:iam::123456789012:user/bob")


def test_result_lists_entries_and_policies():
    out = aws.access_entries_result({USER: view(policies={VIEW: {"type": "cluster", "namespaces": []}})})
    assert out[0]["access_policies"] == [{"policy_arn": VIEW, "access_scope": {"type": "cluster", "namespaces": []}}]
