#!/usr/bin/env bash
# tools/metrics-check.sh ETCD_SWIFT_BINARY
# Starts etcd-swift and real etcd 3.4 (each with --listen-metrics-urls), runs the same few etcdctl
# operations against both, scrapes /metrics from the client port and the metrics listener, and
# compares the pages with tools/metrics-check.py (names, types and labels of the metrics that
# dashboards and alerts use), and the peer metrics of two three-member clusters one member of which
# was stopped. Also checks the metrics listener serves /health and nothing else.
# Exit status 0 only when everything matched.
set -u
here=$(cd "$(dirname "$0")" && pwd)
swift_bin=$(readlink -f "$1")
work=$(mktemp -d /tmp/etcd-swift-metrics.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail=0

start() { # NAME BINARY -> $endpoint, $metrics
  local name=$1 bin=$2 c p m
  c=$(free_port); p=$(free_port); m=$(free_port)
  "$bin" --name member --data-dir "$work/$name.data" --metrics basic \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "member=http://127.0.0.1:$p" --listen-metrics-urls "http://127.0.0.1:$m" \
    >"$work/$name.log" 2>&1 &
  pids+=("$!")
  endpoint="127.0.0.1:$c"; metrics="127.0.0.1:$m"
  for _ in $(seq 1 100); do
    etcdctl --endpoints "$endpoint" --dial-timeout 1s endpoint health >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "could not start $name"; tail -n 20 "$work/$name.log"; return 1
}

operations() { # ENDPOINT
  local e=(etcdctl --endpoints "$1")
  for i in 1 2 3 4 5; do "${e[@]}" put "k$i" "v$i" >/dev/null; done
  "${e[@]}" get k1 >/dev/null
  "${e[@]}" get k --prefix >/dev/null
  "${e[@]}" del k5 >/dev/null
  "${e[@]}" txn <<<$'value("k1") = "v1"\n\nput k6 v6\nget k2\n\n' >/dev/null
  "${e[@]}" put k1 again >/dev/null
  rev=$("${e[@]}" get k1 -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
  "${e[@]}" compaction "$rev" >/dev/null
  "${e[@]}" get nothing-here --rev 1 >/dev/null 2>&1  # a failed call: a non-OK grpc_code
}

start real /usr/bin/etcd || exit 1
real_ep=$endpoint real_metrics=$metrics
start swift "$swift_bin" || exit 1
swift_ep=$endpoint swift_metrics=$metrics
operations "$real_ep"; operations "$swift_ep"
curl -s "http://$real_ep/metrics" > "$work/real.txt"
curl -s "http://$swift_ep/metrics" > "$work/swift.txt"
/usr/bin/python3 "$here/metrics-check.py" "$work/real.txt" "$work/swift.txt" || fail=1

# The --listen-metrics-urls listener: the same page, /health, and 404 elsewhere.
curl -s "http://$swift_metrics/metrics" > "$work/swift-listener.txt"
/usr/bin/python3 "$here/metrics-check.py" "$work/real.txt" "$work/swift-listener.txt" > "$work/listener.out" ||
  { echo "metrics listener page:"; cat "$work/listener.out"; fail=1; }
for path in /health /version /v3/kv/range; do
  want=$(curl -s -o /dev/null -w '%{http_code} ' "http://$real_metrics$path"; curl -s "http://$real_metrics$path")
  got=$(curl -s -o /dev/null -w '%{http_code} ' "http://$swift_metrics$path"; curl -s "http://$swift_metrics$path")
  [ "$want" = "$got" ] || { echo "metrics listener $path: got '$got', etcd answers '$want'"; fail=1; }
done

# Counts that follow the operations exactly (the same on both): puts and deletes.
for name in etcd_mvcc_put_total etcd_mvcc_delete_total; do
  r=$(grep "^$name " "$work/real.txt" | awk '{print $2+0}'); s=$(grep "^$name " "$work/swift.txt" | awk '{print $2+0}')
  [ "$r" = "$s" ] || { echo "$name: $s, etcd counts $r"; fail=1; }
done

# Peer metrics: a three-member cluster of each, probed for a while (the first round-trip
# observation comes 5 s after a peer is added), then one member stopped so that send failures
# and disconnections show. The leader's page is compared and a follower is stopped: only a leader
# keeps sending to every member (a follower's page may show no send failure at all).
cluster() { # NAME BINARY -> $endpoint (the leader's client URL), $victim (a follower's PID)
  local name=$1 bin=$2 i c p initial="" cs=() ps=() mpids=() lead=""
  for i in 0 1 2; do cs+=("$(free_port)"); ps+=("$(free_port)"); done
  for i in 0 1 2; do initial+="${initial:+,}$name$i=http://127.0.0.1:${ps[$i]}"; done
  for i in 0 1 2; do
    c=${cs[$i]} p=${ps[$i]}
    "$bin" --name "$name$i" --data-dir "$work/$name$i.data" \
      --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
      --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
      --initial-cluster "$initial" --initial-cluster-token "$name-$$" >"$work/$name$i.log" 2>&1 &
    pids+=("$!")
    mpids+=("$!")
  done
  for _ in $(seq 1 150); do
    for i in 0 1 2; do
      etcdctl --endpoints "127.0.0.1:${cs[$i]}" --dial-timeout 1s endpoint status 2>/dev/null | grep -q ', true, ' && lead=$i
    done
    if [ -n "$lead" ]; then
      endpoint="127.0.0.1:${cs[$lead]}"
      victim=${mpids[$(( (lead + 1) % 3 ))]}
      etcdctl --endpoints "$endpoint" --dial-timeout 1s endpoint health >/dev/null 2>&1 && return 0
    fi
    sleep 0.2
  done
  echo "could not start the $name cluster"; tail -n 20 "$work/${name}0.log"; return 1
}
cluster real /usr/bin/etcd || exit 1
real_ep=$endpoint real_victim=$victim
cluster swift "$swift_bin" || exit 1
swift_ep=$endpoint swift_victim=$victim
operations "$real_ep"; operations "$swift_ep"
sleep 6
kill "$real_victim" "$swift_victim"
sleep 3
curl -s "http://$real_ep/metrics" > "$work/real-peers.txt"
curl -s "http://$swift_ep/metrics" > "$work/swift-peers.txt"
/usr/bin/python3 "$here/metrics-check.py" --peers "$work/real-peers.txt" "$work/swift-peers.txt" || fail=1
exit $fail
