"""Benchmarks of site.yml on the sandbox (see benchmarks/README.md).

    .venv/bin/python benchmarks/run.py [--clusters 2,4,8] [--delay 15] [--modes parallel,sequential]
                                       [--noop 2,8] [--quick] [--report FILE.json]

For each cluster count N and mode, in a sandbox home of its own: ``meshsandbox clouds up
--provision-delay DELAY``, an N-cluster inventory (mesh-1, mesh-3, ... in group aws; mesh-2,
mesh-4, ... in gcp), ``ansible-playbook site.yml`` timed stage by stage (callback
bench_stages, probes.py), in mode ``parallel`` as site.yml is (forks 16) or ``sequential``
(``--forks 1``: one task at a time, so one cluster is created, and waited for, after the other),
the no-op re-run (parallel, N in --noop), the sandbox's memory, then ``clouds down`` and
``down --all``. Writes benchmarks/results/<UTC time>.json, latest.json, latest.md and latest.png.
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
sys.path.insert(0, os.path.join(ROOT, "sandbox"))
sys.path.insert(0, BENCH)

import probes  # noqa: E402  pylint: disable=wrong-import-position,import-error
from meshsandbox.clusters import ClusterManager  # noqa: E402  pylint: disable=wrong-import-position,import-error

STAGES = ("clusters", "mesh_ca", "istio", "postcard", "mesh_link")
MODES = ("parallel", "sequential")
BACKGROUND_WINDOW = 10


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def load():
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------- setup
def ensure_requirements():
    """matplotlib (benchmarks/requirements.txt, exact pins) in the project's venv."""
    req = os.path.join(BENCH, "requirements.txt")
    check = subprocess.run([os.path.join(VENV_BIN, "python"), "-m", "pip", "install", "--dry-run", "-q",
                            "--no-deps", "-r", req, "--report", "-"], capture_output=True, text=True, check=False)
    try:
        missing = json.loads(check.stdout or "{}").get("install", [None])
    except ValueError:
        missing = [None]
    if missing:
        log("installing benchmarks/requirements.txt into .venv ...")
        subprocess.run([os.path.join(VENV_BIN, "python"), "-m", "pip", "install", "-q", "--no-deps", "-r", req],
                       check=True)


def write_inventory(home, count):
    """mesh-1..mesh-N alternating aws/gcp (the sandbox inventories' shape), each on its own network."""
    inv = os.path.join(home, "inventory")
    os.makedirs(os.path.join(inv, "host_vars"), exist_ok=True)
    link = os.path.join(inv, "group_vars")
    if not os.path.exists(link):
        os.symlink(os.path.join(ROOT, "inventories", "sandbox", "group_vars"), link)
    aws, gcp = [], []
    for i in range(1, count + 1):
        host = "mesh-%d" % i
        cloud, members = ("aws", aws) if i % 2 else ("gcp", gcp)
        members.append(host)
        index = len(members)
        lines = ["---", "mesh_network: network-%s-%d" % (cloud, index)]
        if cloud == "aws":
            octet = 59 + index
            lines += ["eks_cluster_vpc_cidr: 10.%d.0.0/16" % octet,
                      "eks_cluster_public_subnet_cidrs: [10.%d.0.0/20, 10.%d.16.0/20]" % (octet, octet),
                      "eks_cluster_private_subnet_cidrs: [10.%d.128.0/20, 10.%d.144.0/20]" % (octet, octet)]
        elif index > 1:
            lines.append("mesh_role: frontend  # one backend (the first GKE cluster), the rest call it")
        with open(os.path.join(inv, "host_vars", host + ".yml"), "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    hosts = ["---", "all:", "  children:"]
    for group, members in (("aws", aws), ("gcp", gcp)):
        hosts += ["    %s:" % group, "      hosts:"] + ["        %s:" % h for h in members]
    hosts += ["    mesh:", "      children:", "        aws:", "        gcp:"]
    path = os.path.join(inv, "hosts.yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(hosts) + "\n")
    return path


def sandbox(env, *args):
    cmd = [os.path.join(VENV_BIN, "python"), "-m", "meshsandbox"] + list(args)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def clouds_up(env, delay):
    res = sandbox(env, "clouds", "up", "--provision-delay", str(delay), "--delete-delay", "1")
    if res.returncode != 0:
        raise RuntimeError("clouds up failed: %s" % res.stderr.strip())
    with open(os.path.join(env["MESH_SANDBOX_HOME"], "clouds", "env.sh"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("export "):
                name, dummy, value = line[len("export "):].strip().partition("=")
                env[name] = shlex.split(value)[0] if value else ""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_SHARED_CREDENTIALS_FILE", "GOOGLE_APPLICATION_CREDENTIALS"):
        env.pop(name, None)


def teardown(env):
    """clouds down (the emulators delete their clusters) and down --all; returns processes left."""
    sandbox(env, "clouds", "down")
    sandbox(env, "down", "--all")
    left = {name: pids for name, pids in
            ((i["name"], ClusterManager(env["MESH_SANDBOX_HOME"]).processes(i["name"]))
             for i in ClusterManager(env["MESH_SANDBOX_HOME"]).list()) if pids}
    status = sandbox(env, "clouds", "status", "--json")
    try:
        clouds = json.loads(status.stdout)
        left.update({"cloud:" + c: clouds[c].get("pid") for c in ("aws", "gcp") if clouds[c]["running"]})
    except (ValueError, KeyError):
        left["clouds-status"] = status.stderr.strip()
    return left


# ------------------------------------------------------------------------------- measuring
def _union(intervals):
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def summarize(timing):
    """Per stage: wall, cloud waits (union of create-and-wait tasks), overhead, API calls."""
    stages = []
    for st in timing["stages"]:
        waits = [(t["start"], t["end"]) for t in timing["tasks"]
                 if t["wait"] and t.get("end") is not None and st["start"] <= t["start"] < st["end"]]
        wall = st["end"] - st["start"]
        wait = _union(waits)
        before, after = st.get("before") or {}, st.get("after") or {}
        cloud = probes.diff_counts(after.get("cloud"), before.get("cloud"))
        kube = probes.diff_counts(after.get("kube"), before.get("kube"))
        stages.append({
            "stage": st["stage"], "wall_s": round(wall, 2), "cloud_wait_s": round(wait, 2),
            "overhead_s": round(wall - wait, 2),
            "cloud_requests": {c: {"total": v.get("total", 0),
                                   "requests": {k: n for k, n in v.get("requests", {}).items() if n}}
                               for c, v in cloud.items()},
            "kube_requests": {c: {k: n for k, n in verbs.items() if n} for c, verbs in kube.items()},
            "kube_requests_total": sum(sum(v.values()) for v in kube.values()),
        })
    wall = timing["wall"] - timing["probe_seconds"]
    wait = sum(s["cloud_wait_s"] for s in stages)
    changed = sum(h.get("changed", 0) for h in timing["recap"].values())
    failed = sum(h.get("failures", 0) + h.get("unreachable", 0) for h in timing["recap"].values())
    return {"wall_s": round(wall, 2), "cloud_wait_s": round(wait, 2), "overhead_s": round(wall - wait, 2),
            "probe_s": round(timing["probe_seconds"], 2), "changed": changed, "failed": failed, "stages": stages}


def playbook(env, inventory, mode, out, log_path):
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, "playbooks/site.yml"]
    if mode == "sequential":
        cmd += ["--forks", "1"]
    run_env = dict(env, ANSIBLE_CALLBACK_PLUGINS=os.path.join(BENCH, "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="bench_stages", BENCH_STAGES_OUT=out, BENCH_STAGES_PROBE="1")
    start = time.time()
    with open(log_path, "w", encoding="utf-8") as handle:
        # its own session: a stopped benchmark stops ansible-playbook and its forks (their group)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=run_env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            returncode = proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
            raise
    elapsed = time.time() - start
    if returncode != 0 or not os.path.exists(out):
        raise RuntimeError("site.yml (%s) failed (rc=%d); log %s" % (mode, returncode, log_path))
    with open(out, encoding="utf-8") as handle:
        timing = json.load(handle)
    summary = summarize(timing)
    summary["process_wall_s"] = round(elapsed, 2)
    return summary


def background(env):
    """kube-apiserver requests per second with nothing running (controllers, kwok, istiod, leases)."""
    home = env["MESH_SANDBOX_HOME"]
    first = probes.kube_requests(home)
    time.sleep(BACKGROUND_WINDOW)
    delta = probes.diff_counts(probes.kube_requests(home), first)
    return {c: round(sum(v.values()) / float(BACKGROUND_WINDOW), 2) for c, v in delta.items()}


def one_run(args, count, mode, stamp):
    home = os.path.join(ROOT, ".cache", "bench", stamp, "%s-%d" % (mode, count))
    os.makedirs(home, mode=0o700, exist_ok=True)
    env = dict(os.environ, MESH_SANDBOX_HOME=home, PYTHONPATH=os.path.join(ROOT, "sandbox"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    run = {"clusters": count, "mode": mode, "delay_s": args.delay, "home": home, "load_start": load()}
    log("%d clusters, %s: clouds up (provisioning delay %ss), home %s" % (count, mode, args.delay, home))
    try:
        clouds_up(env, args.delay)
        inventory = write_inventory(home, count)
        run["site"] = playbook(env, inventory, mode, os.path.join(home, "site.json"), os.path.join(home, "site.log"))
        run["load_after_site"] = load()
        log("  site.yml %.1fs (cloud waits %.1fs, overhead %.1fs)"
            % (run["site"]["wall_s"], run["site"]["cloud_wait_s"], run["site"]["overhead_s"]))
        run["memory"] = probes.memory(home)
        run["memory_per_cluster_mib"] = round(
            sum(m["rss_mib"] for m in run["memory"].values()) / max(1, len(run["memory"])), 1)
        if mode == "parallel" and count in args.noop:
            run["noop_load_start"] = load()
            run["noop"] = playbook(env, inventory, mode, os.path.join(home, "noop.json"),
                                   os.path.join(home, "noop.log"))
            run["noop_load_end"] = load()
            log("  no-op re-run %.1fs, changed=%d" % (run["noop"]["wall_s"], run["noop"]["changed"]))
        run["kube_background_req_per_s"] = background(env)
    except (RuntimeError, OSError) as exc:
        run["error"] = str(exc)
        log("  FAILED: %s" % exc)
    finally:
        run["leftover_processes"] = teardown(env)
        run["load_end"] = load()
        if run["leftover_processes"]:
            log("  WARNING: processes left: %s" % run["leftover_processes"])
    if not args.keep_homes and "error" not in run:
        shutil.rmtree(home, ignore_errors=True)
    return run


# ------------------------------------------------------------------------------- report
def _get(results, count, mode):
    for run in results["runs"]:
        if run["clusters"] == count and run["mode"] == mode and "site" in run:
            return run
    return None


def ratios(results):
    out = {}
    for count in sorted({r["clusters"] for r in results["runs"]}):
        par, seq = _get(results, count, "parallel"), _get(results, count, "sequential")
        if par and seq:
            out[str(count)] = round(seq["site"]["wall_s"] / par["site"]["wall_s"], 2)
    return out


def markdown(results):
    lines = ["Delay %ss per create (EKS cluster, EKS node group, GKE operation); %s; %d CPUs; started %s." % (
        results["delay_s"], results["ansible"], results["cpus"], results["started"]), "",
        "| clusters | mode | site.yml s | cloud waits s | overhead s | " + " | ".join(
            "%s s" % s for s in STAGES) + " | cloud calls | kube calls | MiB/cluster | load start/end |",
        "|---" * (9 + len(STAGES)) + "|"]
    for run in results["runs"]:
        if "site" not in run:
            lines.append("| %d | %s | failed: %s |" % (run["clusters"], run["mode"], run.get("error", "?")))
            continue
        site = run["site"]
        by = {s["stage"]: s for s in site["stages"]}
        cloud = sum(sum(c["total"] for c in s["cloud_requests"].values()) for s in site["stages"])
        kube = sum(s["kube_requests_total"] for s in site["stages"])
        lines.append("| %d | %s | %.0f | %.0f | %.0f | %s | %d | %d | %.0f | %s / %s |" % (
            run["clusters"], run["mode"], site["wall_s"], site["cloud_wait_s"], site["overhead_s"],
            " | ".join("%.0f" % by[s]["overhead_s"] if s in by else "-" for s in STAGES),
            cloud, kube, run.get("memory_per_cluster_mib", 0), run["load_start"][0], run["load_end"][0]))
    ratio = ratios(results)
    if ratio:
        lines += ["", "Sequential / parallel wall time: " + ", ".join(
            "%s clusters %.2fx" % (n, r) for n, r in ratio.items())]
    noops = [r for r in results["runs"] if "noop" in r]
    if noops:
        lines += ["", "No-op re-run (everything converged): " + ", ".join(
            "%d clusters %.0f s (changed %d, %d cloud + %d kube calls)" % (
                r["clusters"], r["noop"]["wall_s"], r["noop"]["changed"],
                sum(sum(c["total"] for c in s["cloud_requests"].values()) for s in r["noop"]["stages"]),
                sum(s["kube_requests_total"] for s in r["noop"]["stages"])) for r in noops)]
    return "\n".join(lines) + "\n"


def plot(results, path):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for mode, style in (("parallel", "o-"), ("sequential", "s--")):
        runs = sorted((r for r in results["runs"] if r["mode"] == mode and "site" in r), key=lambda r: r["clusters"])
        if runs:
            left.plot([r["clusters"] for r in runs], [r["site"]["wall_s"] for r in runs], style, label=mode)
            left.plot([r["clusters"] for r in runs], [r["site"]["cloud_wait_s"] for r in runs], style,
                      alpha=0.35, label="%s: cloud waits" % mode)
    left.set_xticks(sorted({r["clusters"] for r in results["runs"]}))
    left.set_ylim(bottom=0)
    left.set_xlabel("clusters")
    left.set_ylabel("site.yml wall time (s)")
    left.set_title("site.yml, provisioning delay %ss" % results["delay_s"])
    left.legend()
    left.grid(alpha=0.3)
    runs = [r for r in results["runs"] if "site" in r]
    labels = ["%d %s" % (r["clusters"], r["mode"][:3]) for r in runs]
    bottom = [0.0] * len(runs)
    for stage in STAGES:
        values = [next((s["overhead_s"] for s in r["site"]["stages"] if s["stage"] == stage), 0.0) for r in runs]
        right.bar(labels, values, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, values)]
    right.set_ylabel("overhead s (wall minus cloud waits)")
    right.set_title("collection overhead per stage")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(results, out_dir, name):
    results["ratios_sequential_over_parallel"] = ratios(results)
    os.makedirs(out_dir, exist_ok=True)
    for target in (name, "latest.json"):
        with open(os.path.join(out_dir, target), "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1, sort_keys=True)
    with open(os.path.join(out_dir, "latest.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown(results))
    plot(results, os.path.join(out_dir, "latest.png"))


# ------------------------------------------------------------------------------- main
def _counts(text, option):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(v < 2 or v > 16 for v in values):
        raise argparse.ArgumentTypeError("%s takes cluster counts from 2 to 16, comma-separated (e.g. 2,4,8); got %r"
                                         % (option, text))
    return values


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", default="2,4,8", type=lambda t: _counts(t, "--clusters"),
                        help="cluster counts (default 2,4,8; half EKS, half GKE)")
    parser.add_argument("--delay", type=float, default=15.0,
                        help="seconds each cloud create stays in progress (default 15)")
    parser.add_argument("--modes", default="parallel,sequential",
                        help="parallel (site.yml as is) and/or sequential (--forks 1)")
    parser.add_argument("--noop", default="2,8", type=lambda t: _counts(t, "--noop"),
                        help="cluster counts whose parallel run is followed by a timed no-op re-run (default 2,8)")
    parser.add_argument("--quick", action="store_true",
                        help="2 clusters, both modes, delay 5 s, no-op re-run: a smoke test of the harness (~10 min)")
    parser.add_argument("--keep-homes", action="store_true", help="keep each run's sandbox home (logs, timings)")
    parser.add_argument("--report", metavar="JSON", help="only rewrite latest.md/latest.png from a results file")
    parser.add_argument("--out", default=os.path.join(BENCH, "results"), help="results folder")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or any(m not in MODES for m in args.modes):
        parser.error("--modes takes parallel and/or sequential, comma-separated; got %r" % ",".join(args.modes))
    if not 0 <= args.delay <= 600:
        parser.error("--delay must be between 0 and 600 seconds; got %s" % args.delay)
    if args.quick:
        args.clusters, args.delay, args.noop = [2], 5.0, [2]
    return args


def _stop(signum, _frame):
    raise SystemExit("stopped by signal %d" % signum)  # one_run's finally still tears down


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    ensure_requirements()
    if args.report:
        with open(args.report, encoding="utf-8") as handle:
            report(json.load(handle), args.out, os.path.basename(args.report))
        log("wrote %s/latest.md and latest.png" % args.out)
        return 0
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    version = subprocess.run([os.path.join(VENV_BIN, "ansible"), "--version"], capture_output=True, text=True,
                             check=False).stdout.splitlines()[:1]
    results = {"started": stamp, "delay_s": args.delay, "cpus": os.cpu_count(), "modes": args.modes,
               "ansible": version[0] if version else "?", "load_start": load(), "runs": []}
    failed = False
    for count in args.clusters:
        for mode in args.modes:
            run = one_run(args, count, mode, stamp)
            results["runs"].append(run)
            failed = failed or "error" in run or bool(run["leftover_processes"])
            results["load_end"] = load()
            report(results, args.out, stamp + ".json")
    print(markdown(results))
    log("results: %s/%s.json, latest.md, latest.png" % (args.out, stamp))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
