"""Unit tests of plugins/module_utils/gcp.py: validation, views, the update planner, auth, the client."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # ansible_collections/multicloud/mesh -> the repo (make venv)

from ansible_collections.multicloud.mesh.plugins.module_utils import gcp  # noqa: E402

POOL = {"name": "np", "machine_type": "n1-standard-4", "initial_node_count": 1, "disk_size_gb": None,
        "autoscaling": {"enabled": True, "min_node_count": 1, "max_node_count": 5},
        "labels": None, "taints": None, "auto_upgrade": None, "auto_repair": None}


def params(**kw):
    base = {"project": "p1", "location": "europe-west3-b", "name": "c1", "state": "present",
            "initial_cluster_version": None, "release_channel": None, "network": None, "subnetwork": None,
            "node_pools": [dict(POOL)], "addons": None, "labels": None, "workload_identity": None,
            "master_authorized_networks": None}
    base.update(kw)
    return base


def api_cluster(**kw):
    cluster = {
        "name": "c1", "location": "europe-west3-b", "currentMasterVersion": "1.33.5-gke.1080000",
        "network": "default", "subnetwork": "default", "resourceLabels": {}, "labelFingerprint": "abc",
        "addonsConfig": {"httpLoadBalancing": {}, "horizontalPodAutoscaling": {},
                         "networkPolicyConfig": {"disabled": True}, "gcePersistentDiskCsiDriverConfig": {"enabled": True}},
        "releaseChannel": {"channel": "UNSPECIFIED"}, "status": "RUNNING",
        "nodePools": [{"name": "np", "initialNodeCount": 1,
                       "config": {"machineType": "n1-standard-4", "diskSizeGb": 100},
                       "autoscaling": {"enabled": True, "minNodeCount": 1, "maxNodeCount": 5},
                       "management": {"autoUpgrade": True, "autoRepair": True}}],
    }
    cluster.update(kw)
    return cluster


def plan(p, cluster=None):
    before = gcp.cluster_view(cluster or api_cluster())
    return gcp.plan_update(before, gcp.desired_view(p, before), p["project"])


# ---- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("override, fragment", [
    ({"project": None}, "project is required"),
    ({"location": "europe-west3-bb"}, "neither a zone"),
    ({"location": "EU"}, "neither a zone"),
    ({"name": "Bad_Name"}, "name 'Bad_Name'"),
    ({"initial_cluster_version": "one"}, "not a GKE version"),
    ({"node_pools": [dict(POOL, autoscaling={"enabled": True, "min_node_count": 6, "max_node_count": 5})]},
     "min_node_count (6) must be >= 0 and <= max_node_count (5)"),
    ({"node_pools": [dict(POOL, autoscaling={"enabled": True, "min_node_count": 1, "max_node_count": None})]},
     "needs min_node_count and max_node_count"),
    ({"node_pools": [dict(POOL), dict(POOL)]}, "appears twice"),
    ({"node_pools": []}, "must not be empty"),
    ({"node_pools": [dict(POOL, disk_size_gb=5)]}, "disk_size_gb must be at least 10"),
    ({"master_authorized_networks": [{"cidr_block": "10.0.0.0"}]}, "is not a CIDR block"),
])
def test_validate_params_errors(override, fragment):
    errors = gcp.validate_params(params(**override))
    assert any(fragment in e for e in errors), errors


def test_validate_params_ok():
    assert gcp.validate_params(params()) == []
    assert gcp.validate_params(params(location="us-central1", initial_cluster_version="1.33.5-gke.1080000")) == []
    assert gcp.location_kind("us-central1") == "region" and gcp.location_kind("us-central1-f") == "zone"


# ---- planner ------------------------------------------------------------------------------------

def test_no_change_is_empty_plan():
    assert plan(params()) == {"errors": [], "steps": []}
    # options not given leave the cluster alone, initial_node_count is creation-only
    assert plan(params(node_pools=None))["steps"] == []
    assert plan(params(node_pools=[dict(POOL, initial_node_count=7)]))["steps"] == []
    # a version alias that matches the master is no change
    assert plan(params(initial_cluster_version="1.33"))["steps"] == []


def test_autoscaling_max_change():
    p = params(node_pools=[dict(POOL, autoscaling={"enabled": True, "min_node_count": 1, "max_node_count": 8})])
    steps = plan(p)["steps"]
    assert [(s["call"], s["args"]) for s in steps] == [
        ("set_autoscaling", ["c1", "np", {"enabled": True, "minNodeCount": 1, "maxNodeCount": 8}])]


def test_add_and_remove_pools_and_order():
    p = params(initial_cluster_version="1.34", labels={"team": "mesh"},
               node_pools=[{"name": "np2", "machine_type": None, "initial_node_count": 2, "disk_size_gb": None,
                            "autoscaling": None, "labels": {"role": "gw"}, "taints": None,
                            "auto_upgrade": None, "auto_repair": None}])
    steps = plan(p)["steps"]
    assert [s["call"] for s in steps] == ["update_cluster", "set_labels", "create_node_pool", "delete_node_pool"]
    assert steps[0]["args"][1] == {"desiredMasterVersion": "1.34"}
    created = steps[2]["args"][1]
    assert created["name"] == "np2" and created["initialNodeCount"] == 2 and created["config"]["labels"] == {"role": "gw"}
    assert steps[3]["args"] == ["c1", "np"]


def test_immutable_options_are_named():
    p = params(network="other", node_pools=[dict(POOL, machine_type="e2-small", disk_size_gb=50)])
    errors = plan(p)["errors"]
    assert any(e.startswith("network cannot change") for e in errors)
    assert any("node_pools[np].machine_type" in e for e in errors)
    assert any("node_pools[np].disk_size_gb" in e for e in errors)


def test_master_downgrade_is_an_error():
    assert "cannot downgrade" in plan(params(initial_cluster_version="1.32"))["errors"][0]


def test_cluster_settings_updates():
    p = params(addons={"http_load_balancing": False, "dns_cache": None}, workload_identity=True,
               release_channel="REGULAR", master_authorized_networks=[{"cidr_block": "10.0.0.0/8", "display_name": None}])
    updates = [s["args"][1] for s in plan(p)["steps"]]
    assert {"desiredReleaseChannel": {"channel": "REGULAR"}} in updates
    assert {"desiredAddonsConfig": {"httpLoadBalancing": {"disabled": True}}} in updates
    assert {"desiredWorkloadIdentityConfig": {"workloadPool": "p1.svc.id.goog"}} in updates
    assert {"desiredMasterAuthorizedNetworksConfig": {"enabled": True, "cidrBlocks": [{"cidrBlock": "10.0.0.0/8"}]}} in updates
    # and back off
    cluster = api_cluster(workloadIdentityConfig={"workloadPool": "p1.svc.id.goog"},
                          masterAuthorizedNetworksConfig={"enabled": True, "cidrBlocks": [{"cidrBlock": "10.0.0.0/8"}]})
    updates = [s["args"][1] for s in plan(params(workload_identity=False, master_authorized_networks=[]), cluster)["steps"]]
    assert updates == [{"desiredWorkloadIdentityConfig": {"workloadPool": ""}},
                       {"desiredMasterAuthorizedNetworksConfig": {"enabled": False}}]


def test_pool_labels_taints_management():
    p = params(node_pools=[dict(POOL, labels={"a": "b"}, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}],
                                auto_repair=False)])
    steps = plan(p)["steps"]
    assert steps[0]["call"] == "update_node_pool"
    assert steps[0]["args"][2] == {"labels": {"labels": {"a": "b"}},
                                   "taints": {"taints": [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}]}}
    assert steps[1]["args"][2] == {"autoUpgrade": True, "autoRepair": False}
    # same taints in API spelling and order: no change
    cluster = api_cluster()
    cluster["nodePools"][0]["config"]["taints"] = [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}]
    assert plan(params(node_pools=[dict(POOL, taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])]), cluster)["steps"] == []


def test_cluster_body_for_create():
    p = params(labels={"Team": "x"}, workload_identity=True)
    body = gcp.cluster_body(p, gcp.desired_view(p, None))
    assert body["workloadIdentityConfig"] == {"workloadPool": "p1.svc.id.goog"}
    assert body["nodePools"][0]["autoscaling"] == {"enabled": True, "minNodeCount": 1, "maxNodeCount": 5}
    assert body["addonsConfig"]["httpLoadBalancing"] == {"disabled": False}
    assert body["resourceLabels"] == {"Team": "x"}


def test_to_snake_keeps_label_keys():
    out = gcp.to_snake({"resourceLabels": {"costCenter": "a"}, "masterAuth": {"clusterCaCertificate": "x"},
                        "nodePools": [{"config": {"labels": {"myLabel": "v"}, "diskSizeGb": 1}}]})
    assert out == {"resource_labels": {"costCenter": "a"}, "master_auth": {"cluster_ca_certificate": "x"},
                   "node_pools": [{"config": {"labels": {"myLabel": "v"}, "disk_size_gb": 1}}]}


# ---- authentication -----------------------------------------------------------------------------

def test_auth_kind_inference():
    assert gcp._auth_kind({"access_token": "t"}) == "accesstoken"
    assert gcp._auth_kind({"service_account_file": "/k"}) == "serviceaccount"
    assert gcp._auth_kind({}) == "application"


@pytest.mark.parametrize("content, fragment", [
    (None, "does not exist"),
    ("not json", "is not a JSON service account key"),
    (json.dumps({"type": "authorized_user"}), "is not a service account key"),
    (json.dumps({"type": "service_account", "client_email": "a@b"}), "lacks private_key, token_uri"),
    (json.dumps({"type": "service_account", "client_email": "a@b", "private_key": "garbage", "token_uri": "x"}),
     "cannot be loaded"),
])
def test_bad_key_files(tmp_path, content, fragment):
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(gcp.GcpError, match=fragment.replace("(", r"\(")):
        gcp.gcp_credentials({"auth_kind": "serviceaccount", "service_account_file": str(path)})


def test_missing_credentials(monkeypatch, tmp_path):
    with pytest.raises(gcp.GcpError, match="needs service_account_file"):
        gcp.gcp_credentials({"auth_kind": "serviceaccount"})
    with pytest.raises(gcp.GcpError, match="needs access_token"):
        gcp.gcp_credentials({"auth_kind": "accesstoken"})
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # no metadata server
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    with pytest.raises(gcp.GcpError, match="no Google credentials found"):
        gcp.gcp_credentials({"auth_kind": "application"})


def test_env_fallbacks_in_argument_spec():
    spec = gcp.auth_argument_spec()
    assert "GCE_CREDENTIALS_FILE_PATH" in spec["service_account_file"]["fallback"][1]
    assert spec["service_account_contents"]["no_log"] and spec["access_token"]["no_log"]


# ---- client: retries and operations (a fake session, no network) ------------------------------

class FakeResponse:
    def __init__(self, code, body):
        self.status_code = code
        self._body = body
        self.content = json.dumps(body).encode()
        self.text = self.content.decode()

    def json(self):
        return self._body


class FakeSession:
    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def request(self, method, url, json=None, timeout=None):
        self.calls.append((method, url.split("/v1/")[1], json))
        return self.script.pop(0)


def err(code, status, message="x"):
    return FakeResponse(code, {"error": {"code": code, "status": status, "message": message}})


@pytest.fixture
def fast():
    return None


def client(script, **kw):
    """A client on a fake session and a fake clock: sleeps advance the clock instantly."""
    c = gcp.GkeClient(FakeSession(script), "p1", "europe-west3-b", endpoint="http://emu", poll_interval=1.0, **kw)
    now = [0.0]
    c.clock = lambda: now[0]
    c.sleep = lambda seconds: now.__setitem__(0, now[0] + seconds)
    c.slept = now
    return c


def test_retries_429_and_503(fast):
    c = client([err(429, "RESOURCE_EXHAUSTED"), err(503, "UNAVAILABLE"), FakeResponse(200, {"name": "c1"})])
    assert c.get_cluster("c1") == {"name": "c1"} and c.retries == 2


def test_not_found_is_none_and_permission_denied_is_clear(fast):
    assert client([err(404, "NOT_FOUND")]).get_cluster("c1") is None
    with pytest.raises(gcp.GcpError, match="PERMISSION_DENIED .*roles/container.admin"):
        client([err(403, "PERMISSION_DENIED", "denied")]).get_cluster("c1")


def test_failed_precondition_waits_for_running_operation(fast):
    busy = err(400, "FAILED_PRECONDITION", "Cluster is running incompatible operation operation-1-ab.")
    c = client([busy, FakeResponse(200, {"name": "operation-1-ab", "status": "RUNNING"}),
                FakeResponse(200, {"name": "operation-1-ab", "status": "DONE"}),
                FakeResponse(200, {"name": "operation-2-cd", "status": "RUNNING"})])
    op = c.update_cluster("c1", {"desiredMasterVersion": "1.34"})
    assert op["name"] == "operation-2-cd"
    assert [call[1].split("/")[-1] for call in c.session.calls] == ["c1", "operation-1-ab", "operation-1-ab", "c1"]


def test_failed_precondition_not_retried_for_reads(fast):
    with pytest.raises(gcp.GcpError, match="FAILED_PRECONDITION"):
        client([err(400, "FAILED_PRECONDITION", "operation-1-ab running")]).get_cluster("c1")


def test_operation_error_reported_with_message(fast):
    c = client([FakeResponse(200, {"name": "operation-9", "status": "DONE", "operationType": "CREATE_CLUSTER",
                                   "error": {"code": 8, "message": "Insufficient regional quota"}})])
    with pytest.raises(gcp.GcpError, match="operation-9 \\(CREATE_CLUSTER\\) failed: Insufficient regional quota"):
        c.wait_operation({"name": "operation-9", "status": "RUNNING"})


def test_operation_timeout():
    c = client([FakeResponse(200, {"name": "op", "status": "RUNNING"})] * 100)
    with pytest.raises(gcp.GcpError, match="timed out after 5s .* still running"):
        c.wait_operation({"name": "op", "status": "RUNNING", "operationType": "CREATE_CLUSTER"}, timeout=5)


def test_wait_idle_only_waits_for_this_cluster(fast):
    ops = {"operations": [
        {"name": "a", "status": "RUNNING", "targetLink": "http://x/v1/projects/p1/locations/l/clusters/c1/nodePools/np"},
        {"name": "b", "status": "RUNNING", "targetLink": "http://x/v1/projects/p1/locations/l/clusters/c10"},
        {"name": "c", "status": "DONE", "targetLink": "http://x/v1/projects/p1/locations/l/clusters/c1"}]}
    c = client([FakeResponse(200, ops), FakeResponse(200, {"name": "a", "status": "DONE"})])
    assert c.wait_idle("c1") == 1


SERVER_CONFIG = {"validMasterVersions": ["1.34.1-gke.1829001", "1.33.5-gke.1080000"],
                 "channels": [{"channel": "REGULAR", "defaultVersion": "1.33.5-gke.1080000"}]}


def test_server_config_refuses_a_version_or_channel_not_offered():
    errors = gcp.server_config_errors(SERVER_CONFIG, "1.29", None, "europe-west1")
    assert errors == ["initial_cluster_version 1.29 is not offered by GKE in europe-west1; valid master versions: "
                      "1.34.1-gke.1829001, 1.33.5-gke.1080000"]
    assert gcp.server_config_errors(SERVER_CONFIG, None, "RAPID", "europe-west1") == [
        "release_channel RAPID is not offered by GKE in europe-west1; offered: REGULAR"]


@pytest.mark.parametrize("version", ["1.34", "1.33.5", "1.34.1-gke.1829001", "latest", None])
def test_server_config_accepts_what_it_offers(version):
    assert gcp.server_config_errors(SERVER_CONFIG, version, "REGULAR", "europe-west1") == []


def test_a_long_operation_reports_its_progress(tmp_path):
    from ansible_collections.multicloud.mesh.plugins.module_utils.progress import Progress
    running = {"name": "operation-7", "status": "RUNNING", "operationType": "CREATE_CLUSTER",
               "targetLink": "https://container.googleapis.com/v1/projects/p1/locations/europe-west3-b/clusters/mesh-2"}
    path = tmp_path / "progress.log"
    c = client([FakeResponse(200, running)] * 60 + [FakeResponse(200, dict(running, status="DONE"))])
    c.progress = Progress(str(path), every=30, clock=c.clock)
    c.wait_operation(dict(running), timeout=600)
    lines = path.read_text().splitlines()
    assert lines and all(line.startswith("GKE CREATE_CLUSTER of clusters/mesh-2: RUNNING, ") for line in lines)
    seconds = [int(line.rsplit(", ", 1)[1].split()[0]) for line in lines]
    assert all(b - a <= 60 for a, b in zip([0] + seconds, seconds)) and len(lines) >= 3


# ---- hardening (issue 15): private nodes, node service account and scopes ------------------------

SA = "mesh-nodes@p1.iam.gserviceaccount.com"
LOGGING = "https://www.googleapis.com/auth/logging.write"


@pytest.mark.parametrize("override, fragment", [
    ({"master_ipv4_cidr_block": "172.16.0.0/28"}, "master_ipv4_cidr_block is only used with private_nodes: true"),
    ({"private_nodes": True, "master_ipv4_cidr_block": "172.16.0.0/24"}, "must be a private /28"),
    ({"private_nodes": True, "master_ipv4_cidr_block": "8.8.8.0/28"}, "must be a private /28"),
    ({"private_nodes": True, "master_ipv4_cidr_block": "172.16.0.1/28"}, "is not an IPv4 CIDR block"),
    ({"node_pools": [dict(POOL, service_account="nodes")]}, "node_pools[0].service_account 'nodes' must be default"),
    ({"node_pools": [dict(POOL, service_account="x@p1.iam.gserviceaccount.com")]}, "must be default or a service account"),
    ({"node_pools": [dict(POOL, oauth_scopes=[])]}, "node_pools[0].oauth_scopes must not be empty"),
    ({"node_pools": [dict(POOL, oauth_scopes=["cloud-platform"])]}, "'cloud-platform' is not a scope URL"),
])
def test_hardening_options_are_validated(override, fragment):
    errors = gcp.validate_params(params(**override))
    assert any(fragment in e for e in errors), errors


def test_hardening_options_good_input():
    assert gcp.validate_params(params(private_nodes=True, master_ipv4_cidr_block="172.16.0.0/28",
                                      node_pools=[dict(POOL, service_account=SA, oauth_scopes=[LOGGING])])) == []
    assert gcp.validate_params(params(private_nodes=True, node_pools=[dict(POOL, service_account="default")])) == []


def test_private_nodes_body_is_vpc_native():
    p = params(private_nodes=True, master_ipv4_cidr_block="172.16.0.0/28")
    body = gcp.cluster_body(p, gcp.desired_view(p, None))
    assert body["privateClusterConfig"] == {"enablePrivateNodes": True, "masterIpv4CidrBlock": "172.16.0.0/28"}
    assert body["ipAllocationPolicy"] == {"useIpAliases": True}
    body = gcp.cluster_body(params(), gcp.desired_view(params(), None))
    assert "privateClusterConfig" not in body and "ipAllocationPolicy" not in body


def test_node_service_account_and_scopes_in_the_pool_body():
    p = params(node_pools=[dict(POOL, service_account=SA, oauth_scopes=[LOGGING, LOGGING])])
    config = gcp.cluster_body(p, gcp.desired_view(p, None))["nodePools"][0]["config"]
    assert config["serviceAccount"] == SA and config["oauthScopes"] == [LOGGING]
    config = gcp.cluster_body(params(), gcp.desired_view(params(), None))["nodePools"][0]["config"]
    assert config["serviceAccount"] == "default" and config["oauthScopes"] == [gcp.CLOUD_PLATFORM_SCOPE]


def test_private_nodes_and_node_identity_are_fixed_at_creation():
    assert plan(params()) == {"errors": [], "steps": []}  # an old cluster without them: unchanged
    result = plan(params(private_nodes=True))
    assert result["steps"] == [] and "private_nodes cannot change from False to True" in result["errors"][0]
    result = plan(params(node_pools=[dict(POOL, service_account=SA)]))
    assert "node_pools[np].service_account cannot change from 'default'" in result["errors"][0]
    result = plan(params(node_pools=[dict(POOL, oauth_scopes=[LOGGING])]))
    assert "node_pools[np].oauth_scopes cannot change" in result["errors"][0]
    private = api_cluster(privateClusterConfig={"enablePrivateNodes": True, "masterIpv4CidrBlock": "172.16.0.0/28"},
                          ipAllocationPolicy={"useIpAliases": True})
    private["nodePools"][0]["config"].update(serviceAccount=SA, oauthScopes=[LOGGING])
    same = params(private_nodes=True, node_pools=[dict(POOL, service_account=SA, oauth_scopes=[LOGGING])])
    assert plan(same, private) == {"errors": [], "steps": []}
    assert plan(dict(same, master_ipv4_cidr_block="172.16.0.0/28"), private) == {"errors": [], "steps": []}
    result = plan(dict(same, master_ipv4_cidr_block="172.16.1.0/28"), private)
    assert "master_ipv4_cidr_block cannot change" in result["errors"][0]
