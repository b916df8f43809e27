"""Run istiod (pilot-discovery, built by sandbox/build/build.sh istio) as a local process per cluster.

In the sandbox the in-cluster istiod pods are kwok stand-ins: no container runs. This runs
the real control plane out of cluster against the cluster's API server (the sandbox's cluster
network, meshsandbox.egress, starts it while Deployment istio-system/istiod exists and routes the
API server's webhook calls to it), so its view of the mesh (remote clusters, endpoints per
cluster shard, network gateways) can be inspected through istiod's debug endpoints:

    from meshsandbox.istiod import LocalIstiod
    istiod = LocalIstiod(ClusterManager().get("mesh-1"))
    istiod.start()                 # no-op when it runs already
    istiod.debug("clusterz")       # parsed JSON of http://127.0.0.1:PORT/debug/clusterz
    istiod.stop()

CLI: python -m meshsandbox.istiod start|stop|debug NAME [ENDPOINT]

Files istiod reads by relative path (./etc/cacerts, ./var/run/secrets/...) live in its own
work dir ``<cluster dir>/istiod``; the plug-in CA (ca-cert.pem, ...) is copied there from the
cluster's ``istio-system/cacerts`` Secret. Mesh config comes from the ``istio`` ConfigMap the
install created.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from . import paths
from .clusters import ClusterManager, SandboxError, free_port, pid_alive, terminate, _tail

ISTIO_NS = "istio-system"


def istio_bin():
    version = None
    with open(os.path.join(paths.SANDBOX_DIR, "build", "istio", "version.env")) as handle:
        for line in handle:
            if line.startswith("ISTIO_VERSION="):
                version = line.strip().split("=", 1)[1]
    path = os.path.join(paths.bin_dir(), "istio-%s" % version)
    if not os.access(os.path.join(path, "pilot-discovery"), os.X_OK):
        raise SandboxError("pilot-discovery %s is missing under %s: run 'sandbox/build/build.sh istio'" % (version, path))
    return path


class LocalIstiod:
    def __init__(self, info, env=None):
        self.info = info
        self.name = info["name"]
        self.dir = os.path.join(os.path.dirname(info["admin_kubeconfig"]), "istiod")
        self.state_file = os.path.join(self.dir, "state.json")
        # pid_alive() checks the pid's command line for this (the kubeconfig path is in argv).
        self.marker = info["admin_kubeconfig"]
        self.extra_env = env or {}

    # ---- state ----
    def _state(self):
        try:
            with open(self.state_file) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    @property
    def http(self):
        return "http://127.0.0.1:%d" % self._state()["ports"]["http"]

    def running(self):
        state = self._state()
        return bool(state.get("pid")) and pid_alive(state["pid"], self.marker)

    # ---- lifecycle ----
    def _api(self):
        from .kubeapi import Api
        return Api(self.info["admin_kubeconfig"])

    def installed_env(self):
        """The plain env of the installed istiod Deployment (what the chart configured), if any."""
        from kubernetes import client
        apps = client.AppsV1Api(self._api().client)
        try:
            dep = apps.read_namespaced_deployment("istiod", ISTIO_NS)
        except client.ApiException as exc:
            if exc.status == 404:
                return {}
            raise
        env = {}
        for container in dep.spec.template.spec.containers:
            if container.name == "discovery":
                for var in container.env or []:
                    if var.value is not None:
                        env[var.name] = var.value
        return env

    def _write_cacerts(self):
        from kubernetes import client
        core = client.CoreV1Api(self._api().client)
        target = os.path.join(self.dir, "etc", "cacerts")
        os.makedirs(target, exist_ok=True)
        try:
            secret = core.read_namespaced_secret("cacerts", ISTIO_NS)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        for key, value in (secret.data or {}).items():
            path = os.path.join(target, key)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64decode(value))
        return True

    def start(self, timeout=90):
        """Start istiod unless it runs. The cluster network (meshsandbox.egress) starts it too, while
        Deployment istio-system/istiod exists, as a kubelet runs its pod: a lock keeps it to one."""
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        import fcntl
        with open(os.path.join(self.dir, "start.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.running():
                return self._wait_ready(self._state(), None, time.time() + timeout)
            return self._start(timeout)

    def _start(self, timeout):
        binary = os.path.join(istio_bin(), "pilot-discovery")
        self._write_cacerts()
        ports = dict((k, free_port()) for k in ("http", "grpc", "secure_grpc", "https", "monitoring"))
        cmd = [binary, "discovery", "--kubeconfig", self.info["admin_kubeconfig"],
               "--clusterID", self.name, "--registries", "Kubernetes",
               "--clusterRegistriesNamespace", ISTIO_NS, "--domain", "cluster.local",
               "--httpAddr", "127.0.0.1:%d" % ports["http"], "--grpcAddr", "127.0.0.1:%d" % ports["grpc"],
               "--secureGRPCAddr", "127.0.0.1:%d" % ports["secure_grpc"],
               "--httpsAddr", "127.0.0.1:%d" % ports["https"],
               "--monitoringAddr", "127.0.0.1:%d" % ports["monitoring"],
               "--log_output_level", "default:info"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update(self.installed_env())
        env.update({"POD_NAMESPACE": ISTIO_NS, "POD_NAME": "istiod-local-%s" % self.name, "CLUSTER_ID": self.name,
                    "ENABLE_DEBUG_ON_HTTP": "true", "KUBECONFIG": self.info["admin_kubeconfig"]})
        env.update(self.extra_env)
        log = os.path.join(self.dir, "istiod.log")
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.dir, env=env, start_new_session=True)
        state = {"pid": proc.pid, "ports": ports, "log": log}
        with open(self.state_file, "w") as handle:
            json.dump(state, handle)
        return self._wait_ready(state, proc, time.time() + timeout)

    def _wait_ready(self, state, proc, deadline):
        while time.time() < deadline:
            if proc is not None and proc.poll() is not None:
                raise SandboxError("istiod of %s exited (rc=%s); log tail:\n%s"
                                   % (self.name, proc.returncode, _tail(state["log"], 40)))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/ready" % state["ports"]["http"], timeout=2) as resp:
                    if resp.status == 200:
                        return state
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise SandboxError("istiod of %s not ready; log tail:\n%s" % (self.name, _tail(state["log"], 40)))

    def stop(self):
        state = self._state()
        if state.get("pid") and pid_alive(state["pid"], self.marker):
            terminate(state["pid"], self.marker)
        return True

    def debug(self, endpoint, query=""):
        url = "%s/debug/%s%s" % (self.http, endpoint, ("?" + query) if query else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode("utf-8")
        try:
            return json.loads(body)
        except ValueError:
            return body


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] not in ("start", "stop", "debug"):
        print(__doc__, file=sys.stderr)
        return 2
    info = ClusterManager().get(argv[1])
    if info is None:
        print("no sandbox cluster %r" % argv[1], file=sys.stderr)
        return 2
    istiod = LocalIstiod(info)
    try:
        if argv[0] == "start":
            print(json.dumps(istiod.start()))
        elif argv[0] == "stop":
            istiod.stop()
        else:
            out = istiod.debug(argv[2] if len(argv) > 2 else "clusterz", argv[3] if len(argv) > 3 else "")
            print(json.dumps(out, indent=2) if not isinstance(out, str) else out)
    except SandboxError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
