"""What the benchmarks read from a running sandbox (MESH_SANDBOX_HOME, the clouds' env.sh variables).

* cloud_requests(): the emulators' request counters (AWS ``/_sandbox/stats``, GKE ``/_emulator/stats``)
* kube_requests(): each cluster's kube-apiserver ``apiserver_request_total`` summed per verb
* memory(): RSS of each cluster's processes (meshsandbox ClusterManager.processes, local istiod included)
"""

import json
import os
import re
import ssl
import urllib.request

from meshsandbox.clusters import ClusterManager

REQUEST_TOTAL = re.compile(r'^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$')
VERB = re.compile(r'verb="([A-Z]+)"')


def _get_json(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def cloud_requests():
    """{"aws": {"total", "requests"}, "gcp": {...}} from the emulators named in the environment."""
    out = {}
    for cloud, var, path in (("aws", "AWS_ENDPOINT_URL", "/_sandbox/stats"),
                             ("gcp", "GKE_API_ENDPOINT", "/_emulator/stats")):
        if os.environ.get(var):
            out[cloud] = _get_json(os.environ[var].rstrip("/") + path)
    return out


def _metrics(manager, info):
    ca, cert, key = manager.admin_tls(info["name"])
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    with urllib.request.urlopen(info["server"] + "/metrics", timeout=10, context=ctx) as resp:
        return resp.read().decode("utf-8", "replace")


def kube_requests(home=None):
    """{cluster: {verb: requests since the API server started}} (a cluster that does not answer: absent)."""
    manager = ClusterManager(home)
    out = {}
    for info in manager.list():
        if not info["running"].get("kube-apiserver"):
            continue
        try:
            text = _metrics(manager, info)
        except (OSError, ValueError, ssl.SSLError):
            continue
        verbs = {}
        for line in text.splitlines():
            match = REQUEST_TOTAL.match(line)
            if match:
                verb = VERB.search(match.group("labels"))
                if verb:
                    verbs[verb.group(1)] = verbs.get(verb.group(1), 0) + int(float(match.group("value")))
        out[info["name"]] = verbs
    return out


def stage_probe():
    """What the callback records at each stage boundary."""
    return {"cloud": cloud_requests(), "kube": kube_requests()}


def _rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(home=None):
    """{cluster: {"rss_mib": total, "processes": {component: MiB}}}."""
    manager = ClusterManager(home)
    out = {}
    for info in manager.list():
        procs = {c: round(_rss_kib(pid) / 1024.0, 1) for c, pid in manager.processes(info["name"]).items()}
        out[info["name"]] = {"rss_mib": round(sum(procs.values()), 1), "processes": procs}
    return out


def diff_counts(after, before):
    """after - before for nested {key: number} dicts (missing before = 0)."""
    out = {}
    for key, value in (after or {}).items():
        if isinstance(value, dict):
            out[key] = diff_counts(value, (before or {}).get(key) or {})
        elif isinstance(value, (int, float)):
            out[key] = value - ((before or {}).get(key) or 0)
    return out
