#!/usr/bin/env bash
# tools/gateway-ws-check.sh ETCD_SWIFT_BINARY
# The JSON gateway over WebSocket (etcd 3.4 wraps /v3/ in grpc-websocket-proxy): starts etcd-swift
# and real etcd 3.4, and with a gorilla/websocket client (tools/wsclient, built offline in GOPATH
# mode) opens a watch, puts the watched key, reads the two messages, then sends a unary range and a
# body that is not JSON; compares the messages (member and cluster ids blanked).
# Exit status 0 only when every answer matched.
set -u
here=$(cd "$(dirname "$0")" && pwd)
swift_bin=$(readlink -f "$1")
work=$(mktemp -d /tmp/etcd-swift-ws.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
(cd "$here/wsclient" && GO111MODULE=off GOFLAGS= GOPATH="$here/wsclient:/usr/share/gocode" GOCACHE=${GOCACHE:-/tmp/gocache} \
  go build -o "$work/wsclient" wsclient) || { echo "gateway-ws-check: cannot build the client" >&2; exit 2; }

start() { # NAME BINARY -> $ep (host:port)
  local name=$1 bin=$2 c p
  c=$(free_port); p=$(free_port)
  "$bin" --name m --data-dir "$work/$name.data" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "m=http://127.0.0.1:$p" > "$work/$name.log" 2>&1 &
  pids+=("$!")
  ep="127.0.0.1:$c"
  for _ in $(seq 1 100); do
    curl -s -m 1 "http://$ep/health" | grep -q '"health":"true"' && return 0
    sleep 0.1
  done
  echo "could not start $name"; tail -n 20 "$work/$name.log"; return 1
}

session() { # HOST:PORT -> every message, ids blanked
  local ep=$1
  ( sleep 1; curl -s -X POST -d '{"key":"Zm9v","value":"YmFy"}' "http://$ep/v3/kv/put" > /dev/null ) &
  "$work/wsclient" "ws://$ep/v3/watch" '{"create_request":{"key":"Zm9v"}}' 2
  wait
  "$work/wsclient" "ws://$ep/v3/kv/range" '{"key":"Zm9v"}' 1
  "$work/wsclient" "ws://$ep/v3/watch" 'not json' 1
}

start real /usr/bin/etcd || exit 1
real=$ep
start swift "$swift_bin" || exit 1
swift=$ep
blank() { sed -E 's/"(cluster_id|member_id)":"[0-9]+"/"\1":"-"/g'; }
session "$real" 2>&1 | blank > "$work/real.txt"
session "$swift" 2>&1 | blank > "$work/swift.txt"
if diff "$work/real.txt" "$work/swift.txt" > "$work/diff"; then
  echo "ok: $(wc -l < "$work/swift.txt") messages as etcd's"
  exit 0
fi
echo "WebSocket answers differ (< etcd, > etcd-swift):"; cat "$work/diff"
exit 1
