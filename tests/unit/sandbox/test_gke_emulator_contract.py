"""The GKE emulator speaks GKE v1: every field name it accepts and returns exists in the
discovery document google-api-python-client ships (container.v1.json), with the JSON type the
document gives it, and enum values it returns are enum values of the document."""

import json
import os

import googleapiclient
import pytest

from gke_emulator_helpers import Running, gke_emulator

DISCOVERY = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", "container.v1.json")


@pytest.fixture(scope="module")
def schemas():
    with open(DISCOVERY) as handle:
        return json.load(handle)["schemas"]


def walk_tree(tree, schema, schemas, path):
    """An emulator request tree (None | "map" | dict | [x]) against a discovery schema."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    if tree is None:
        assert schema.get("type") in ("string", "integer", "boolean", "number"), path
    elif tree == "map":
        assert schema.get("type") == "object" and "additionalProperties" in schema, path
    elif isinstance(tree, list):
        assert schema.get("type") == "array", path
        walk_tree(tree[0], schema["items"], schemas, path + "[]")
    else:
        props = schema.get("properties")
        assert props is not None, "%s is not an object in the discovery document" % path
        for name, sub in tree.items():
            assert name in props, "%s.%s is not a field of %s" % (path, name, schema.get("id"))
            walk_tree(sub, props[name], schemas, path + "." + name)


def walk_value(value, schema, schemas, path, seen):
    """A JSON value the emulator returned against a discovery schema."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    if kind == "object" and "additionalProperties" in schema:
        assert isinstance(value, dict), path
        for key, item in value.items():
            walk_value(item, schema["additionalProperties"], schemas, "%s[%s]" % (path, key), seen)
        return
    if kind == "object" or "properties" in schema:
        assert isinstance(value, dict), "%s should be an object, is %r" % (path, value)
        props = schema.get("properties", {})
        for key, item in value.items():
            assert key in props, "%s.%s is not a field of %s" % (path, key, schema.get("id"))
            seen.add("%s.%s" % (schema.get("id"), key))
            walk_value(item, props[key], schemas, path + "." + key, seen)
        return
    if kind == "array":
        assert isinstance(value, list), path
        for i, item in enumerate(value):
            walk_value(item, schema["items"], schemas, "%s[%d]" % (path, i), seen)
        return
    if kind == "string":
        assert isinstance(value, str), "%s should be a string (format %s), is %r" % (path, schema.get("format"), value)
        if "enum" in schema:
            assert value in schema["enum"], "%s=%r not in %s" % (path, value, schema["enum"])
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), "%s should be an integer" % path
    elif kind == "boolean":
        assert isinstance(value, bool), "%s should be a boolean" % path
    elif kind == "any":
        pass
    else:
        raise AssertionError("%s: unexpected schema type %r" % (path, kind))


@pytest.mark.parametrize("request_name", sorted(gke_emulator.REQUEST_SCHEMAS))
def test_accepted_request_fields_exist(schemas, request_name):
    walk_tree(gke_emulator.REQUEST_SCHEMAS[request_name], {"$ref": request_name}, schemas, request_name)


def test_returned_fields_exist(schemas, tmp_path):
    run = Running(tmp_path, delay=0.1)
    s = run.session
    seen = set()
    try:
        def check(response, schema_name):
            assert response.status_code == 200, response.text
            walk_value(response.json(), {"$ref": schema_name}, schemas, schema_name, seen)
            return response.json()

        cluster = {
            "name": "c1", "network": "default", "initialClusterVersion": "1.33",
            "resourceLabels": {"team": "mesh"}, "workloadIdentityConfig": {"workloadPool": "p1.svc.id.goog"},
            "masterAuthorizedNetworksConfig": {"enabled": True, "cidrBlocks": [{"cidrBlock": "10.0.0.0/8", "displayName": "x"}]},
            "addonsConfig": {"httpLoadBalancing": {"disabled": False}, "dnsCacheConfig": {"enabled": True}},
            "nodePools": [{
                "name": "np", "initialNodeCount": 1,
                "config": {"machineType": "n1-standard-4", "diskSizeGb": 50, "labels": {"a": "b"},
                           "taints": [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}]},
                "autoscaling": {"enabled": True, "minNodeCount": 1, "maxNodeCount": 5},
                "management": {"autoUpgrade": True, "autoRepair": True}}],
        }
        op = check(s.post(run.api("clusters"), json={"cluster": cluster}), "Operation")
        check(s.get(run.api("clusters/c1")), "Cluster")  # while PROVISIONING
        run.wait_op(op)
        got = check(s.get(run.api("clusters/c1")), "Cluster")
        assert got["status"] == "RUNNING"
        op = check(s.put(run.api("clusters/c1"), json={"update": {"desiredMasterVersion": "1.34"}}), "Operation")
        check(s.get(run.api("clusters/c1")), "Cluster")  # RECONCILING
        run.wait_op(op)
        op = check(s.post(run.api("clusters/c1:setResourceLabels"),
                          json={"resourceLabels": {"x": "y"}, "labelFingerprint": got["labelFingerprint"]}), "Operation")
        run.wait_op(op)
        op = check(s.post(run.api("clusters/c1/nodePools"), json={"nodePool": {"name": "np2", "initialNodeCount": 1}}), "Operation")
        run.wait_op(op)
        for verb, body in (("setAutoscaling", {"autoscaling": {"enabled": True, "minNodeCount": 0, "maxNodeCount": 3}}),
                           ("setSize", {"nodeCount": 2}),
                           ("setManagement", {"management": {"autoUpgrade": False, "autoRepair": True}})):
            run.wait_op(check(s.post(run.api("clusters/c1/nodePools/np2:" + verb), json=body), "Operation"))
        run.wait_op(check(s.put(run.api("clusters/c1/nodePools/np2"),
                                json={"labels": {"labels": {"k": "v"}}, "taints": {"taints": []}}), "Operation"))
        check(s.get(run.api("clusters/c1/nodePools/np2")), "NodePool")
        check(s.get(run.api("clusters/c1/nodePools")), "ListNodePoolsResponse")
        check(s.get(run.api("clusters")), "ListClustersResponse")
        check(s.get(run.api("serverConfig")), "ServerConfig")
        # an operation that fails carries a google.rpc.Status in "error"
        run.emu.state["clusters"]["p1/europe-west3-b/c1"]["_local_name"] = "fail-me"
        original = run.emu._work_delete_node_pool

        def broken(op):
            raise gke_emulator.ApiError(400, "node pool np2 is busy", "FAILED_PRECONDITION")
        run.emu._work_delete_node_pool = broken
        failed = run.wait_op(check(s.delete(run.api("clusters/c1/nodePools/np2")), "Operation"))
        walk_value(failed, {"$ref": "Operation"}, schemas, "Operation", seen)
        assert failed["error"]["code"] == 9 and "busy" in failed["error"]["message"]
        run.emu._work_delete_node_pool = original
        op = check(s.delete(run.api("clusters/c1")), "Operation")
        check(s.get(run.api("operations/" + op["name"])), "Operation")
        check(s.get(run.api("operations")), "ListOperationsResponse")
        run.wait_op(op)
    finally:
        run.close()
    # the walk really covered the shapes the module reads
    for field in ("Cluster.endpoint", "Cluster.masterAuth", "MasterAuth.clusterCaCertificate", "Cluster.status",
                  "Cluster.currentMasterVersion", "Cluster.labelFingerprint", "NodePool.autoscaling",
                  "Operation.targetLink", "Operation.operationType", "Operation.error", "Status.message"):
        assert field in seen, field


def test_module_request_bodies_exist(schemas):
    """What plugins/module_utils/gcp.py sends is also GKE v1 (and accepted by the emulator)."""
    from ansible_collections.multicloud.mesh.plugins.module_utils import gcp

    params = {"project": "p1", "name": "c1", "location": "europe-west3-b", "initial_cluster_version": "1.33",
              "release_channel": None, "network": "default", "subnetwork": None, "labels": {"a": "b"},
              "addons": dict((k, True) for k in gcp.ADDONS), "workload_identity": True,
              "master_authorized_networks": [{"cidr_block": "10.0.0.0/8", "display_name": "corp"}],
              "node_pools": [{"name": "np", "machine_type": "n1-standard-4", "initial_node_count": 1, "disk_size_gb": 50,
                              "autoscaling": {"enabled": True, "min_node_count": 1, "max_node_count": 5},
                              "labels": {"x": "y"}, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
                              "auto_upgrade": True, "auto_repair": False}]}
    view = gcp.desired_view(params, None)
    body = {"cluster": gcp.cluster_body(params, view)}
    walk_value(body, {"$ref": "CreateClusterRequest"}, schemas, "CreateClusterRequest", set())
    gke_emulator.check_fields(body, gke_emulator.REQUEST_SCHEMAS["CreateClusterRequest"])
    # every update step of a plan that changes everything
    before = json.loads(json.dumps(view))
    before["master_version"] = "1.32.9-gke.1108000"
    after = gcp.desired_view(dict(params, labels={"c": "d"}, workload_identity=False, master_authorized_networks=[],
                                  addons=dict((k, False) for k in gcp.ADDONS), release_channel="RAPID",
                                  initial_cluster_version="1.33",
                                  node_pools=[dict(params["node_pools"][0], labels={}, taints=[], auto_repair=True,
                                                   autoscaling={"enabled": True, "min_node_count": 0, "max_node_count": 9}),
                                              {"name": "np2", "initial_node_count": 1}]), before)
    plan = gcp.plan_update(before, after, "p1")
    assert not plan["errors"]
    request_for = {"update_cluster": ("UpdateClusterRequest", lambda a: {"update": a[1]}),
                   "set_labels": ("SetLabelsRequest", lambda a: {"resourceLabels": a[1], "labelFingerprint": "x"}),
                   "create_node_pool": ("CreateNodePoolRequest", lambda a: {"nodePool": a[1]}),
                   "set_autoscaling": ("SetNodePoolAutoscalingRequest", lambda a: {"autoscaling": a[2]}),
                   "set_management": ("SetNodePoolManagementRequest", lambda a: {"management": a[2]}),
                   "update_node_pool": ("UpdateNodePoolRequest", lambda a: a[2])}
    calls = set()
    for step in plan["steps"]:
        calls.add(step["call"])
        if step["call"] in request_for:
            name, make = request_for[step["call"]]
            body = make(step["args"])
            walk_value(body, {"$ref": name}, schemas, name, set())
            gke_emulator.check_fields(body, gke_emulator.REQUEST_SCHEMAS[name])
    assert calls == set(request_for)
