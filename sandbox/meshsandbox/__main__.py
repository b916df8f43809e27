"""Command line of the sandbox.

  python -m meshsandbox up [NAME[:FLAVOR] ...]   start clusters (default: mesh-1:eks mesh-2:gke)
  python -m meshsandbox down [NAME ...|--all]    stop them and free their ports
  python -m meshsandbox status                   what runs, where
  python -m meshsandbox kubeconfig NAME          path of the admin kubeconfig (0600)
  python -m meshsandbox restart NAME [--component kube-apiserver] [--down-for S]
                                                 kill a component, keep it down S s, start it (faults)
Emulators (see docs/sandbox.md): gke-emulator, aws-emulator.
"""

import argparse
import concurrent.futures
import importlib
import json
import sys
import time

from .clusters import ClusterManager, SandboxError

DEFAULT_CLUSTERS = ["mesh-1:eks", "mesh-2:gke"]
EXTERNAL = {"gke-emulator": "meshsandbox.gke_main", "aws-emulator": "meshsandbox.aws_main",
            "gke-key": "meshsandbox.gke_main"}


def _parse_spec(spec):
    name, flavor = (spec.split(":", 1) + ["plain"])[:2]
    return name, flavor or "plain"


def cmd_up(args):
    mgr = ClusterManager(args.home)
    specs = [_parse_spec(s) for s in (args.clusters or DEFAULT_CLUSTERS)]
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        futures = {pool.submit(mgr.up, name, flavor, None, args.nodes): name for name, flavor in specs}
        infos, errors = [], []
        for fut in concurrent.futures.as_completed(futures):
            try:
                infos.append(fut.result())
            except SandboxError as exc:
                errors.append("%s: %s" % (futures[fut], exc))
    for info in sorted(infos, key=lambda i: i["name"]):
        print("%-12s %-5s %s  kubeconfig=%s" % (info["name"], info["flavor"], info["server"], info["admin_kubeconfig"]))
    print("[sandbox] %d cluster(s) up in %.1fs" % (len(infos), time.time() - t0), file=sys.stderr)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    return 0


def cmd_down(args):
    mgr = ClusterManager(args.home)
    names = [i["name"] for i in mgr.list()] if args.all or not args.clusters else args.clusters
    for name in names:
        stopped = mgr.down(name)
        print("%s: %s" % (name, "stopped" if stopped else "not running"))
    return 0


def cmd_status(args):
    infos = ClusterManager(args.home).list()
    if args.json:
        print(json.dumps([{k: v for k, v in i.items() if k != "ca_pem"} for i in infos], indent=2))
        return 0
    if not infos:
        print("no sandbox clusters")
    for info in infos:
        down = [c for c, ok in info["running"].items() if not ok]
        print("%-12s %-5s %s  %s" % (info["name"], info["flavor"], info["server"],
                                     "ok" if not down else "DOWN: " + ", ".join(down)))
    return 0


def cmd_kubeconfig(args):
    info = ClusterManager(args.home).get(args.name)
    if info is None:
        print("no sandbox cluster named %r; run 'up %s' first" % (args.name, args.name), file=sys.stderr)
        return 1
    print(info["admin_kubeconfig"])
    return 0


def cmd_restart(args):
    result = ClusterManager(args.home).restart(args.name, args.component, args.down_for)
    print(json.dumps(result))
    return 0


def cmd_lb_controller(args):
    from . import lbcontroller
    lbcontroller.run(args.state)
    return 0


def cmd_egress(args):
    from . import egress
    egress.run(args.state)
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in EXTERNAL:
        return importlib.import_module(EXTERNAL[argv[0]]).main(argv)
    if argv and argv[0] == "clouds":  # clouds up|down|status: the emulators in the background (cloud.py)
        return importlib.import_module("meshsandbox.cloud").main(argv[1:])
    parser = argparse.ArgumentParser(prog="meshsandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None, help="state folder (default .cache/sandbox or $MESH_SANDBOX_HOME)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up")
    p.add_argument("clusters", nargs="*", help="NAME[:eks|gke|plain]")
    p.add_argument("--nodes", type=int, default=2)
    p.set_defaults(fn=cmd_up)
    p = sub.add_parser("down")
    p.add_argument("clusters", nargs="*")
    p.add_argument("--all", action="store_true")
    p.set_defaults(fn=cmd_down)
    p = sub.add_parser("status")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_status)
    p = sub.add_parser("kubeconfig")
    p.add_argument("name")
    p.set_defaults(fn=cmd_kubeconfig)
    p = sub.add_parser("restart", help="kill a component of a cluster and start it again (fault injection)")
    p.add_argument("name")
    p.add_argument("--component", default="kube-apiserver")
    p.add_argument("--down-for", type=float, default=0.0, help="seconds between kill and start")
    p.set_defaults(fn=cmd_restart)
    p = sub.add_parser("lb-controller")
    p.add_argument("--state", required=True, help="the cluster's state.json")
    p.set_defaults(fn=cmd_lb_controller)
    p = sub.add_parser("egress", help="the cluster network of one cluster: webhook calls, its local istiod")
    p.add_argument("--state", required=True, help="the cluster's state.json")
    p.set_defaults(fn=cmd_egress)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except SandboxError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
