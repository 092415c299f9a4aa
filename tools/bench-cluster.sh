#!/usr/bin/env bash
# tools/bench-cluster.sh BIN_A [BIN_B]          (BIN_B default /usr/bin/etcd)
# Three-member A/B benchmark. Each of ROUNDS rounds (default 3) runs A then B (A B A B ...): a fresh
# three-member cluster of that binary on 127.0.0.1 (random ports below 32768, checked free; one data
# dir per member under a mktemp dir), bounded wait until every member is healthy, 1,000-put warm-up,
# fixture key foo (256 B), then the workloads below, then the cluster is stopped and its data deleted.
#
#   put-1c1cl          put, 1 connection / 1 client, 2,000 ops, to the leader
#   put-32c256cl       put, 32 connections / 256 clients, 40,000 ops, to the leader
#                      (256-byte values, sequential keys, key space 1,000,000)
#   range-l-32c256cl   linearizable range of foo, 32 / 256, 40,000 ops, connections over all members
#   range-s-32c256cl   serializable range of foo, likewise
#   txn-put-16c128cl   txn of 4 puts, 16 / 128, 10,000 txns, to the leader
#   lease-ka-8c64cl    lease keepalive (64 leases), 8 / 64, 20,000 ops, connections over all members
#   watch-100w-500ps   100 watchers of one key on 10 streams (over all members), 2,000 puts at
#                      500/s to the leader; p50/p99 = put sent -> event received
#
# Output: one JSON line per run in $OUT/results.jsonl (side A|B, round, workload, bin, plus the
# etcdbench fields and member_cpu_us_per_op: the CPU time (user+system, from /proc) the three
# members spent during the workload, per op), member logs and etcdbench stderr in
# $OUT/logs/<side><round>/, then a table: per workload the medians over rounds of qps, p50 and p99
# for A and B, the ratios A/B (qps, p99), the spread (max-min)/median of each side's qps and p99,
# the members' CPU per op of each side, and every run's qps.
#
# Env: ROUNDS (3), SCALE (1; multiplies every op count, e.g. SCALE=0.1 for a quick run),
#      OUT (default: a new /tmp/etcd-swift-bench-cluster.XXXXXX), WORKLOADS (names from the list
#      above, space-separated; default all), BENCH_TIMEOUT (60: seconds after which a workload
#      starts no new op; it is killed BENCH_TIMEOUT+60 s after start), HEALTH_TIMEOUT (30 s),
#      ETCDCTL (default etcdctl on PATH), GOCACHE (default /tmp/gocache),
#      SECURE (0; 1: clients over TLS (https listeners, a CA and a certificate for 127.0.0.1 made
#      by openssl for the run) and auth enabled (root user, simple tokens; each bench connection
#      authenticates once); default workloads then put-32c256cl range-s-32c256cl),
#      BREAKDOWN (0; 1: during put-1c1cl, tcpdump on loopback (needs root) captures the leader's
#      client port and the peer ports, and tools/put-breakdown.py prints where a put's latency
#      goes: leader to the wire, follower round trip, commit to answer; saved in the logs dir).
set -u
here=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
case $1 in -h|--help) usage;; esac

ALL_WORKLOADS="put-1c1cl put-32c256cl range-l-32c256cl range-s-32c256cl txn-put-16c128cl lease-ka-8c64cl watch-100w-500ps"
SECURE=${SECURE:-0}
BREAKDOWN=${BREAKDOWN:-0}
if [ "$SECURE" = 1 ]; then WORKLOADS=${WORKLOADS:-put-32c256cl range-s-32c256cl}; else WORKLOADS=${WORKLOADS:-$ALL_WORKLOADS}; fi
for w in $WORKLOADS; do
  case " $ALL_WORKLOADS " in *" $w "*) ;; *) echo "bench-cluster: unknown workload '$w' (known: $ALL_WORKLOADS)" >&2; exit 2;; esac
done
declare -A BIN
BIN[A]=$1; BIN[B]=${2:-/usr/bin/etcd}
for s in A B; do
  [ -f "${BIN[$s]}" ] && [ -x "${BIN[$s]}" ] || { echo "bench-cluster: $s: '${BIN[$s]}' is not an executable file" >&2; exit 2; }
  BIN[$s]=$(readlink -f "${BIN[$s]}")
done
ROUNDS=${ROUNDS:-3}; SCALE=${SCALE:-1}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-60}; HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-30}
case "$ROUNDS$BENCH_TIMEOUT$HEALTH_TIMEOUT" in *[!0-9]*) echo "bench-cluster: ROUNDS, BENCH_TIMEOUT, HEALTH_TIMEOUT must be integers" >&2; exit 2;; esac
awk -v s="$SCALE" 'BEGIN { exit !(s + 0 > 0) }' || { echo "bench-cluster: SCALE must be a positive number" >&2; exit 2; }
# Members and etcdctl must see only our flags: ETCD_* / ETCDCTL_* variables would conflict with them.
for v in $(compgen -e | grep -E '^ETCD(CTL)?_'); do unset "$v"; done
export ETCDCTL_API=3
ETCDCTL=${ETCDCTL:-$(command -v etcdctl || echo /usr/bin/etcdctl)}
for tool in "$ETCDCTL" go ss timeout python3 awk; do
  command -v "$tool" >/dev/null || { echo "bench-cluster: '$tool' not found" >&2; exit 2; }
done
[ "$BREAKDOWN" = 1 ] && ! command -v tcpdump >/dev/null && { echo "bench-cluster: BREAKDOWN=1 needs tcpdump" >&2; exit 2; }

OUT=${OUT:-$(mktemp -d /tmp/etcd-swift-bench-cluster.XXXXXX)}
mkdir -p "$OUT/logs" || exit 1
OUT=$(cd "$OUT" && pwd)
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
BENCH=$OUT/etcdbench
(cd "$here/bench" && GO111MODULE=off GOFLAGS= GOPATH="$here/bench:/usr/share/gocode" GOCACHE=${GOCACHE:-/tmp/gocache} \
   go build -o "$BENCH" etcdbench) || { echo "bench-cluster: cannot build etcdbench" >&2; exit 1; }
WORK=$(mktemp -d /tmp/etcd-bench-cluster-data.XXXXXX)

# --- SECURE=1: a CA and a server certificate for 127.0.0.1; etcdctl and etcdbench flags ----------
SCHEME=http; MEMBER_TLS=(); CTL_TLS=(); CTL_AUTH=(); BENCH_FLAGS=()
if [ "$SECURE" = 1 ]; then
  command -v openssl >/dev/null || { echo "bench-cluster: SECURE=1 needs openssl" >&2; exit 2; }
  certs=$OUT/certs; mkdir -p "$certs"
  ( cd "$certs" &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout ca.key -out ca.crt &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr &&
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > ext.cnf &&
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.crt
  ) > "$OUT/logs/certs.log" 2>&1 || { echo "bench-cluster: openssl failed (see $OUT/logs/certs.log)" >&2; exit 1; }
  SCHEME=https
  MEMBER_TLS=(--cert-file "$certs/server.crt" --key-file "$certs/server.key")
  CTL_TLS=(--cacert "$certs/ca.crt")
  CTL_AUTH=("${CTL_TLS[@]}" --user root:bench-root)
  BENCH_FLAGS=(-cacert "$certs/ca.crt" -user root:bench-root)
fi

# --- processes: every member PID is recorded with its kernel start time; only those are signalled --
declare -A PSTART=()
MPIDS=() # the current cluster's members, index 1..3
proc_fields() { # PID -> the fields of /proc/PID/stat after "(comm)" (state, ppid, ...); fails when gone
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  echo "${stat##*) }"
}
proc_start_time() { # PID -> start time in clock ticks; empty when gone or a zombie
  local f
  f=$(proc_fields "$1") || return 0
  set -- $f
  [ "$1" = Z ] || echo "${20}"
}
track() {
  local st="" k
  for k in 1 2 3 4 5 6 7 8 9 10; do st=$(proc_start_time "$1"); [ -n "$st" ] && break; sleep 0.01; done
  PSTART[$1]=${st:-gone}
  disown "$1" 2>/dev/null # no job notices when it is stopped; /proc is polled instead of wait
}
alive() { [ -n "${1:-}" ] && [ -n "${PSTART[$1]:-}" ] && [ "$(proc_start_time "$1")" = "${PSTART[$1]}" ]; }
wait_gone() { # SECONDS PID...: true once all have exited
  local end=$((SECONDS + $1)) p left; shift
  while :; do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ $left = 0 ] && return 0
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
}
stop_pids() { # PID...: SIGTERM, up to 10 s, then SIGKILL
  local p
  for p in "$@"; do alive "$p" && kill -TERM "$p" 2>/dev/null; done
  wait_gone 10 "$@" && return 0
  for p in "$@"; do alive "$p" && { echo "bench-cluster: pid $p still running 10 s after SIGTERM, sending SIGKILL" >&2; kill -KILL "$p" 2>/dev/null; }; done
  wait_gone 5 "$@"
}
cleanup() {
  trap '' INT TERM HUP # a second signal must not cut the cleanup short
  local p
  for p in "${!PSTART[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench-cluster: interrupted" >&2; exit 130' INT TERM HUP

# --- helpers ---------------------------------------------------------------------------------------
n() { awk -v t="$1" -v s="$SCALE" 'BEGIN { v = int(t * s); if (v < 1) v = 1; print v }'; }
ports_free() { local p; for p in "$@"; do ss -Htan "sport = :$p" 2>/dev/null | grep -q . && return 1; done; return 0; }
pick_ports() { # -> six free ports below 32768 (client, peer for m1, m2, m3)
  local try base
  for try in $(seq 1 200); do
    base=$((20000 + RANDOM % 12000))
    ports_free $(seq "$base" $((base + 5))) && { seq "$base" $((base + 5)) | paste -sd' '; return 0; }
  done
  return 1
}
member_alive_count() { local i c=0; for i in 1 2 3; do alive "${MPIDS[$i]:-}" && c=$((c + 1)); done; echo $c; }
log_tails() { local f; for f in "$1"/m*.log; do echo "----- tail -n 15 $f" >&2; tail -n 15 "$f" >&2; done; }
emit() { # JSON SIDE ROUND WORKLOAD ALIVE CPU_TICKS: one results line
  python3 -c 'import json,sys
d = json.loads(sys.argv[1])
d.update(side=sys.argv[2], round=int(sys.argv[3]), workload=sys.argv[4], bin=sys.argv[5], members_alive=int(sys.argv[6]))
ticks, hz = int(sys.argv[7]), int(sys.argv[8])
if ticks >= 0 and d.get("ops"): d["member_cpu_us_per_op"] = round(ticks * 1e6 / hz / d["ops"], 1)
print(json.dumps(d))' "$1" "$2" "$3" "$4" "${BIN[$2]}" "$5" "$6" "$CLK_TCK" >> "$RESULTS"
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
members_cpu_ticks() { # the user+system CPU the current members have used so far, in clock ticks; -1 if one is gone
  local i f sum=0
  for i in 1 2 3; do
    f=$(proc_fields "${MPIDS[$i]}") || { echo -1; return; }
    set -- $f
    sum=$((sum + ${12} + ${13}))
  done
  echo $sum
}
fail_row() { # SIDE ROUND WORKLOAD REASON
  python3 -c 'import json,sys; print(json.dumps(dict(side=sys.argv[1], round=int(sys.argv[2]), workload=sys.argv[3], bin=sys.argv[4], failed=sys.argv[5])))' \
    "$1" "$2" "$3" "${BIN[$1]}" "$4" >> "$RESULTS"
}
workload_args() { # NAME -> etcdbench arguments (endpoints and timeout added by the caller)
  case $1 in
    put-1c1cl)        echo "put -conns 1 -clients 1 -total $(n 2000) -val-size 256 -sequential-keys -key-space 1000000 -target-leader";;
    put-32c256cl)     echo "put -conns 32 -clients 256 -total $(n 40000) -val-size 256 -sequential-keys -key-space 1000000 -target-leader";;
    range-l-32c256cl) echo "range -conns 32 -clients 256 -total $(n 40000) -key foo";;
    range-s-32c256cl) echo "range -conns 32 -clients 256 -total $(n 40000) -key foo -serializable";;
    txn-put-16c128cl) echo "txn-put -conns 16 -clients 128 -total $(n 10000) -txn-ops 4 -val-size 256 -sequential-keys -key-space 1000000 -target-leader";;
    lease-ka-8c64cl)  echo "lease-keepalive -conns 8 -clients 64 -leases 64 -total $(n 20000)";;
    watch-100w-500ps) echo "watch -watchers 100 -streams 10 -total $(n 2000) -rate 500 -val-size 256 -target-leader";;
  esac
}

leader_endpoint() { # ENDPOINTS -> the client URL of the member that leads, or nothing
  timeout --foreground 10 "$ETCDCTL" --endpoints="$1" --dial-timeout=1s --command-timeout=3s "${CTL_AUTH[@]}" endpoint status -w json 2>/dev/null |
    python3 -c 'import json,sys
for s in json.load(sys.stdin):
    h = s["Status"]["header"]
    if h.get("member_id") == s["Status"].get("leader"): print(s["Endpoint"])' 2>/dev/null | head -n 1
}

# --- one cluster, one side, one round -------------------------------------------------------------
run_side() { # SIDE ROUND
  local side=$1 round=$2 bin=${BIN[$1]} t0=$SECONDS ports logs data i c p initial="" eps="" token
  logs=$OUT/logs/$side$round; data=$WORK/$side$round
  mkdir -p "$logs" "$data"
  if ! ports=$(pick_ports); then
    echo "bench-cluster: $side$round: no six free ports found" >&2
    for w in $WORKLOADS; do fail_row "$side" "$round" "$w" "no free ports"; done; return 1
  fi
  set -- $ports
  local cports=("" "$1" "$3" "$5") pports=("" "$2" "$4" "$6")
  for i in 1 2 3; do
    initial+="${initial:+,}m$i=http://127.0.0.1:${pports[$i]}"
    eps+="${eps:+,}$SCHEME://127.0.0.1:${cports[$i]}"
  done
  token=bench-$side$round-$1-$$
  MPIDS=()
  for i in 1 2 3; do
    "$bin" --name "m$i" --data-dir "$data/m$i.data" \
      --listen-client-urls "$SCHEME://127.0.0.1:${cports[$i]}" --advertise-client-urls "$SCHEME://127.0.0.1:${cports[$i]}" \
      "${MEMBER_TLS[@]}" \
      --listen-peer-urls "http://127.0.0.1:${pports[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pports[$i]}" \
      --initial-cluster "$initial" --initial-cluster-token "$token" --initial-cluster-state new \
      > "$logs/m$i.log" 2>&1 < /dev/null &
    MPIDS[$i]=$!
    track "${MPIDS[$i]}"
  done
  # Bounded wait until every member answers `endpoint health` (a quorum read: needs a leader).
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) ok=0 ep why=""
  while [ $SECONDS -lt $deadline ]; do
    [ "$(member_alive_count)" = 3 ] || { why="a member exited during startup"; break; }
    ok=1
    for ep in ${eps//,/ }; do
      timeout --foreground 5 "$ETCDCTL" --endpoints="$ep" --dial-timeout=1s --command-timeout=2s endpoint health "${CTL_TLS[@]}" >/dev/null 2>&1 || { ok=0; break; }
    done
    [ $ok = 1 ] && break
    sleep 0.2
  done
  if [ $ok != 1 ]; then
    echo "bench-cluster: $side$round: cluster not healthy (${why:-not within ${HEALTH_TIMEOUT}s}); logs in $logs" >&2
    log_tails "$logs"
    stop_pids "${MPIDS[@]:1}"; rm -rf "$data"
    for w in $WORKLOADS; do fail_row "$side" "$round" "$w" "cluster not healthy: ${why:-timeout}"; done
    return 1
  fi
  echo "bench-cluster: $side$round: cluster up in $((SECONDS - t0)) s ($eps)" >&2
  if [ "$SECURE" = 1 ]; then
    { timeout --foreground 20 "$ETCDCTL" --endpoints="$eps" "${CTL_TLS[@]}" user add root:bench-root &&
      timeout --foreground 20 "$ETCDCTL" --endpoints="$eps" "${CTL_TLS[@]}" auth enable; } > "$logs/auth.log" 2>&1 \
      || echo "bench-cluster: $side$round: enabling auth failed (see $logs/auth.log)" >&2
  fi
  # Warm-up (not recorded) and the fixture read by the range workloads.
  timeout --foreground 120 "$BENCH" put "${BENCH_FLAGS[@]}" -endpoints "$eps" -conns 4 -clients 16 -total 1000 -val-size 256 -key-space 1000 -timeout 60s \
    > /dev/null 2> "$logs/warmup.err" || echo "bench-cluster: $side$round: warm-up failed (see $logs/warmup.err)" >&2
  timeout --foreground 20 "$ETCDCTL" --endpoints="$eps" "${CTL_AUTH[@]}" --command-timeout=10s put foo "$(head -c 256 /dev/zero | tr '\0' v)" > /dev/null 2>&1 \
    || echo "bench-cluster: $side$round: fixture put of foo failed" >&2

  local name args res summary cap_pid lead lead_i cpu0 cpu1
  for name in $WORKLOADS; do
    args=$(workload_args "$name")
    cap_pid=""; lead_i=""
    if [ "$BREAKDOWN" = 1 ] && [ "$name" = put-1c1cl ]; then
      lead=$(leader_endpoint "$eps")
      for i in 1 2 3; do [ "$lead" = "$SCHEME://127.0.0.1:${cports[$i]}" ] && lead_i=$i; done
      if [ -n "$lead_i" ]; then
        timeout --foreground $((BENCH_TIMEOUT + 60)) tcpdump -l -i lo -nn -tt -c 8000 \
          "greater 60 and (port ${cports[$lead_i]} or port ${pports[1]} or port ${pports[2]} or port ${pports[3]})" \
          > "$logs/$name.capture" 2> /dev/null &
        cap_pid=$!
        sleep 1 # tcpdump attaches
      fi
    fi
    cpu0=$(members_cpu_ticks)
    # shellcheck disable=SC2086
    res=$(timeout --foreground -k 5 $((BENCH_TIMEOUT + 60)) "$BENCH" $args "${BENCH_FLAGS[@]}" -endpoints "$eps" -timeout "${BENCH_TIMEOUT}s" 2> "$logs/$name.err" | tail -n 1)
    if python3 -c 'import json,sys; json.loads(sys.argv[1])["qps"]' "$res" 2>/dev/null; then
      cpu1=$(members_cpu_ticks)
      emit "$res" "$side" "$round" "$name" "$(member_alive_count)" "$([ "$cpu0" -ge 0 ] && [ "$cpu1" -ge 0 ] && echo $((cpu1 - cpu0)) || echo -1)"
      summary=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1])
print("qps=%.0f p50=%.2fms p99=%.2fms ops=%d errors=%d%s" % (d["qps"], d["p50_ms"], d["p99_ms"], d["ops"], d["errors"], " TIMED OUT" if d.get("timed_out") else ""))' "$res")
      printf 'bench-cluster:   %s%s %-17s %s\n' "$side" "$round" "$name" "$summary" >&2
    else
      echo "bench-cluster: $side$round: $name failed: $(tail -n 2 "$logs/$name.err" | tr '\n' ' ')" >&2
      fail_row "$side" "$round" "$name" "etcdbench failed: $(tail -n 1 "$logs/$name.err")"
    fi
    if [ -n "$cap_pid" ]; then
      kill -TERM "$cap_pid" 2>/dev/null; wait "$cap_pid" 2>/dev/null
      python3 "$here/put-breakdown.py" "$logs/$name.capture" "${cports[$lead_i]}" "${pports[$lead_i]}" "${pports[1]}" "${pports[2]}" "${pports[3]}" \
        > "$logs/$name.breakdown" 2>&1
      sed "s/^ */bench-cluster:     $side$round /" "$logs/$name.breakdown" >&2
    fi
    [ "$(member_alive_count)" = 3 ] || echo "bench-cluster: $side$round: only $(member_alive_count) of 3 members alive after $name" >&2
  done

  # Stop: followers first, then the leader (a leader stopped last has nobody to hand over to).
  local lead=""
  lead=$(leader_endpoint "$eps")
  local followers=() leader_pid=""
  for i in 1 2 3; do
    if [ "$lead" = "$SCHEME://127.0.0.1:${cports[$i]}" ]; then leader_pid=${MPIDS[$i]}; else followers+=("${MPIDS[$i]}"); fi
  done
  stop_pids "${followers[@]}"
  [ -n "$leader_pid" ] && stop_pids "$leader_pid"
  rm -rf "$data"
  MPIDS=()
  echo "bench-cluster: $side$round: done in $((SECONDS - t0)) s" >&2
}

echo "bench-cluster: A=${BIN[A]} B=${BIN[B]} rounds=$ROUNDS scale=$SCALE out=$OUT" >&2
T0=$SECONDS
for r in $(seq 1 "$ROUNDS"); do
  echo "bench-cluster: round $r/$ROUNDS" >&2
  run_side A "$r"
  run_side B "$r"
done
echo "bench-cluster: total $((SECONDS - T0)) s" >&2

python3 - "$RESULTS" "${BIN[A]}" "${BIN[B]}" "$ROUNDS" "$SCALE" "$WORKLOADS" <<'PY'
import json, math, statistics, sys
path, bin_a, bin_b, rounds, scale, workloads = sys.argv[1:7]
rows = [json.loads(l) for l in open(path) if l.strip()]
def vals(wl, side, key):
    return [r[key] for r in sorted(rows, key=lambda r: r["round"])
            if r["workload"] == wl and r["side"] == side and key in r and "failed" not in r]
def med(v): return statistics.median(v) if v else math.nan
def spread(v):
    m = med(v)
    return (max(v) - min(v)) / m if v and m else math.nan
def ratio(a, b): return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan
def pct(x): return "    -" if math.isnan(x) else f"{100 * x:4.0f}%"
print(f"A = {bin_a}\nB = {bin_b}")
print(f"three-member clusters, rounds={rounds}, scale={scale}; medians over rounds; ratios A/B "
      f"(qps > 1 or p99 < 1: A better); spread = (max-min)/median over one side's rounds")
hdr = (f"{'workload':17} {'A qps':>8} {'B qps':>8} {'qps A/B':>7} {'A p50ms':>8} {'B p50ms':>8} {'A p99ms':>8} "
       f"{'B p99ms':>8} {'p99 A/B':>7} {'qps spread A/B':>14} {'p99 spread A/B':>14}")
print(hdr); print("-" * len(hdr))
for wl in workloads.split():
    qa, qb = vals(wl, "A", "qps"), vals(wl, "B", "qps")
    if not qa and not qb: continue
    a50, b50 = med(vals(wl, "A", "p50_ms")), med(vals(wl, "B", "p50_ms"))
    pa, pb = vals(wl, "A", "p99_ms"), vals(wl, "B", "p99_ms")
    print(f"{wl:17} {med(qa):8.0f} {med(qb):8.0f} {ratio(med(qa), med(qb)):7.2f} {a50:8.2f} {b50:8.2f} {med(pa):8.2f} "
          f"{med(pb):8.2f} {ratio(med(pa), med(pb)):7.2f} {pct(spread(qa)):>6} / {pct(spread(qb))} {pct(spread(pa)):>6} / {pct(spread(pb))}")
if vals("watch-100w-500ps", "A", "put_rate") or vals("watch-100w-500ps", "B", "put_rate"):
    print("watch-100w-500ps: qps = events delivered per second; p50/p99 = put sent -> event received; "
          "puts/s achieved (of 500) A %.0f B %.0f, put p99 ms A %.2f B %.2f" % (
          med(vals("watch-100w-500ps", "A", "put_rate")), med(vals("watch-100w-500ps", "B", "put_rate")),
          med(vals("watch-100w-500ps", "A", "put_p99_ms")), med(vals("watch-100w-500ps", "B", "put_p99_ms"))))
if any("member_cpu_us_per_op" in r for r in rows):
    print()
    print("CPU of the three members per op (user+system, us; medians over rounds; A/B < 1: A cheaper):")
    for wl in workloads.split():
        ca, cb = med(vals(wl, "A", "member_cpu_us_per_op")), med(vals(wl, "B", "member_cpu_us_per_op"))
        if math.isnan(ca) and math.isnan(cb): continue
        print(f"  {wl:17} A {ca:8.1f}  B {cb:8.1f}  A/B {ratio(ca, cb):5.2f}")
print()
print("qps of every run, rounds in order:")
for wl in workloads.split():
    fa = lambda s: " ".join(f"{x:.0f}" for x in vals(wl, s, "qps")) or "-"
    print(f"  {wl:17} A: {fa('A'):30} B: {fa('B')}")
bad = []
for r in rows:
    tag = f"{r['side']}{r['round']} {r['workload']}"
    if "failed" in r: bad.append(f"{tag}: {r['failed']}"); continue
    if r.get("errors"): bad.append(f"{tag}: {r['errors']} errors" + (f" (first: {r['first_error']})" if r.get("first_error") else ""))
    if r.get("timed_out"): bad.append(f"{tag}: timed out before all ops were issued ({r['ops']} done)")
    if "expected_events" in r and r["ops"] < r["expected_events"]: bad.append(f"{tag}: {r['ops']} of {r['expected_events']} watch events arrived")
    if "target_put_rate" in r and r["put_rate"] < 0.9 * r["target_put_rate"]:
        bad.append(f"{tag}: putter reached {r['put_rate']:.0f} of {r['target_put_rate']} puts/s (put p50 {r['put_p50_ms']} ms): lower offered load")
    if r.get("members_alive", 3) < 3: bad.append(f"{tag}: only {r['members_alive']} of 3 members alive after the run")
if bad:
    print("\nWARNING:")
    for b in bad: print("  " + b)
PY
echo "bench-cluster: raw results in $RESULTS, logs in $OUT/logs" >&2
