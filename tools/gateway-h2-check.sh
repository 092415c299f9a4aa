#!/usr/bin/env bash
# tools/gateway-h2-check.sh ETCD_SWIFT_BINARY
# The client port's HTTP endpoints over HTTP/2: starts etcd-swift and real etcd 3.4 with
# --auto-tls, sends the same requests with nghttp (ALPN h2 only, as Go's and most h2 clients) and
# with curl --http2, and compares status codes and bodies (member and cluster ids blanked). Over
# TLS etcd answers the JSON gateway, /health and /version over h2 too; a JSON POST must reach the
# gateway, not gRPC. Exit status 0 only when every answer matched.
set -u
swift_bin=$(readlink -f "$1")
for tool in nghttp curl python3; do command -v "$tool" >/dev/null || { echo "gateway-h2-check: '$tool' not found" >&2; exit 2; }; done
work=$(mktemp -d /tmp/etcd-swift-h2.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # NAME BINARY -> $url
  local name=$1 bin=$2 c p
  c=$(free_port); p=$(free_port)
  "$bin" --name m --data-dir "$work/$name.data" --auto-tls \
    --listen-client-urls "https://127.0.0.1:$c" --advertise-client-urls "https://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "m=http://127.0.0.1:$p" > "$work/$name.log" 2>&1 &
  pids+=("$!")
  url="https://127.0.0.1:$c"
  for _ in $(seq 1 100); do
    curl -sk -m 1 "$url/health" | grep -q '"health":"true"' && return 0
    sleep 0.1
  done
  echo "could not start $name"; tail -n 20 "$work/$name.log"; return 1
}

# One request -> "status body" with ids blanked. nghttp's -d makes a POST.
ask() { # TOOL URL PATH [JSON]
  local tool=$1 url=$2 path=$3 json=${4:-} status body
  if [ "$tool" = nghttp ]; then
    local args=(-v)
    if [ -n "$json" ]; then printf '%s' "$json" > "$work/body"; args+=(-d "$work/body" -H 'content-type: application/json'); fi
    nghttp "${args[@]}" "$url$path" > "$work/out" 2>/dev/null
    status=$(grep -m1 -o ':status: [0-9]*' "$work/out" | awk '{print $2}')
    # The body is what nghttp prints outside its frame log: the log's lines start with "[ seconds]" or
    # spaces, and a body without a final newline runs into the next log line.
    body=$(sed -E -e 's/\[ *[0-9]+\.[0-9]{3}\] .*$//' -e '/^ /d' -e '/^The negotiated protocol/d' "$work/out" | tr -d '\n')
  else
    local args=(-sk --http2 -o "$work/out" -w '%{http_code}')
    [ -n "$json" ] && args+=(-X POST -H 'content-type: application/json' -d "$json")
    status=$(curl "${args[@]}" "$url$path")
    body=$(tr -d '\n' < "$work/out")
  fi
  echo "$status $body" | sed -E 's/"(cluster_id|member_id)":"[0-9]+"/"\1":"-"/g'
}

start real /usr/bin/etcd || exit 1
real=$url
start swift "$swift_bin" || exit 1
swift=$url
fail=0
check() { # TOOL PATH [JSON]
  local want got
  want=$(ask "$1" "$real" "$2" "${3:-}"); got=$(ask "$1" "$swift" "$2" "${3:-}")
  if [ "$want" = "$got" ]; then
    echo "ok   $1 $2: ${got:0:100}"
  else
    echo "FAIL $1 $2: got '$got', etcd answers '$want'"; fail=1
  fi
}
for tool in nghttp curl; do
  check "$tool" /v3/kv/put '{"key":"Zm9v","value":"YmFy"}'
  check "$tool" /v3/kv/range '{"key":"Zm9v"}'
  check "$tool" /v3/kv/range '{"key":'
  check "$tool" /v3/kv/nothing '{}'
  check "$tool" /health
done
exit $fail
