"""``python -m meshsandbox aws-emulator [options]``: run the sandbox's AWS emulator.

The foundation's ``__main__`` dispatches the ``aws-emulator`` subcommand to ``main(argv)``;
``python -m meshsandbox.aws_main`` works on its own too.
"""

import argparse
import json
import os
import sys

from .aws_emulator import DEFAULT_PORT, AWSEmulator


def _env_delay(name, default):
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError:
        raise SystemExit("%s=%r is not a number of seconds: set it to e.g. 5 or unset it" % (name, value))


def build_parser():
    parser = argparse.ArgumentParser(prog="meshsandbox aws-emulator",
                                     description="moto-based AWS emulator of the mesh sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="0 picks a free port (default %(default)s)")
    parser.add_argument("--home", help="sandbox home (default $MESH_SANDBOX_HOME or "
                                       "<repo>/.cache/sandbox)")
    # defaults from the environment too, so that `meshsandbox clouds up` (which passes its
    # environment on) starts a slow cloud without options: like MESH_GKE_EMULATOR_DELAY
    parser.add_argument("--ready-delay", type=float, default=_env_delay("MESH_AWS_EMULATOR_READY_DELAY", 2.0),
                        help="seconds a cluster/node group stays CREATING (env MESH_AWS_EMULATOR_READY_DELAY, "
                             "default 2)")
    parser.add_argument("--update-delay", type=float, default=_env_delay("MESH_AWS_EMULATOR_UPDATE_DELAY", 1.0),
                        help="seconds UPDATING lasts (env MESH_AWS_EMULATOR_UPDATE_DELAY, default 1)")
    parser.add_argument("--delete-delay", type=float, default=_env_delay("MESH_AWS_EMULATOR_DELETE_DELAY", 1.0),
                        help="seconds DELETING lasts (env MESH_AWS_EMULATOR_DELETE_DELAY, default 1)")
    parser.add_argument("--no-clusters", action="store_true",
                        help="do not start local API servers (fake endpoints only)")
    parser.add_argument("--no-verify-signatures", action="store_true",
                        help="accept any credentials (moto's default behaviour)")
    parser.add_argument("--token-max-age", type=int,
                        default=int(os.environ.get("MESH_AWS_EMULATOR_TOKEN_MAX_AGE") or 900),
                        help="seconds an EKS token is accepted after X-Amz-Date (EKS: 900; env "
                             "MESH_AWS_EMULATOR_TOKEN_MAX_AGE: tests shorten it to see tokens renewed)")
    parser.add_argument("--honour-token-expires", action="store_true",
                        help="also reject tokens older than their X-Amz-Expires (60 s)")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "aws-emulator":  # called through ``python -m meshsandbox``
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    emulator = AWSEmulator(host=args.host, port=args.port, home=args.home,
                           ready_delay=args.ready_delay, update_delay=args.update_delay,
                           delete_delay=args.delete_delay, start_clusters=not args.no_clusters,
                           verify_signatures=not args.no_verify_signatures,
                           token_max_age=args.token_max_age,
                           honour_token_expires=args.honour_token_expires)
    emulator.start()
    print(json.dumps({"endpoint_url": emulator.endpoint_url,
                      "credentials_file": emulator.credentials_file,
                      "profile": "mesh-sandbox"}), flush=True)
    emulator.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
