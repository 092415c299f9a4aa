#!/usr/bin/env bash
# tools/bench-gateway.sh BIN_A [BIN_B]          (BIN_B default /usr/bin/etcd)
# JSON gateway A/B benchmark with h2load over HTTP/1.1 (etcd 3.4 serves the gateway over HTTP/1.1 on a
# plain client port; it does not answer h2c). Each of ROUNDS rounds (default 3) runs A then B
# (A B A B ...): a fresh one-member server of that binary on 127.0.0.1 (random free ports below
# 32768), a bounded wait until it is healthy, a warm-up, then the workloads below, then the member
# is stopped (by PID) and its data deleted.
#
#   put     POST /v3/kv/put   {"key":"Zm9v","value":<256 bytes>}, CLIENTS connections, REQUESTS requests
#   range   POST /v3/kv/range {"key":"Zm9v"} (linearizable), likewise
#
# Output: one line per run in $OUT/results.tsv (side round workload req/s mean-latency-ms non-2xx),
# member logs and h2load output in $OUT/logs/, then a table per workload: medians over rounds of
# req/s and mean latency for A and B, the ratio A/B of req/s, the spread (max-min)/median of each
# side's req/s, and every run's req/s. Every request must answer 2xx, or the run is marked failed.
#
# Env: ROUNDS (3), REQUESTS (20000), CLIENTS (32), OUT (default: a new /tmp/etcd-swift-bench-gateway.XXXXXX),
#      HEALTH_TIMEOUT (30 s), RUN_TIMEOUT (120 s per h2load run). A smoke run:
#      ROUNDS=1 REQUESTS=500 CLIENTS=4 tools/bench-gateway.sh .build/debug/etcd-swift
set -u
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case $1 in -h|--help) usage;; esac
declare -A BIN
BIN[A]=$1; BIN[B]=${2:-/usr/bin/etcd}
for s in A B; do
  [ -f "${BIN[$s]}" ] && [ -x "${BIN[$s]}" ] || { echo "bench-gateway: $s: '${BIN[$s]}' is not an executable file" >&2; exit 2; }
  BIN[$s]=$(readlink -f "${BIN[$s]}")
done
ROUNDS=${ROUNDS:-3}; REQUESTS=${REQUESTS:-20000}; CLIENTS=${CLIENTS:-32}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-30}; RUN_TIMEOUT=${RUN_TIMEOUT:-120}
case "$ROUNDS$REQUESTS$CLIENTS$HEALTH_TIMEOUT$RUN_TIMEOUT" in
  *[!0-9]*) echo "bench-gateway: ROUNDS, REQUESTS, CLIENTS, HEALTH_TIMEOUT, RUN_TIMEOUT must be integers" >&2; exit 2;;
esac
[ "$CLIENTS" -ge 1 ] && [ "$REQUESTS" -ge "$CLIENTS" ] || { echo "bench-gateway: need 1 <= CLIENTS <= REQUESTS" >&2; exit 2; }
for v in $(compgen -e | grep -E '^ETCD(CTL)?_'); do unset "$v"; done

# h2load comes with nghttp2-client (as tools/install-deps.sh installs it).
if ! command -v h2load >/dev/null; then
  echo "bench-gateway: installing nghttp2-client (h2load)" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nghttp2-client >&2
  command -v h2load >/dev/null || { echo "bench-gateway: h2load not available" >&2; exit 2; }
fi
for tool in curl ss timeout python3; do command -v "$tool" >/dev/null || { echo "bench-gateway: '$tool' not found" >&2; exit 2; }; done

OUT=${OUT:-$(mktemp -d /tmp/etcd-swift-bench-gateway.XXXXXX)}
mkdir -p "$OUT/logs" || exit 1
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.tsv
: > "$RESULTS"
WORK=$(mktemp -d /tmp/etcd-bench-gateway-data.XXXXXX)
value=$(head -c 256 /dev/zero | tr '\0' v | base64 -w0)
printf '{"key":"Zm9v","value":"%s"}' "$value" > "$WORK/put.json"
printf '{"key":"Zm9v"}' > "$WORK/range.json"

MEMBER=""
cleanup() { [ -n "$MEMBER" ] && kill -KILL "$MEMBER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'echo "bench-gateway: interrupted" >&2; exit 130' INT TERM HUP

ports_free() { local p; for p in "$@"; do ss -Htan "sport = :$p" 2>/dev/null | grep -q . && return 1; done; return 0; }
pick_ports() { local base; for _ in $(seq 1 200); do base=$((20000 + RANDOM % 12000)); ports_free "$base" $((base + 1)) && { echo "$base $((base + 1))"; return 0; }; done; return 1; }
stop_member() { # TERM, up to 10 s, then KILL; only the PID we started
  [ -n "$MEMBER" ] || return 0
  kill -TERM "$MEMBER" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$MEMBER" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$MEMBER" 2>/dev/null; wait "$MEMBER" 2>/dev/null; MEMBER=""
}

# h2load's summary -> "req/s mean-ms non-2xx" (mean latency from "time for request", any unit).
parse() {
  python3 - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
rps = re.search(r"finished in [^,]+, ([0-9.]+) req/s", text)
done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done", text)
codes = re.search(r"status codes: (\d+) 2xx", text)
lat = re.search(r"time for request:\s+\S+\s+\S+\s+([0-9.]+)(us|ms|s)\b", text)
if not (rps and done and codes and lat):
    print("fail fail fail"); sys.exit()
mean = float(lat.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[lat.group(2)]
print(f"{float(rps.group(1)):.1f} {mean:.3f} {int(done.group(1)) - int(codes.group(1))}")
EOF
}

run_side() { # SIDE ROUND
  local side=$1 round=$2 logs=$OUT/logs/$1$2 data=$WORK/$1$2 ports c p url w res
  mkdir -p "$logs"
  ports=$(pick_ports) || { echo "bench-gateway: $side$round: no free ports" >&2; return 1; }
  set -- $ports; c=$1; p=$2; url=http://127.0.0.1:$c
  "${BIN[$side]}" --name m --data-dir "$data" --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "m=http://127.0.0.1:$p" > "$logs/member.log" 2>&1 < /dev/null &
  MEMBER=$!
  local deadline=$((SECONDS + HEALTH_TIMEOUT))
  until curl -sf -m 2 "$url/health" | grep -q '"health":"true"'; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$MEMBER" 2>/dev/null; then
      echo "bench-gateway: $side$round: not healthy; tail of $logs/member.log:" >&2; tail -n 15 "$logs/member.log" >&2
      stop_member; rm -rf "$data"; return 1
    fi
    sleep 0.2
  done
  # Warm-up, not recorded; it also writes the key the range reads.
  timeout -k 5 "$RUN_TIMEOUT" h2load --h1 -n $((REQUESTS / 10 + CLIENTS)) -c "$CLIENTS" -d "$WORK/put.json" \
    -H 'content-type: application/json' "$url/v3/kv/put" > "$logs/warmup.txt" 2>&1
  for w in put range; do
    timeout -k 5 "$RUN_TIMEOUT" h2load --h1 -n "$REQUESTS" -c "$CLIENTS" -d "$WORK/$w.json" \
      -H 'content-type: application/json' "$url/v3/kv/$w" > "$logs/$w.txt" 2>&1
    res=$(parse "$logs/$w.txt")
    printf '%s\t%s\t%s\t%s\n' "$side" "$round" "$w" "${res// /$'\t'}" >> "$RESULTS"
    echo "bench-gateway: $side$round $w: $res (req/s mean-ms non-2xx)" >&2
  done
  stop_member; rm -rf "$data"
}

echo "bench-gateway: A=${BIN[A]} B=${BIN[B]} rounds=$ROUNDS requests=$REQUESTS clients=$CLIENTS out=$OUT" >&2
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do run_side "$side" "$round"; done
done

python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
def good(r): return r[3] != "fail" and r[5] == "0"
print(f"{'workload':<8} {'A req/s':>9} {'B req/s':>9} {'A/B':>6} {'A ms':>7} {'B ms':>7} {'A spread':>9} {'B spread':>9}  runs (A | B)")
for w in ("put", "range"):
    side = {s: [r for r in rows if r[0] == s and r[2] == w] for s in "AB"}
    ok = {s: [float(r[3]) for r in side[s] if good(r)] for s in "AB"}
    ms = {s: [float(r[4]) for r in side[s] if good(r)] for s in "AB"}
    med = {s: statistics.median(ok[s]) if ok[s] else float("nan") for s in "AB"}
    lat = {s: statistics.median(ms[s]) if ms[s] else float("nan") for s in "AB"}
    spread = {s: (max(ok[s]) - min(ok[s])) / med[s] if len(ok[s]) > 1 else 0.0 for s in "AB"}
    runs = {s: " ".join(r[3] if good(r) else "failed" for r in side[s]) for s in "AB"}
    ratio = med["A"] / med["B"] if ok["A"] and ok["B"] else float("nan")
    print(f"{w:<8} {med['A']:>9.0f} {med['B']:>9.0f} {ratio:>6.2f} {lat['A']:>7.2f} {lat['B']:>7.2f} "
          f"{spread['A']:>8.0%} {spread['B']:>8.0%}  {runs['A']} | {runs['B']}")
failed = sum(not good(r) for r in rows)
sys.exit(1 if failed or not rows else 0)
EOF
