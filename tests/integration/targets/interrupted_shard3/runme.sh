#!/usr/bin/env bash
# Shard 3/3 of the interrupted target's table (full tier: the whole table in three lanes), in its own sandbox home.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${MESH_REPO:-$(cd "$here/../../../.." && pwd)}
export MESH_RESILIENCE_FULL=1 MESH_RESILIENCE_SHARD=3/3
export MESH_SANDBOX_HOME=${MESH_SANDBOX_HOME:-$repo/.cache/sandbox-it-interrupted-3}
exec bash "$here/../interrupted/runme.sh" "$@"
