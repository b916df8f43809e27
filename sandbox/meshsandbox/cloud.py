"""The sandbox's two clouds as background processes: ``python -m meshsandbox clouds up|down|status``.

``clouds up`` starts the AWS emulator (moto + EKS extensions) and the GKE API emulator on free
loopback ports (the ports of the previous run when they are free), mints a GKE service account
key, and writes ``<home>/clouds/env.sh`` (0600) with what AWX credentials would inject:

    AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL AWS_REGION AWS_DEFAULT_REGION
    GCP_AUTH_KIND GCP_SERVICE_ACCOUNT_FILE GCP_PROJECT GKE_API_ENDPOINT MESH_GKE_EMULATOR_URL
    MESH_SANDBOX_HOME

``. <home>/clouds/env.sh`` then ``ansible-playbook playbooks/site.yml`` creates the clusters
through the emulators like a user would against real clouds; every cluster an emulator creates
is a real local control plane (``ClusterManager``) under the same sandbox home.

``up --provision-delay S`` sets how long creates and updates stay in progress (AWS
``--ready-delay``/``--update-delay``, the GKE emulator's delay of every operation) and
``--delete-delay S`` AWS deletes (benchmarks use them as a stand-in for the clouds' provisioning
time); without them the emulators' defaults apply (AWS 2 s / 1 s, GKE 1 s or
``MESH_GKE_EMULATOR_DELAY``).

``up`` is idempotent: emulators that run (pid + command line + answering HTTP) are kept (an
emulator kept with other delays than asked is an error: ``clouds down`` first).
``down`` stops exactly the processes ``up`` recorded (pid checked against the command line): the
GKE emulator's clusters are deleted first (``/_emulator/reset``, service accounts kept), the AWS
emulator takes its clusters down on SIGTERM (its state is in memory). So, like deleting cloud
accounts, ``down`` leaves no cluster running; run teardown.yml first to see a clean teardown.

State: ``<home>/clouds/state.json`` (0600: pids, ports, log paths; no secret), ``env.sh`` and
``gcp-key.json`` (0600, secrets), ``aws.log`` / ``gke.log``.
"""

import argparse
import configparser
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request

from .clusters import free_port, pid_alive, port_in_use, terminate
from .paths import REPO, SANDBOX_DIR, sandbox_home, write_private

AWS_REGION = "eu-central-1"
GCP_PROJECT = "mesh-project"
CLOUDS = ("aws", "gcp")
MARKERS = {"aws": "aws-emulator", "gcp": "gke-emulator"}
HEALTH = {"aws": "/_sandbox/status", "gcp": "/_emulator/state"}
START_TIMEOUT = 60


class CloudError(Exception):
    """A problem the user can fix; the message says how."""


def _http_json(url, method="GET", body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def _answers(url):
    try:
        _http_json(url, timeout=3)
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Clouds:
    """The two emulator processes of one sandbox home."""

    def __init__(self, home=None, provision_delay=None, delete_delay=None):
        for option, value in (("--provision-delay", provision_delay), ("--delete-delay", delete_delay)):
            if value is not None and not 0 <= value <= 3600:
                raise CloudError("%s must be between 0 and 3600 seconds, got %s" % (option, value))
        self.delays = {"provision": provision_delay, "delete": delete_delay}
        self.home = os.path.abspath(home or sandbox_home())
        self.dir = os.path.join(self.home, "clouds")
        self.state_file = os.path.join(self.dir, "state.json")
        self.env_file = os.path.join(self.dir, "env.sh")
        self.key_file = os.path.join(self.dir, "gcp-key.json")

    # ---------------------------------------------------------------- state
    def _load(self):
        try:
            with open(self.state_file) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def _save(self, state):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)
        write_private(self.state_file, json.dumps(state, indent=2, sort_keys=True))

    @staticmethod
    def _marker(cloud, port):
        # /proc/PID/cmdline separates arguments with NUL bytes
        return "%s\x00--port\x00%d\x00" % (MARKERS[cloud], port)

    def _running(self, cloud, entry):
        """The recorded process runs (pid, command line) and answers HTTP."""
        if not entry or not entry.get("pid"):
            return False
        if not pid_alive(entry["pid"], self._marker(cloud, entry["port"])):
            return False
        return _answers(entry["url"] + HEALTH[cloud])

    # ---------------------------------------------------------------- up
    def _command(self, cloud, port):
        py = sys.executable
        provision, delete = self.delays["provision"], self.delays["delete"]
        if cloud == "aws":
            cmd = [py, "-m", "meshsandbox", "aws-emulator", "--port", str(port), "--home", self.home]
            if provision is not None:
                cmd += ["--ready-delay", str(provision), "--update-delay", str(provision)]
            if delete is not None:
                cmd += ["--delete-delay", str(delete)]
            return cmd
        cmd = [py, "-m", "meshsandbox", "gke-emulator", "--port", str(port),
               "--state-dir", os.path.join(self.home, "gke-emulator"), "--clusters", "real"]
        return cmd + (["--delay", str(provision)] if provision is not None else [])

    def _start(self, cloud, previous):
        port = (previous or {}).get("port")
        if not port or port_in_use(port):
            port = free_port()
        log_path = os.path.join(self.dir, "%s.log" % ("aws" if cloud == "aws" else "gke"))
        env = dict(os.environ, MESH_SANDBOX_HOME=self.home,
                   PYTHONPATH=os.pathsep.join([SANDBOX_DIR] + ([os.environ["PYTHONPATH"]]
                                                               if os.environ.get("PYTHONPATH") else [])))
        # the emulators must not sign or route with the caller's cloud settings
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                     "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            env.pop(name, None)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(self._command(cloud, port), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)
        entry = {"pid": proc.pid, "port": port, "url": "http://127.0.0.1:%d" % port, "log": log_path,
                 "delays": self.delays,
                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if proc.poll() is not None:
                raise CloudError("the %s emulator exited (rc=%s); log %s:\n%s"
                                 % (cloud, proc.returncode, log_path, _tail(log_path)))
            if _answers(entry["url"] + HEALTH[cloud]):
                return entry
            time.sleep(0.2)
        _stop_pid(proc.pid, self._marker(cloud, port))
        raise CloudError("the %s emulator did not answer within %ds; log %s:\n%s"
                         % (cloud, START_TIMEOUT, log_path, _tail(log_path)))

    def _gcp_key(self, gcp):
        """A key the running GKE emulator knows (its state keeps accounts across restarts)."""
        known = {sa["email"] for sa in _http_json(gcp["url"] + "/_emulator/state").get("service_accounts", [])}
        try:
            with open(self.key_file) as handle:
                key = json.load(handle)
            # the key names the emulator's token URI: a key of another port is minted again
            if (key.get("client_email") in known and key.get("project_id") == GCP_PROJECT
                    and key.get("token_uri") == gcp["url"] + "/token"):
                return key, False
        except (OSError, ValueError):
            pass
        key = _http_json(gcp["url"] + "/_emulator/keys", "POST", {"project": GCP_PROJECT, "account": "mesh-deployer"})
        write_private(self.key_file, json.dumps(key, indent=2))
        return key, True

    def _aws_keys(self):
        parser = configparser.ConfigParser()
        parser.read(os.path.join(self.home, "aws", "credentials"))
        section = parser["mesh-sandbox"]
        return section["aws_access_key_id"], section["aws_secret_access_key"]

    def _write_env(self, state):
        key_id, secret = self._aws_keys()
        values = [
            ("MESH_SANDBOX_HOME", self.home),
            ("AWS_ACCESS_KEY_ID", key_id),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_ENDPOINT_URL", state["aws"]["url"]),
            ("AWS_REGION", AWS_REGION),
            ("AWS_DEFAULT_REGION", AWS_REGION),
            ("GCP_AUTH_KIND", "serviceaccount"),
            ("GCP_SERVICE_ACCOUNT_FILE", self.key_file),
            ("GCP_PROJECT", GCP_PROJECT),
            ("GKE_API_ENDPOINT", state["gcp"]["url"]),
            ("MESH_GKE_EMULATOR_URL", state["gcp"]["url"]),
            # the kubeconfigs' token helper (kubeconfig_auth=builtin) caches tokens here, not in ~/.cache
            ("MESH_TOKEN_CACHE_DIR", os.path.join(self.home, "token-cache")),
        ]
        lines = ["# multicloud.mesh sandbox clouds: what AWX's AWS and GCP credentials would inject.",
                 "# Written by 'python -m meshsandbox clouds up'; source it: . %s" % shlex.quote(self.env_file),
                 "unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN "
                 "AWS_SHARED_CREDENTIALS_FILE GOOGLE_APPLICATION_CREDENTIALS"]
        lines += ["export %s=%s" % (name, shlex.quote(value)) for name, value in values]
        write_private(self.env_file, "\n".join(lines) + "\n")

    def up(self):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o700)
        state = self._load()
        started = []
        for cloud in CLOUDS:
            entry = state.get(cloud)
            if self._running(cloud, entry):
                asked = {k: v for k, v in self.delays.items() if v is not None}
                kept = {k: v for k, v in (entry.get("delays") or {}).items() if k in asked}
                if asked != kept:
                    raise CloudError("the %s emulator (pid %d) runs with delays %s, not %s: run 'clouds down' "
                                     "first, or 'clouds up' without --provision-delay/--delete-delay"
                                     % (cloud, entry["pid"], entry.get("delays") or "default", asked))
                continue
            if entry and entry.get("pid") and pid_alive(entry["pid"], self._marker(cloud, entry["port"])):
                # runs but does not answer: replace exactly that process
                _stop_pid(entry["pid"], self._marker(cloud, entry["port"]))
            state[cloud] = self._start(cloud, entry)
            started.append(cloud)
            self._save(state)
        _key, minted = self._gcp_key(state["gcp"])
        self._write_env(state)
        self._save(state)
        return {"started": started, "kept": [c for c in CLOUDS if c not in started], "minted_key": minted,
                "aws": state["aws"], "gcp": state["gcp"], "env_file": self.env_file}

    # ---------------------------------------------------------------- down
    def down(self):
        state = self._load()
        out = {}
        for cloud in CLOUDS:
            entry = state.get(cloud)
            if not entry or not pid_alive(entry.get("pid", 0), self._marker(cloud, entry.get("port", 0))):
                out[cloud] = "not running"
                state.pop(cloud, None)
                continue
            if cloud == "gcp":
                try:  # delete the emulator's clusters (their control planes); accounts stay valid
                    _http_json(entry["url"] + "/_emulator/reset", "POST", {}, timeout=120)
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    print("[clouds] GKE emulator reset failed (%s); stopping it anyway" % exc, file=sys.stderr)
            _stop_pid(entry["pid"], self._marker(cloud, entry["port"]), timeout=60)
            out[cloud] = "stopped"
            state.pop(cloud, None)
        self._save(state)
        try:
            os.unlink(self.env_file)  # its endpoints are gone
        except OSError:
            pass
        return out

    # ---------------------------------------------------------------- status
    def status(self):
        state = self._load()
        out = {"env_file": self.env_file if os.path.exists(self.env_file) else None}
        for cloud in CLOUDS:
            entry = state.get(cloud)
            info = {"running": self._running(cloud, entry)}
            if entry:
                info.update({k: entry[k] for k in ("pid", "url", "log")})
            if info["running"]:
                try:  # both answer {"clusters": [{"name", "status", ...}]}
                    data = _http_json(entry["url"] + HEALTH[cloud])
                    info["clusters"] = ["%s (%s)" % (c["name"], c["status"]) for c in data.get("clusters", [])]
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    info["error"] = str(exc)
            out[cloud] = info
        return out


def _tail(path, lines=20):
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def _stop_pid(pid, marker, timeout=30):
    """SIGTERM exactly ``pid`` (not its group: the emulator stops its own clusters), SIGKILL later."""
    terminate(pid, marker, timeout=timeout, group=False)


def main(argv):
    """``argv`` starts after ``clouds``: up | down | status [--json]."""
    parser = argparse.ArgumentParser(prog="meshsandbox clouds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None, help="sandbox home (default $MESH_SANDBOX_HOME or .cache/sandbox)")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--provision-delay", type=float, default=None, metavar="S",
                        help="up: seconds creates/updates stay in progress (AWS --ready-delay and --update-delay, "
                             "GKE every operation); default: the emulators' own (2 s AWS, 1 s GKE)")
    parser.add_argument("--delete-delay", type=float, default=None, metavar="S",
                        help="up: seconds AWS deletes stay in progress (default 1)")
    args = parser.parse_args(argv)
    if args.action != "up" and (args.provision_delay is not None or args.delete_delay is not None):
        parser.error("--provision-delay/--delete-delay go with 'up' only")
    try:
        clouds = Clouds(args.home, args.provision_delay, args.delete_delay)
        if args.action == "up":
            t0 = time.time()
            result = clouds.up()
            if args.json:
                print(json.dumps(result, indent=2))
            else:
                for cloud in CLOUDS:
                    how = "started" if cloud in result["started"] else "kept"
                    print("%-4s %s  pid %d  (%s)" % (cloud, result[cloud]["url"], result[cloud]["pid"], how))
                print("env  %s" % result["env_file"])
            print("[clouds] up in %.1fs; use them with: . %s" % (time.time() - t0, result["env_file"]),
                  file=sys.stderr)
        elif args.action == "down":
            result = clouds.down()
            if args.json:
                print(json.dumps(result, indent=2))
            else:
                for cloud in CLOUDS:
                    print("%-4s %s" % (cloud, result[cloud]))
        else:
            result = clouds.status()
            if args.json:
                print(json.dumps(result, indent=2))
            else:
                for cloud in CLOUDS:
                    info = result[cloud]
                    clusters = ", ".join(info.get("clusters", [])) or "-"
                    state = "up" if info["running"] else "DOWN"
                    print("%-4s %-7s %s  clusters: %s" % (cloud, state, info.get("url", "-"), clusters))
                print("env  %s" % (result["env_file"] or "- (run 'clouds up')"))
    except CloudError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    return 0
