#!/usr/bin/env bash
# Runs the gRPC interop cases against tools/interop-server with a real grpcio client.
# usage: tools/interop/run.sh [path/to/interop-server]
#   Without an argument the server is built with `swift build --product interop-server`
#   (scratch path $SCRATCH, default .build). grpcio and grpcio-tools are installed from PyPI into
#   $INTEROP_VENV (default ~/.cache/etcd-swift-interop-venv) on first use; nothing is written to the repo.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

server="${1:-}"
if [[ -z "$server" ]]; then
    scratch="${SCRATCH:-.build}"
    swift build --scratch-path "$scratch" --product interop-server >&2
    server="$(swift build --scratch-path "$scratch" --product interop-server --show-bin-path)/interop-server"
fi
[[ -x "$server" ]] || { echo "interop server not found: $server" >&2; exit 2; }

venv="${INTEROP_VENV:-$HOME/.cache/etcd-swift-interop-venv}"
if ! "$venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet grpcio grpcio-tools >&2
fi

log="$(mktemp)"
"$server" --host 127.0.0.1 --port 0 >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT

port=""
for _ in $(seq 1 100); do
    port="$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$log")"
    [[ -n "$port" ]] && break
    kill -0 "$pid" 2>/dev/null || { echo "interop server exited:" >&2; cat "$log" >&2; exit 2; }
    sleep 0.1
done
[[ -n "$port" ]] || { echo "interop server did not report its port" >&2; exit 2; }

"$venv/bin/python" "$root/tools/interop/interop_client.py" --host 127.0.0.1 --port "$port" --protos "$root/Protos"
