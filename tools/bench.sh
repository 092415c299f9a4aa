#!/usr/bin/env bash
# tools/bench.sh ETCD_SWIFT_BINARY [ETCD_BINARY]
# Single-member etcd-swift against single-member etcd (default /usr/bin/etcd) in one run, ROUNDS
# rounds (default 3) alternating A B A B on fresh data directories under /tmp, loopback only.
# Workloads: put 1 client; put 256 clients over 32 connections (256-byte values); serializable
# range of one key, 256 clients / 32 connections; RSS after 100,000 puts; 1,000 watchers on one key
# while 500 puts/s run (event latency); 10,000 leases kept alive (server CPU seconds and RSS).
# WORKLOADS=kv or WORKLOADS=watch-lease runs one half (default: both).
# Prints per-run JSON lines to $OUT/results.jsonl and a table: medians, ratio swift/etcd, spread.
# SCALE (default 1) multiplies every operation count, for a quick run use SCALE=0.1.
set -u
here=$(cd "$(dirname "$0")" && pwd)
swift_bin=$(readlink -f "$1"); etcd_bin=$(readlink -f "${2:-/usr/bin/etcd}")
rounds=${ROUNDS:-3}; scale=${SCALE:-1}
out=${OUT:-$(mktemp -d /tmp/etcd-swift-bench.XXXXXX)}
bench=$out/etcdbench
(cd "$here/bench" && GO111MODULE=off GOFLAGS= GOPATH="$here/bench:/usr/share/gocode" GOCACHE=${GOCACHE:-/tmp/gocache} \
   go build -o "$bench" etcdbench) || { echo "bench: cannot build etcdbench" >&2; exit 1; }
n() { python3 -c "print(max(1, int($1 * $scale)))"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; true' EXIT

run_side() { # LABEL BINARY ROUND
  local label=$1 bin=$2 round=$3 cport pport dir
  cport=$(free_port); pport=$(free_port); dir=$(mktemp -d /tmp/bench-data.XXXXXX)
  "$bin" --name b --data-dir "$dir/data" --listen-client-urls "http://127.0.0.1:$cport" \
    --advertise-client-urls "http://127.0.0.1:$cport" --listen-peer-urls "http://127.0.0.1:$pport" \
    --initial-advertise-peer-urls "http://127.0.0.1:$pport" --initial-cluster "b=http://127.0.0.1:$pport" \
    > "$out/$label-$round.log" 2>&1 &
  pid=$!
  local ep=127.0.0.1:$cport
  for _ in $(seq 1 100); do etcdctl --endpoints "$ep" endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
  etcdctl --endpoints "$ep" put foo "$(head -c 256 /dev/zero | tr '\0' x)" >/dev/null
  emit() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(side=sys.argv[2], round=int(sys.argv[3]), workload=sys.argv[4]); print(json.dumps(d))' "$1" "$label" "$round" "$2" >> "$out/results.jsonl"; }
  cpu() { awk '{print ($14 + $15) / 100}' "/proc/$pid/stat"; }
  rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
  if [ "${WORKLOADS:-all}" != kv ]; then
    local c0 c1 r
    c0=$(cpu)
    r=$("$bench" watch -endpoint "$ep" -watchers 1000 -streams 10 -total "$(n 2500)" -rate 500)
    c1=$(cpu)
    emit "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(cpu_s=float(sys.argv[2]), rss_kb=int(sys.argv[3])); print(json.dumps(d))' "$r" "$(python3 -c "print($c1 - $c0)")" "$(rss)")" watch-1000w-500ps
    c0=$(cpu)
    r=$("$bench" lease-keepalive -endpoint "$ep" -leases 10000 -conns 8 -clients 64 -total "$(n 100000)")
    c1=$(cpu)
    emit "$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(cpu_s=float(sys.argv[2]), rss_kb=int(sys.argv[3])); print(json.dumps(d))' "$r" "$(python3 -c "print($c1 - $c0)")" "$(rss)")" lease-ka-10k
  fi
  if [ "${WORKLOADS:-all}" = watch-lease ]; then kill "$pid"; wait "$pid" 2>/dev/null; pid=""; rm -rf "$dir"; return; fi
  emit "$("$bench" put -endpoint "$ep" -conns 1 -clients 1 -total "$(n 2000)")" put-1c
  emit "$("$bench" put -endpoint "$ep" -conns 32 -clients 256 -total "$(n 40000)")" put-32c256cl
  emit "$("$bench" range -endpoint "$ep" -conns 32 -clients 256 -total "$(n 40000)" -serializable)" range-s-32c256cl
  "$bench" put -endpoint "$ep" -conns 32 -clients 256 -total "$(n 100000)" -key-space 100000 > /dev/null
  local rss; rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  echo "{\"side\":\"$label\",\"round\":$round,\"workload\":\"rss-after-100k-puts\",\"rss_kb\":$rss}" >> "$out/results.jsonl"
  kill "$pid"; wait "$pid" 2>/dev/null; pid=""
  rm -rf "$dir"
}

for r in $(seq 1 "$rounds"); do
  echo "bench: round $r/$rounds" >&2
  run_side swift "$swift_bin" "$r"
  run_side etcd "$etcd_bin" "$r"
done

python3 - "$out/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(side, wl, key):
    v = [r[key] for r in rows if r["side"] == side and r["workload"] == wl and key in r]
    return (statistics.median(v), v) if v else (None, [])
print(f"{'workload':22} {'metric':7} {'etcd-swift':>11} {'etcd':>11} {'ratio':>7}  spread swift / etcd   runs swift | etcd")
for wl, keys in [("put-1c", ["qps", "p50_ms", "p99_ms"]), ("put-32c256cl", ["qps", "p50_ms", "p99_ms"]),
                 ("range-s-32c256cl", ["qps", "p50_ms", "p99_ms"]), ("rss-after-100k-puts", ["rss_kb"]),
                 ("watch-1000w-500ps", ["p50_ms", "p99_ms", "cpu_s", "rss_kb", "ops"]),
                 ("lease-ka-10k", ["qps", "p99_ms", "cpu_s", "rss_kb"])]:
    for k in keys:
        (a, av), (b, bv) = med("swift", wl, k), med("etcd", wl, k)
        if a is None or b is None: continue
        spread = lambda v, m: (max(v) - min(v)) / m if m else 0
        print(f"{wl:22} {k:7} {a:11.1f} {b:11.1f} {a / b if b else 0:7.2f}  {spread(av, a):5.0%} / {spread(bv, b):5.0%}"
              f"   {' '.join(f'{x:.0f}' for x in av)} | {' '.join(f'{x:.0f}' for x in bv)}")
PY
echo "bench: raw results in $out/results.jsonl" >&2
