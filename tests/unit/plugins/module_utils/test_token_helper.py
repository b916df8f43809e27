"""Unit tests of plugins/module_utils/token_helper.py: the kubeconfig exec entry of kubeconfig_auth=builtin
runs as a program (python -c <source>), prints an ExecCredential, caches per identity, and fails with one line."""

import datetime
import json
import os
import stat
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ansible_collections.multicloud.mesh.plugins.module_utils import aws, gcp, kube, kubeconfig, token_helper  # noqa: E402

SANDBOX = os.path.join(ROOT, "sandbox")
if SANDBOX not in sys.path:
    sys.path.insert(0, SANDBOX)

from meshsandbox.aws_sigv4 import verify_eks_token  # noqa: E402

KEY_ID, SECRET = "AKIAEXAMPLE000000001", "secret/example/key/0000000000000000000000"


def run_exec(user, tmp_path, **env):
    """Run a kubeconfig exec entry as a Kubernetes client would; (rc, ExecCredential or None, stderr)."""
    entry = user["exec"]
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "MESH_TOKEN_CACHE_DIR": str(tmp_path / "cache")}
    environ.update(env)
    proc = subprocess.run([entry["command"]] + entry["args"], capture_output=True, text=True, env=environ,
                          cwd=str(tmp_path), timeout=60, check=False)
    return proc.returncode, (json.loads(proc.stdout) if proc.returncode == 0 else None), proc.stderr


def eks_user():
    return token_helper.exec_user("eks", ["--cluster", "mesh-1", "--region", "eu-central-1",
                                          "--endpoint-url", "http://127.0.0.1:4566"])


def test_eks_exec_entry_prints_a_token_the_sandbox_accepts(tmp_path):
    user = eks_user()
    assert user["exec"]["command"] == sys.executable
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert SECRET not in json.dumps(user) and KEY_ID not in json.dumps(user)  # credentials stay in the environment
    rc, cred, err = run_exec(user, tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
    assert rc == 0, err
    assert cred["kind"] == "ExecCredential"
    token = cred["status"]["token"]
    query = parse_qs(urlsplit(aws.decode_eks_token(token)).query)
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]
    expiry = datetime.datetime.strptime(cred["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    left = (expiry.replace(tzinfo=datetime.timezone.utc) - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 0 < left <= 61  # the presign's own life: never reported longer than a server may accept it
    ident = verify_eks_token(token, "mesh-1", {KEY_ID: SECRET}.get, {"127.0.0.1:4566"}, max_age=60,
                             honour_expires=True)
    assert ident["access_key"] == KEY_ID


def test_eks_token_is_cached_per_identity_in_private_files(tmp_path):
    user = eks_user()
    first = run_exec(user, tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)[1]
    again = run_exec(user, tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)[1]
    assert again["status"]["token"] == first["status"]["token"]
    other = run_exec(user, tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE000000002", AWS_SECRET_ACCESS_KEY=SECRET)[1]
    assert other["status"]["token"] != first["status"]["token"]
    rotated = run_exec(user, tmp_path, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET[:-1] + "1")[1]
    assert rotated["status"]["token"] != first["status"]["token"]
    cache = tmp_path / "cache"
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    files = list(cache.iterdir())
    assert len(files) == 3 and all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    assert all(SECRET not in f.read_text() for f in files)


def test_cached_token_is_renewed_after_half_its_life(tmp_path):
    made = []

    def make():
        made.append(1)
        return "token-%d" % len(made), time.time() + 60

    environ = {"MESH_TOKEN_CACHE_DIR": str(tmp_path)}
    now = time.time()
    assert token_helper.cached_token(["eks"], make, now=now, environ=environ)[0] == "token-1"
    assert token_helper.cached_token(["eks"], make, now=now + 29, environ=environ)[0] == "token-1"
    assert token_helper.cached_token(["eks"], make, now=now + 31, environ=environ)[0] == "token-2"


def test_no_credentials_fails_with_one_line(tmp_path):
    rc, cred, err = run_exec(eks_user(), tmp_path, AWS_CONFIG_FILE=str(tmp_path / "none"),
                             AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
    assert rc == 1 and cred is None
    assert err.startswith("multicloud.mesh token helper: no AWS credentials in the environment")
    assert err.count("\n") == 1


def test_gke_missing_key_file_fails_naming_it(tmp_path):
    user = token_helper.exec_user("gke", gcp.builtin_options({"service_account_file": str(tmp_path / "key.json"),
                                                              "auth_kind": "serviceaccount", "scopes": None}))
    rc, _cred, err = run_exec(user, tmp_path)
    assert rc == 1
    assert "could not get a GCP access token" in err and "key.json" in err


def test_usage_errors(tmp_path):
    assert "usage: eks" in run_exec(token_helper.exec_user("azure", []), tmp_path)[2]
    assert "eks needs --cluster and --region" in run_exec(token_helper.exec_user("eks", ["--cluster", "x"]), tmp_path)[2]


def test_builtin_refuses_credentials_it_cannot_renew():
    env = {"AWS_ACCESS_KEY_ID": KEY_ID}
    assert aws.builtin_auth_errors({"kubeconfig_auth": "builtin", "access_key": KEY_ID}, env) == []
    assert aws.builtin_auth_errors({"kubeconfig_auth": "token", "access_key": "AKIAOTHER"}, env) == []
    msg = aws.builtin_auth_errors({"kubeconfig_auth": "builtin", "access_key": "AKIAOTHER"}, env)
    assert len(msg) == 1 and "kubeconfig_auth=builtin" in msg[0] and "kubeconfig_auth=token" in msg[0]
    assert gcp.builtin_auth_errors({"kubeconfig_auth": "builtin", "service_account_file": "/k.json"}) == []
    assert gcp.builtin_auth_errors({"kubeconfig_auth": "builtin"}) == []  # application default credentials
    for bad in ({"access_token": "ya29.x"}, {"service_account_contents": "{}"}):
        msg = gcp.builtin_auth_errors(dict(bad, kubeconfig_auth="builtin"))
        assert len(msg) == 1 and "kubeconfig_auth=token" in msg[0]


def test_diff_shows_the_helper_as_a_digest():
    config = kubeconfig.build_kubeconfig("c", "https://127.0.0.1:1", "CA", eks_user())
    args = kubeconfig.redact(config)["users"][0]["user"]["exec"]["args"]
    assert args[1].startswith("<program of ") and "sha256" in args[1]
    assert args[2:] == eks_user()["exec"]["args"][2:]
    assert "\n" in config["users"][0]["user"]["exec"]["args"][1]  # the file itself keeps the program


class Loader:
    expiry = None


class Conf:
    def __init__(self, calls):
        self.refresh_api_key_hook = lambda conf: calls.append(1)


def test_exec_hook_runs_only_near_expiry():
    calls, loader = [], Loader()
    conf = Conf(calls)
    kube.renew_near_expiry(conf, loader)
    loader.expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=50)
    conf.refresh_api_key_hook(conf)
    assert calls == []  # 50 s left: the client's own hook (5 minutes of skew) would have run the helper
    loader.expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=10)
    conf.refresh_api_key_hook(conf)
    assert calls == [1]
