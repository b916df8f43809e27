"""Command line of the sandbox's GKE emulator.

    PYTHONPATH=sandbox python -m meshsandbox.gke_main gke-emulator --port 8790
    PYTHONPATH=sandbox python -m meshsandbox.gke_main gke-key --emulator http://127.0.0.1:8790 \
        --project mesh-project --out .cache/sandbox/gke-emulator/key.json

``main(argv)`` is what ``python -m meshsandbox gke-emulator|gke-key`` should call.
"""

import argparse
import json
import logging
import os
import sys
import urllib.request

from meshsandbox import gke_emulator
from meshsandbox.paths import write_private


def _write_key(path, key):
    write_private(os.path.abspath(path), json.dumps(key, indent=2))


def cmd_emulator(args):
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    emulator = gke_emulator.GkeEmulator(
        state_dir=args.state_dir, delay=args.delay, clusters=args.clusters,
        allowed_projects=[p for p in (args.allowed_projects or "").split(",") if p] or None)
    server = gke_emulator.make_server(emulator, host=args.host, port=args.port)
    if args.key_out:
        _write_key(args.key_out, emulator.create_key(args.project))
    print(json.dumps({"url": emulator.base_url, "state_dir": emulator.state_dir,
                      "key_file": os.path.abspath(args.key_out) if args.key_out else None}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_key(args):
    body = json.dumps({"project": args.project, "account": args.account,
                       "projects": [p for p in (args.also_projects or "").split(",") if p]}).encode()
    req = urllib.request.Request(args.emulator.rstrip("/") + "/_emulator/keys", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        key = json.load(resp)
    _write_key(args.out, key)
    print(json.dumps({"key_file": os.path.abspath(args.out), "client_email": key["client_email"]}))
    return 0


def build_parser(parser=None):
    parser = parser or argparse.ArgumentParser(prog="meshsandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    emu = sub.add_parser("gke-emulator", help="serve the GKE API v1 emulator")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=int(os.environ.get("MESH_GKE_EMULATOR_PORT", "8790")))
    emu.add_argument("--state-dir", default=None, help="default: $MESH_SANDBOX_HOME/gke-emulator")
    emu.add_argument("--delay", type=float, default=None,
                     help="seconds each operation stays RUNNING (env MESH_GKE_EMULATOR_DELAY, default 1)")
    emu.add_argument("--clusters", choices=["real", "none"], default=None,
                     help="real: a local API server per cluster (ClusterManager); none: placeholders")
    emu.add_argument("--allowed-projects", default=None,
                     help="comma list every minted key may use besides its own project")
    emu.add_argument("--key-out", default=None, help="mint a service account key file here at start")
    emu.add_argument("--project", default="mesh-project", help="project of the --key-out key")
    emu.add_argument("-v", "--verbose", action="store_true")
    emu.set_defaults(func=cmd_emulator)
    key = sub.add_parser("gke-key", help="mint a service account key file from a running emulator")
    key.add_argument("--emulator", default=os.environ.get("MESH_GKE_EMULATOR_URL", "http://127.0.0.1:8790"))
    key.add_argument("--project", default="mesh-project")
    key.add_argument("--account", default="mesh-deployer")
    key.add_argument("--also-projects", default=None, help="comma list of more projects it may use")
    key.add_argument("--out", required=True)
    key.set_defaults(func=cmd_key)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
