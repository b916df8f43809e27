"""Behaviour of the sandbox's GKE emulator: tokens, errors, operations, faults, persistence."""

import json
import os
import time

import pytest
import requests
from google.auth import exceptions as gexc
from google.oauth2 import service_account

from gke_emulator_helpers import Running, gke_emulator


@pytest.fixture
def run(tmp_path):
    r = Running(tmp_path)
    yield r
    r.close()


def create(run, name="c1", **extra):
    body = {"cluster": dict({"name": name, "nodePools": [{"name": "np", "initialNodeCount": 1}]}, **extra)}
    return run.session.post(run.api("clusters"), json=body)


def test_token_is_real_and_remembered(run):
    resp = run.session.get(run.api("clusters"))
    assert resp.status_code == 200 and resp.json() == {"clusters": []}
    token = run.credentials.token
    assert token.startswith("ya29.") and run.emu.token_info(token)["email"] == run.key["client_email"]
    assert run.emu.state["tokens"][token]["expiry"] > time.time() + 3000


def test_forged_key_is_refused(run):
    forged = dict(run.key)
    other = gke_emulator.GkeEmulator(state_dir=run.emu.state_dir + "-other", clusters="none")
    forged["private_key"] = other.create_key("p1")["private_key"]  # same kid, wrong key
    creds = service_account.Credentials.from_service_account_info(forged, scopes=["x"])
    with pytest.raises(gexc.RefreshError, match="invalid_grant|Invalid JWT Signature"):
        creds.refresh(__import__("google.auth.transport.requests", fromlist=["Request"]).Request())


def test_unauthenticated_and_permission_denied(run):
    resp = requests.get(run.api("clusters"), headers={"Authorization": "Bearer ya29.made-up"})
    assert resp.status_code == 401 and resp.json()["error"]["status"] == "UNAUTHENTICATED"
    resp = run.session.get(run.url + "/v1/projects/other/locations/europe-west3-b/clusters")
    assert resp.status_code == 403 and resp.json()["error"]["status"] == "PERMISSION_DENIED"


def test_errors_are_google_rpc_status(run):
    resp = run.session.get(run.api("clusters/nope"))
    assert resp.json() == {"error": {"code": 404, "message": resp.json()["error"]["message"], "status": "NOT_FOUND"}}
    resp = run.session.get(run.url + "/v1/projects/p1/locations/mars-north9-z/clusters")
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    resp = run.session.post(run.api("clusters"), json={"cluster": {"name": "c1", "bogusField": 1}})
    assert resp.status_code == 400 and 'Unknown name "bogusField"' in resp.json()["error"]["message"]
    resp = create(run, nodePools=[{"name": "np", "autoscaling": {"enabled": True, "minNodeCount": 5, "maxNodeCount": 2}}])
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_lifecycle_and_concurrency(run):
    op = create(run).json()
    assert op["operationType"] == "CREATE_CLUSTER" and op["status"] == "RUNNING"
    assert op["targetLink"].endswith("/clusters/c1")
    assert create(run).json()["error"]["status"] == "ALREADY_EXISTS"
    assert run.session.get(run.api("clusters/c1")).json()["status"] == "PROVISIONING"
    busy = run.session.put(run.api("clusters/c1"), json={"update": {"desiredMasterVersion": "latest"}})
    assert busy.status_code == 400 and busy.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert op["name"] in busy.json()["error"]["message"]
    run.wait_op(op)
    cluster = run.session.get(run.api("clusters/c1")).json()
    assert cluster["status"] == "RUNNING" and cluster["endpoint"] and cluster["masterAuth"]["clusterCaCertificate"]
    op = run.session.put(run.api("clusters/c1"), json={"update": {"desiredMasterVersion": "latest"}}).json()
    assert op["operationType"] == "UPGRADE_MASTER"
    assert run.session.get(run.api("clusters/c1")).json()["status"] == "RECONCILING"
    run.wait_op(op)
    assert run.session.get(run.api("clusters/c1")).json()["currentMasterVersion"] == gke_emulator.VALID_MASTER_VERSIONS[0]
    # label fingerprint
    stale = run.session.post(run.api("clusters/c1:setResourceLabels"), json={"resourceLabels": {"a": "b"}, "labelFingerprint": "0"})
    assert stale.json()["error"]["status"] == "FAILED_PRECONDITION"
    op = run.session.delete(run.api("clusters/c1")).json()
    assert run.session.get(run.api("clusters/c1")).json()["status"] == "STOPPING"
    run.wait_op(op)
    assert run.session.get(run.api("clusters/c1")).status_code == 404


def test_fault_injection(run):
    requests.post(run.url + "/_emulator/faults", json={"count": 2, "code": 429})
    assert run.session.get(run.api("clusters")).status_code == 429
    assert run.session.get(run.api("clusters")).json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert run.session.get(run.api("clusters")).status_code == 200
    requests.post(run.url + "/_emulator/faults", json={"count": 1, "code": 503})
    assert run.session.get(run.api("clusters")).json()["error"]["status"] == "UNAVAILABLE"


def test_token_review(run):
    run.session.get(run.api("clusters"))
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": run.credentials.token}}
    out = requests.post(run.url + "/tokenreview", json=review).json()
    assert out["status"]["authenticated"] and out["status"]["user"]["username"] == run.key["client_email"]
    review["spec"]["token"] = "ya29.not-ours"
    assert requests.post(run.url + "/tokenreview", json=review).json()["status"] == {"authenticated": False}


def test_state_survives_restart(tmp_path):
    first = Running(tmp_path)
    first.wait_op(create(first).json())
    token = first.credentials.token
    first.close()
    again = gke_emulator.GkeEmulator(state_dir=str(tmp_path / "gke"), clusters="none")
    assert "p1/europe-west3-b/c1" in again.state["clusters"] and again.token_info(token)
    assert oct(os.stat(again.state_file).st_mode & 0o777) == "0o600"
    assert json.load(open(again.state_file))["clusters"]["p1/europe-west3-b/c1"]["status"] == "RUNNING"


def test_local_cluster_names_are_dns_labels(run):
    run.wait_op(create(run, name="a" * 40).json())
    local = run.emu.state["clusters"]["p1/europe-west3-b/" + "a" * 40]["_local_name"]
    assert len(local) <= 40 and local.startswith("g-")


def test_fault_kinds_slow_and_operation(run):
    requests.post(run.url + "/_emulator/faults", json={"kind": "slow", "delay": 0.5, "count": 1, "match": "/clusters"})
    started = time.monotonic()
    assert run.session.get(run.api("clusters")).status_code == 200
    assert time.monotonic() - started >= 0.5
    resp = requests.post(run.url + "/_emulator/faults",
                         json={"kind": "operation", "match": "CREATE_CLUSTER", "message": "no capacity (injected)"})
    assert resp.status_code == 200
    done = run.wait_op(create(run, name="opfail").json())
    assert done["error"]["message"] == "no capacity (injected)" and done["error"]["code"] == 8
    assert run.session.get(run.api("clusters/opfail")).json()["status"] == "ERROR"
    assert requests.post(run.url + "/_emulator/faults", json={"kind": "nope"}).status_code == 400


# ---- hardening (issue 15): what GKE refuses, the emulator refuses ---------------------------------------

def refused(resp, text):
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and text in error["message"], error
    return error["message"]


def test_private_nodes_need_vpc_native_and_a_28_master_range(run):
    private = {"enablePrivateNodes": True, "masterIpv4CidrBlock": "172.16.0.0/28"}
    refused(create(run, privateClusterConfig=private), "Alias IP addresses are required for private cluster")
    refused(create(run, privateClusterConfig=dict(private, masterIpv4CidrBlock="172.16.0.0/24"),
                   ipAllocationPolicy={"useIpAliases": True}), "must be a /28")
    refused(create(run, privateClusterConfig=dict(private, masterIpv4CidrBlock="172.16.0.300/28"),
                   ipAllocationPolicy={"useIpAliases": True}), "172.16.0.300/28")
    assert run.emu.state["clusters"] == {}
    op = create(run, privateClusterConfig=private, ipAllocationPolicy={"useIpAliases": True}).json()
    run.wait_op(op)
    cluster = run.session.get(run.api("clusters/c1")).json()
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cluster["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.0.0/28"
    assert cluster["privateClusterConfig"]["privateEndpoint"].startswith("172.16.0.")
    assert cluster["ipAllocationPolicy"]["useIpAliases"] is True


def test_workload_pool_must_be_the_projects(run):
    refused(create(run, workloadIdentityConfig={"workloadPool": "other.svc.id.goog"}), "p1.svc.id.goog")
    op = create(run, workloadIdentityConfig={"workloadPool": "p1.svc.id.goog"}).json()
    run.wait_op(op)
    resp = run.session.put(run.api("clusters/c1"),
                           json={"update": {"desiredWorkloadIdentityConfig": {"workloadPool": "p1.example"}}})
    refused(resp, "p1.svc.id.goog")


def test_node_service_account_must_be_an_email_or_default(run):
    for bad in ("nodes", "nodes@p1", "nodes@@p1.iam.gserviceaccount.com", "Nodes@p1.iam.gserviceaccount.com "):
        refused(create(run, nodePools=[{"name": "np", "config": {"serviceAccount": bad}}]), "serviceAccount")
    refused(create(run, nodePools=[{"name": "np", "config": {"oauthScopes": ["cloud-platform"]}}]), "oauthScopes")
    assert run.emu.state["clusters"] == {}
    sa = "mesh-nodes@p1.iam.gserviceaccount.com"
    op = create(run, nodePools=[{"name": "np", "config": {"serviceAccount": sa, "oauthScopes": [
        "https://www.googleapis.com/auth/logging.write"]}}]).json()
    run.wait_op(op)
    pool = run.session.get(run.api("clusters/c1/nodePools/np")).json()
    assert pool["config"]["serviceAccount"] == sa
    assert pool["config"]["oauthScopes"] == ["https://www.googleapis.com/auth/logging.write"]
    resp = run.session.post(run.api("clusters/c1/nodePools"),
                            json={"nodePool": {"name": "np2", "config": {"serviceAccount": "x@"}}})
    refused(resp, "serviceAccount")


def test_channel_and_a_version_it_does_not_carry(run):
    regular = gke_emulator.CHANNEL_DEFAULTS["REGULAR"]
    rapid_only = gke_emulator.CHANNEL_DEFAULTS["RAPID"]
    message = refused(create(run, releaseChannel={"channel": "REGULAR"}, initialClusterVersion=rapid_only),
                      'channel supported versions')
    assert regular in message and "REGULAR" in message
    op = create(run, releaseChannel={"channel": "REGULAR"}, initialClusterVersion=regular).json()
    run.wait_op(op)
    assert run.session.get(run.api("clusters/c1")).json()["currentMasterVersion"] == regular
