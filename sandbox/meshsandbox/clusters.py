"""Real local Kubernetes control planes, one per sandbox cluster.

Each cluster is: etcd, kube-apiserver (TLS from a per-cluster CA), kube-controller-manager,
kube-scheduler, kwok (fake nodes and pod lifecycles), the sandbox LoadBalancer controller and
the cluster network (meshsandbox.egress: the API server's webhook calls, the local istiod),
all as processes on free loopback ports. State (ports, pids, data) lives under
``<home>/clusters/<name>/``; ``down`` stops exactly the processes recorded there.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

from . import paths, pki

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
COMPONENTS = ("etcd", "kube-apiserver", "egress", "kube-controller-manager", "kube-scheduler", "kwok", "lb-controller")
FLAVORS = ("eks", "gke", "plain")


class SandboxError(Exception):
    """A problem the user can fix; the message says how."""


def log(msg):
    print("[sandbox] %s" % msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def pid_alive(pid, marker):
    """True when ``pid`` runs and its command line contains ``marker`` (guards against pid reuse)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            cmdline = handle.read().decode("utf-8", "replace")
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            if handle.read().split(") ")[-1].startswith("Z"):
                return False
    except OSError:
        return False
    return marker in cmdline


def validate_name(name):
    if not DNS_LABEL.match(name or ""):
        raise SandboxError("cluster name %r is not a DNS label: use 1-40 lowercase letters, digits and '-', "
                           "starting with a letter and not ending with '-' (e.g. 'mesh-1')" % (name,))


class ClusterManager:
    def __init__(self, home=None):
        self.home = home or paths.sandbox_home()
        self.root = os.path.join(self.home, "clusters")
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    # ---- state -------------------------------------------------------------
    def _dir(self, name):
        return os.path.join(self.root, name)

    def _state_file(self, name):
        return os.path.join(self._dir(name), "state.json")

    def _load(self, name):
        try:
            with open(self._state_file(name)) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def _save(self, state):
        tmp = self._state_file(state["name"]) + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
        os.replace(tmp, self._state_file(state["name"]))

    def _info(self, state):
        with open(state["pki"]["ca.crt"]) as handle:
            ca_pem = handle.read()
        return {
            "name": state["name"],
            "flavor": state["flavor"],
            "server": "https://127.0.0.1:%d" % state["ports"]["apiserver"],
            "ca_pem": ca_pem,
            "admin_kubeconfig": state["admin_kubeconfig"],
            # The ServiceAccount signing key (tests mint tokens with it: one near expiry, as time would make it).
            "service_account_key": state["pki"]["sa.key"],
            "ports": state["ports"],
            "webhook_url": state.get("webhook_url"),
            "authz_webhook_url": state.get("authz_webhook_url"),
            "lb_ip_prefix": state.get("lb_ip_prefix"),
            "running": {c: pid_alive(p, state["dir"]) for c, p in state.get("pids", {}).items()},
        }

    def get(self, name):
        state = self._load(name)
        return self._info(state) if state else None

    def list(self):
        out = []
        for name in sorted(os.listdir(self.root)):
            info = self.get(name)
            if info:
                out.append(info)
        return out

    def processes(self, name):
        """{component: pid} of the running processes of cluster ``name`` (its local istiod too)."""
        state = self._load(name)
        if state is None:
            return {}
        out = {c: p for c, p in state.get("pids", {}).items() if p and pid_alive(p, state["dir"])}
        try:
            with open(os.path.join(state["dir"], "istiod", "state.json")) as handle:
                pid = json.load(handle).get("pid")
        except (OSError, ValueError):
            pid = None
        if pid and pid_alive(pid, state["admin_kubeconfig"]):
            out["istiod"] = pid
        return out

    def admin_tls(self, name):
        """(ca.crt, admin.crt, admin.key) paths of cluster ``name`` (client certificate in system:masters)."""
        state = self._load(name)
        if state is None:
            raise SandboxError("no sandbox cluster named %r" % name)
        return state["pki"]["ca.crt"], state["pki"]["admin.crt"], state["pki"]["admin.key"]

    # ---- up ----------------------------------------------------------------
    def up(self, name, flavor="plain", webhook_url=None, nodes=2, wait_timeout=120, extra_env=None,
           authz_webhook_url=None):
        """Start (or recover) cluster ``name``; idempotent. Returns its info dict.

        ``webhook_url``: token webhook (TokenReview); ``authz_webhook_url``: authorization webhook
        (SubjectAccessReview, after Node and RBAC), as EKS's access policies are enforced.
        """
        validate_name(name)
        if flavor not in FLAVORS:
            raise SandboxError("flavor %r is unknown; use one of %s" % (flavor, ", ".join(FLAVORS)))
        binaries = paths.binaries()
        directory = self._dir(name)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with _Lock(os.path.join(self.root, ".lock")):
            state = self._load(name)
            if state is None:
                state = self._new_state(name, flavor, webhook_url, nodes, extra_env, authz_webhook_url)
                self._save(state)
        if state["flavor"] != flavor or state.get("webhook_url") != webhook_url \
                or state.get("authz_webhook_url") != authz_webhook_url:
            raise SandboxError("cluster %r exists with flavor=%s webhook=%s; run 'down %s' first to recreate it "
                               "with flavor=%s webhook=%s" % (name, state["flavor"], state.get("webhook_url"),
                                                              name, flavor, webhook_url))
        state["pki"] = pki.make_cluster_pki(os.path.join(directory, "pki"))
        state["admin_kubeconfig"] = self._write_kubeconfigs(state)
        self._save(state)
        t0 = time.time()
        for component in COMPONENTS:
            pid = state["pids"].get(component)
            if pid and pid_alive(pid, directory):
                continue
            if pid:
                log("%s: %s (pid %d) is not running; restarting it" % (name, component, pid))
            self._check_ports_free(state, component)
            proc = self._start(state, component, binaries)
            state["pids"][component] = proc.pid
            self._save(state)
            self._wait_component(state, component, proc, wait_timeout)
        self._ensure_nodes(state, wait_timeout)
        log("%s (%s): ready at https://127.0.0.1:%d in %.1fs" % (name, flavor, state["ports"]["apiserver"], time.time() - t0))
        return self._info(state)

    def _new_state(self, name, flavor, webhook_url, nodes, extra_env, authz_webhook_url=None):
        index = self._next_index()
        state = {
            "name": name, "flavor": flavor, "dir": self._dir(name), "index": index,
            "ports": {"etcd": free_port(), "etcd_peer": free_port(), "apiserver": free_port()},
            "pids": {}, "webhook_url": webhook_url, "authz_webhook_url": authz_webhook_url,
            "lb_ip_prefix": "172.%d" % (16 + index % 16),
            "pod_cidr": "10.%d.0.0/16" % (100 + index % 100),
            "nodes": nodes, "extra_env": extra_env or {},
        }
        for port in state["ports"].values():
            if port_in_use(port):
                raise SandboxError("port %d is in use; stop what holds it or retry" % port)
        return state

    def _next_index(self):
        used = set()
        for name in os.listdir(self.root):
            state = self._load(name)
            if state:
                used.add(state.get("index"))
        index = 1
        while index in used:
            index += 1
        return index

    def _check_ports_free(self, state, component):
        needed = {"etcd": ("etcd", "etcd_peer"), "kube-apiserver": ("apiserver",)}.get(component, ())
        for key in needed:
            if port_in_use(state["ports"][key]):
                raise SandboxError("port %d (%s of cluster %s) is in use by another process; free it or run "
                                   "'down %s' and 'up' again for new ports" % (state["ports"][key], key, state["name"], state["name"]))

    def _write_kubeconfigs(self, state):
        p = state["pki"]
        server = "https://127.0.0.1:%d" % state["ports"]["apiserver"]
        out = {}
        for user, cert, key in (("admin", "admin.crt", "admin.key"), ("kcm", "kcm.crt", "kcm.key"),
                                ("scheduler", "scheduler.crt", "scheduler.key")):
            config = {
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": state["name"], "cluster": {
                    "server": server, "certificate-authority-data": _b64file(p["ca.crt"])}}],
                "users": [{"name": "%s-%s" % (state["name"], user), "user": {
                    "client-certificate-data": _b64file(p[cert]), "client-key-data": _b64file(p[key])}}],
                "contexts": [{"name": state["name"], "context": {
                    "cluster": state["name"], "user": "%s-%s" % (state["name"], user)}}],
                "current-context": state["name"],
            }
            path = os.path.join(state["dir"], "%s.kubeconfig" % user)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(config, handle, indent=2)
            out[user] = path
        return out["admin"]

    def _command(self, state, component, binaries):
        d, p, ports = state["dir"], state["pki"], state["ports"]
        if component == "etcd":
            return [binaries["etcd"], "--name", state["name"], "--data-dir", os.path.join(d, "etcd"),
                    "--listen-client-urls", "http://127.0.0.1:%d" % ports["etcd"],
                    "--advertise-client-urls", "http://127.0.0.1:%d" % ports["etcd"],
                    "--listen-peer-urls", "http://127.0.0.1:%d" % ports["etcd_peer"],
                    "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % ports["etcd_peer"],
                    "--initial-cluster", "%s=http://127.0.0.1:%d" % (state["name"], ports["etcd_peer"]),
                    "--unsafe-no-fsync", "--quota-backend-bytes", str(512 * 1024 * 1024),
                    "--log-level", "warn"]
        if component == "kube-apiserver":
            cmd = [binaries["kube-apiserver"],
                   "--etcd-servers", "http://127.0.0.1:%d" % ports["etcd"],
                   "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
                   "--secure-port", str(ports["apiserver"]),
                   "--tls-cert-file", p["apiserver.crt"], "--tls-private-key-file", p["apiserver.key"],
                   "--client-ca-file", p["ca.crt"],
                   "--authorization-mode", "Node,RBAC,Webhook" if state.get("authz_webhook_url") else "Node,RBAC",
                   "--service-cluster-ip-range", "10.96.0.0/16",
                   "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
                   "--service-account-key-file", p["sa.pub"],
                   "--service-account-signing-key-file", p["sa.key"],
                   "--allow-privileged=true", "--enable-priority-and-fairness=false",
                   "--profiling=false", "--v=0"]
            # Webhook calls (istiod's injector and validator) go through the sandbox's cluster network
            # (meshsandbox.egress), never to the Service range off this machine.
            from . import egress
            selector = os.path.join(d, "egress-selector.json")
            with open(selector, "w") as handle:
                json.dump(egress.selector_config(d), handle)
            cmd += ["--egress-selector-config-file", selector]
            if state.get("webhook_url"):
                webhook = os.path.join(d, "token-webhook.kubeconfig")
                with open(webhook, "w") as handle:
                    json.dump({"apiVersion": "v1", "kind": "Config",
                               "clusters": [{"name": "webhook", "cluster": {"server": state["webhook_url"]}}],
                               "users": [{"name": "apiserver", "user": {}}],
                               "contexts": [{"name": "webhook", "context": {"cluster": "webhook", "user": "apiserver"}}],
                               "current-context": "webhook"}, handle)
                cmd += ["--authentication-token-webhook-config-file", webhook,
                        "--authentication-token-webhook-version", "v1",
                        "--authentication-token-webhook-cache-ttl", "5s"]
            if state.get("authz_webhook_url"):
                # EKS's access policies: an authorization webhook after Node and RBAC (what RBAC allows stays
                # allowed; the webhook can only add). Decisions cached 5 s, like the token webhook's.
                authz = os.path.join(d, "authz-webhook.kubeconfig")
                with open(authz, "w") as handle:
                    json.dump({"apiVersion": "v1", "kind": "Config",
                               "clusters": [{"name": "webhook", "cluster": {"server": state["authz_webhook_url"]}}],
                               "users": [{"name": "apiserver", "user": {}}],
                               "contexts": [{"name": "webhook", "context": {"cluster": "webhook", "user": "apiserver"}}],
                               "current-context": "webhook"}, handle)
                cmd += ["--authorization-webhook-config-file", authz,
                        "--authorization-webhook-version", "v1",
                        "--authorization-webhook-cache-authorized-ttl", "5s",
                        "--authorization-webhook-cache-unauthorized-ttl", "5s"]
            return cmd
        if component == "kube-controller-manager":
            kcm = os.path.join(d, "kcm.kubeconfig")
            return [binaries["kube-controller-manager"], "--kubeconfig", kcm,
                    "--authentication-kubeconfig", kcm, "--authorization-kubeconfig", kcm,
                    "--root-ca-file", p["ca.crt"], "--service-account-private-key-file", p["sa.key"],
                    "--use-service-account-credentials=true", "--leader-elect=false",
                    "--bind-address", "127.0.0.1", "--secure-port", "0",
                    "--controllers", "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,"
                                     "-route,-persistentvolume-binder,-attachdetach",
                    "--concurrent-gc-syncs", "5", "--v=0"]
        if component == "kube-scheduler":
            sched = os.path.join(d, "scheduler.kubeconfig")
            return [binaries["kube-scheduler"], "--kubeconfig", sched,
                    "--authentication-kubeconfig", sched, "--authorization-kubeconfig", sched,
                    "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0", "--v=0"]
        if component == "kwok":
            return [binaries["kwok"], "--kubeconfig", state["admin_kubeconfig"],
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    "--manage-nodes-with-label-selector=", "--manage-single-node=",
                    "--cidr", state["pod_cidr"], "--node-ip", "10.0.0.%d" % (state["index"] % 250 + 1),
                    "--node-lease-duration-seconds", "40", "--config", binaries["kwok-stages"],
                    "--config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "kwok-stages.yaml"),
                    "--config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "kwok-stage-image-placeholder.yaml")]
        if component in ("lb-controller", "egress"):
            return [sys.executable, "-m", "meshsandbox", component, "--state", self._state_file(state["name"])]
        raise SandboxError("unknown component %s" % component)

    def _start(self, state, component, binaries):
        cmd = self._command(state, component, binaries)
        logfile = os.path.join(state["dir"], "%s.log" % component)
        env = dict(os.environ)
        env["PYTHONPATH"] = paths.sandbox_pythonpath(env.get("PYTHONPATH"))
        env.update(state.get("extra_env") or {})
        # cwd and every path in argv hold the cluster dir: pid_alive() matches on it.
        with open(logfile, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=state["dir"], env=env, start_new_session=True)
        return proc

    def _wait_component(self, state, component, proc, timeout):
        deadline = time.time() + timeout
        probe = {
            "etcd": lambda: _http_ok("http://127.0.0.1:%d/health" % state["ports"]["etcd"]),
            "kube-apiserver": lambda: _https_ok("https://127.0.0.1:%d/readyz" % state["ports"]["apiserver"], state),
            "egress": lambda: os.path.exists(_egress_socket(state)),
        }.get(component)
        while True:
            if proc.poll() is not None:
                raise SandboxError("%s of cluster %s exited at start; last lines of its log:\n%s"
                                   % (component, state["name"], _tail(os.path.join(state["dir"], component + ".log"))))
            if probe is None or probe():
                return
            if time.time() > deadline:
                raise SandboxError("%s of cluster %s not ready after %ss; log tail:\n%s"
                                   % (component, state["name"], timeout, _tail(os.path.join(state["dir"], component + ".log"))))
            time.sleep(0.3)

    def _ensure_nodes(self, state, timeout=60):
        """Create the fake nodes kwok manages (idempotent) and wait until kwok reports them Ready."""
        from . import kubeapi
        api = kubeapi.Api(state["admin_kubeconfig"])
        for i in range(state.get("nodes", 2)):
            node = "%s-node-%d" % (state["name"], i + 1)
            api.ensure({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node, "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                             "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": "amd64", "type": "kwok",
                                        "topology.kubernetes.io/region": "sandbox",
                                        "node.kubernetes.io/instance-type": "sandbox.medium"}},
                "spec": {},
                "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                           "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}},
            })
        deadline = time.time() + timeout
        while True:
            nodes = api.core.list_node(_request_timeout=5).items
            ready = [n for n in nodes if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))]
            if len(ready) >= state.get("nodes", 2):
                return
            kwok_pid = state["pids"].get("kwok")
            if not (kwok_pid and pid_alive(kwok_pid, state["dir"])):
                raise SandboxError("kwok of cluster %s is not running; log tail:\n%s"
                                   % (state["name"], _tail(os.path.join(state["dir"], "kwok.log"))))
            if time.time() > deadline:
                raise SandboxError("nodes of cluster %s not Ready after %ss (kwok log: %s)"
                                   % (state["name"], timeout, os.path.join(state["dir"], "kwok.log")))
            time.sleep(0.3)

    # ---- restart (fault injection) ------------------------------------------
    def restart(self, name, component="kube-apiserver", down_for=0.0, wait_timeout=120):
        """Kill one component of a running cluster, keep it down ``down_for`` seconds, start it again.

        What a control-plane restart looks like to clients: connections refused, then the same
        address, CA and data (etcd keeps the objects). Returns the wall-clock times (epoch seconds)
        ``stopped``, ``started`` (process spawned) and ``ready`` (its readiness probe passed).
        """
        validate_name(name)
        if component not in COMPONENTS:
            raise SandboxError("component %r is unknown; use one of %s" % (component, ", ".join(COMPONENTS)))
        state = self._load(name)
        if state is None:
            raise SandboxError("no sandbox cluster named %r" % name)
        pid = state.get("pids", {}).get(component)
        if not (pid and pid_alive(pid, state["dir"])):
            raise SandboxError("%s of cluster %s is not running; nothing to restart" % (component, name))
        terminate(pid, state["dir"], timeout=10)
        stopped = time.time()
        if down_for > 0:
            time.sleep(down_for)
        binaries = paths.binaries()
        with _Lock(os.path.join(self.root, ".lock")):
            state = self._load(name)
            self._check_ports_free(state, component)
            proc = self._start(state, component, binaries)
            state["pids"][component] = proc.pid
            self._save(state)
        started = time.time()
        self._wait_component(state, component, proc, wait_timeout)
        log("%s: %s restarted (down %.1fs, ready %.1fs after start)"
            % (name, component, started - stopped, time.time() - started))
        return {"name": name, "component": component, "pid": proc.pid, "stopped": stopped,
                "started": started, "ready": time.time()}

    # ---- down --------------------------------------------------------------
    def down(self, name, keep_data=False):
        """Stop the processes of cluster ``name`` (only those it started) and remove its state."""
        validate_name(name)
        state = self._load(name)
        if state is None:
            if os.path.isdir(self._dir(name)) and not keep_data:
                shutil.rmtree(self._dir(name), ignore_errors=True)
            return False
        # The cluster network runs the local istiod: stop it first, or it starts istiod again.
        pid = state.get("pids", {}).get("egress")
        if pid and pid_alive(pid, state["dir"]):
            terminate(pid, state["dir"])
        self._stop_local_istiod(state)
        for component in reversed(COMPONENTS):
            pid = state.get("pids", {}).get(component)
            if pid and pid_alive(pid, state["dir"]):
                terminate(pid, state["dir"])
        if not keep_data:
            shutil.rmtree(state["dir"], ignore_errors=True)
        else:
            state["pids"] = {}
            self._save(state)
        return True

    @staticmethod
    def _stop_local_istiod(state):
        """A local istiod (meshsandbox.istiod) runs against this cluster: stop it with the cluster."""
        istiod_state = os.path.join(state["dir"], "istiod", "state.json")
        try:
            with open(istiod_state) as handle:
                pid = json.load(handle).get("pid")
        except (OSError, ValueError):
            return
        if pid and pid_alive(pid, state["admin_kubeconfig"]):
            terminate(pid, state["admin_kubeconfig"])

    def down_all(self):
        return [info["name"] for info in self.list() if self.down(info["name"])]


class _Lock:
    """An exclusive file lock (several processes may start clusters at once)."""

    def __init__(self, path):
        self.path = path
        self.handle = None

    def __enter__(self):
        import fcntl
        self.handle = open(self.path, "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def terminate(pid, marker, timeout=10, group=True):
    """SIGTERM ``pid`` (its process group with ``group``), SIGKILL after ``timeout`` seconds.

    Nothing happens unless ``pid`` runs with ``marker`` in its command line (pid_alive), so a
    reused pid is never signalled.
    """
    if not pid_alive(pid, marker):
        return
    send = os.killpg if group else os.kill
    try:
        send(pid, signal.SIGTERM)
    except OSError:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
    deadline = time.time() + timeout
    while time.time() < deadline and pid_alive(pid, marker):
        time.sleep(0.1)
    if pid_alive(pid, marker):
        try:
            send(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def _b64file(path):
    with open(path, "rb") as handle:
        return base64.b64encode(handle.read()).decode("ascii")


def _egress_socket(state):
    from . import egress
    return egress.socket_path(state["dir"])


def _tail(path, lines=25):
    try:
        with open(path, "rb") as handle:
            return b"\n".join(handle.read().splitlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return "(no log)"


def _http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001
        return False


def _https_ok(url, state):
    ctx = ssl.create_default_context(cafile=state["pki"]["ca.crt"])
    ctx.load_cert_chain(state["pki"]["admin.crt"], state["pki"]["admin.key"])
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001
        return False
