"""The emulators' request counters (/_sandbox/stats, /_emulator/stats) and `clouds up`'s delay options."""

import json
import os
import sys
import urllib.request

import boto3
import pytest
import requests
from botocore.config import Config

from gke_emulator_helpers import Running

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if os.path.join(ROOT, "sandbox") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "sandbox"))

from meshsandbox import aws_elb, cloud  # noqa: E402
from meshsandbox.aws_emulator import AWSEmulator  # noqa: E402
from meshsandbox.gke_emulator import request_key  # noqa: E402


def _get(url, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    emulator = AWSEmulator(port=0, home=str(tmp_path_factory.mktemp("home")), start_clusters=False).start()
    yield emulator
    emulator.stop()


def _client(emu, service, agent=None):
    session = boto3.session.Session(aws_access_key_id=emu.admin_key, aws_secret_access_key=emu.admin_secret,
                                    region_name="eu-central-1")
    return session.client(service, endpoint_url=emu.endpoint_url,
                          config=Config(user_agent_extra=agent) if agent else None)


def test_aws_counts_operations_apart_from_sandbox_calls(aws):
    stats = aws.endpoint_url + "/_sandbox/stats"
    assert _get(stats, "DELETE")["total"] == 0
    ec2 = _client(aws, "ec2")
    ec2.describe_vpcs()
    ec2.describe_vpcs()
    _client(aws, "eks").list_clusters()
    _client(aws, "elb", aws_elb.SANDBOX_AGENT).describe_load_balancers()
    _get(aws.endpoint_url + "/_sandbox/status")  # control paths are not counted
    out = _get(stats)
    assert out["requests"] == {"ec2:DescribeVpcs": 2, "eks:ListClusters": 1,
                               "sandbox:elasticloadbalancing:DescribeLoadBalancers": 1}
    assert out["total"] == 3
    assert _get(stats, "DELETE")["total"] == 0 and _get(stats)["requests"] == {}


def test_aws_counts_rejected_signatures(aws):
    _get(aws.endpoint_url + "/_sandbox/stats", "DELETE")
    session = boto3.session.Session(aws_access_key_id="AKIAWRONG", aws_secret_access_key="x",
                                    region_name="eu-central-1")
    with pytest.raises(Exception):
        session.client("eks", endpoint_url=aws.endpoint_url).list_clusters()
    assert _get(aws.endpoint_url + "/_sandbox/stats")["requests"] == {"eks:ListClusters": 1}


def test_gke_request_keys():
    assert request_key("POST", "/v1/projects/p/locations/l/clusters") == \
        "POST /v1/projects/{name}/locations/{name}/clusters"
    assert request_key("POST", "/v1/projects/p/locations/l/clusters/c:setResourceLabels") == \
        "POST /v1/projects/{name}/locations/{name}/clusters/{name}:setResourceLabels"
    assert request_key("GET", "/v1/projects/p/zones/z/operations/op-1") == \
        "GET /v1/projects/{name}/zones/{name}/operations/{name}"
    assert request_key("POST", "/tokenreview") == "webhook:token-review"


def test_gke_counts_requests(tmp_path):
    run = Running(tmp_path)
    try:
        requests.delete(run.url + "/_emulator/stats", timeout=10)
        assert run.session.get(run.api("clusters")).status_code == 200
        assert run.session.get(run.api("clusters/nope")).status_code == 404
        out = requests.get(run.url + "/_emulator/stats", timeout=10).json()
        assert out["requests"]["GET /v1/projects/{name}/locations/{name}/clusters"] == 1
        assert out["requests"]["GET /v1/projects/{name}/locations/{name}/clusters/{name}"] == 1
        assert out["requests"]["POST /token"] == 1  # the session's token exchange
        assert out["total"] == 3
    finally:
        run.close()


@pytest.mark.parametrize("option", ["provision_delay", "delete_delay"])
def test_clouds_up_rejects_bad_delays(tmp_path, option):
    with pytest.raises(cloud.CloudError, match="--%s must be between 0 and 3600" % option.replace("_", "-")):
        cloud.Clouds(str(tmp_path), **{option: -1})
    assert not os.path.exists(os.path.join(str(tmp_path), "clouds"))


def test_clouds_up_passes_delays(tmp_path):
    clouds = cloud.Clouds(str(tmp_path), provision_delay=7.5, delete_delay=2)
    aws_cmd, gke_cmd = clouds._command("aws", 1), clouds._command("gcp", 2)  # pylint: disable=protected-access
    assert aws_cmd[aws_cmd.index("--ready-delay") + 1] == "7.5"
    assert aws_cmd[aws_cmd.index("--update-delay") + 1] == "7.5"
    assert aws_cmd[aws_cmd.index("--delete-delay") + 1] == "2"
    assert gke_cmd[gke_cmd.index("--delay") + 1] == "7.5"
    default = cloud.Clouds(str(tmp_path))
    assert "--ready-delay" not in default._command("aws", 1)  # pylint: disable=protected-access
    assert "--delay" not in default._command("gcp", 2)  # pylint: disable=protected-access
