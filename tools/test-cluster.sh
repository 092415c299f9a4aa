#!/usr/bin/env bash
# tools/test-cluster.sh BIN                 # the same binary for all three members
# tools/test-cluster.sh BIN1 BIN2 BIN3      # one binary per member (a mixed cluster), also BIN1,BIN2,BIN3
#
# Three-member cluster scenarios, each on a fresh cluster (new ports, wiped data dirs), with etcd 3.4
# flags, on 127.0.0.1 only, ports below 32768 checked free. Prints "ok NAME" or "FAIL NAME: reason"
# per scenario (member log tails after a failure), then "N passed, M failed"; exit status 0 only
# when all passed.
#
#   walkthrough                member list / health / status on every endpoint, reads on other
#                              members (linearizable and serializable), watch, lease through
#                              followers, lock, elect, hashkv; every member's log says it
#                              fast-forwarded its election ticks once both peers were connected
#   kill-leader                16 writers, SIGKILL the leader, gap until writes succeed, every
#                              acknowledged put reads back, restarted member catches up, hashkv
#   follower-restart-snapshot  --snapshot-count 1000, stop a follower, 10,000 puts, restart it: it
#                              catches up from a snapshot (its log says it received and applied
#                              one) and serves every key serializably; in a mixed cluster twice,
#                              so snapshots cross kinds both ways (move-leader picks the leader)
#   isolated-member            peer traffic through a proxy (clustercheck proxy); a follower cut off
#                              serves serializable reads, fails linearizable reads and puts, rejoins
#   isolated-prevote           --pre-vote, the proxy cuts m1 off for 3 s: on healing the leader and
#                              its term are unchanged
#   sigterm-leader             SIGTERM the leader: time to a new leader, writes go on
#   member-replace             16 writers; each member in turn removed (it exits), wiped, added
#                              back and started `existing` (all with --pre-vote): no write gap of
#                              5 s, every acknowledged put reads back on all three, hashkv equal
#   members-api                the Cluster API through clientv3 (clustercheck member) on a
#                              follower: etcd's errors, MemberAdd + MemberRemove of a voter never
#                              started, MemberAddAsLearner, the learner started `existing`,
#                              MemberPromote (forwarded to the leader), MemberUpdate, MemberRemove
#   corrupt-check              m1 (an etcd-swift member) stopped, its backend corrupted as etcd's
#                              e2e corruptHash does (CORRUPT_DB, default corrupt-db next to m1's
#                              binary), restarted with --experimental-initial-corrupt-check: it
#                              refuses to start; restarted without: the leader's periodic check
#                              (--experimental-corrupt-check-time 1s) raises CORRUPT, seen on all
#                              three, puts fail; m1 stopped, `alarm disarm` through another member
#   force-new-cluster          20 keys written, all three stopped, m1 restarted with
#                              --force-new-cluster: it alone is the cluster (member list of one,
#                              it leads, every key reads back, puts work, its log says it forced
#                              the restart); restarted once more without the flag, it stays so
#   rolling-migration          three real etcd 3.4 members (MIGRATE_FROM, default /usr/bin/etcd) and
#                              16 writers; one member at a time (a follower, the leader, the last
#                              one) gets SIGTERM and is started in place with its binary (the same
#                              flags and data dir, which it imports): healthy, caught up, hashkv
#                              equal with the others; no write gap of 5 s, every acknowledged put
#                              reads back on all three, hashkv equal at the end
#   rolling-migration-kill     the same with SIGKILL instead of SIGTERM
#
# Env: SCENARIOS="walkthrough kill-leader" (default: all, in the order above), ETCDCTL (default
# etcdctl on PATH), BASEPORT (first port to use; default: random free ports in 20000-31999),
# KEEP_WORK=1 (keep the work dir after a passing run; it is always kept after a failure),
# PEER_TLS=1 (peer URLs are https: openssl makes a CA and a member certificate for 127.0.0.1 in the
# work dir, and every member runs with --peer-cert-file, --peer-key-file, --peer-trusted-ca-file
# and --peer-client-cert-auth), MIGRATE_FROM (the binary the rolling-migration scenarios start
# with; default /usr/bin/etcd).
set -u
here=$(cd "$(dirname "$0")" && pwd)
ALL_SCENARIOS="walkthrough kill-leader follower-restart-snapshot isolated-member isolated-prevote sigterm-leader member-replace members-api corrupt-check force-new-cluster rolling-migration rolling-migration-kill"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}

usage() { sed -n '2,49p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# --- arguments -----------------------------------------------------------------------------------
case $# in
  1) IFS=, read -r -a BINS <<<"$1" ;;
  3) BINS=("$1" "$2" "$3") ;;
  *) usage ;;
esac
[ ${#BINS[@]} -eq 1 ] && BINS=("${BINS[0]}" "${BINS[0]}" "${BINS[0]}")
[ ${#BINS[@]} -eq 3 ] || usage
declare -a MBIN
for i in 1 2 3; do
  b=${BINS[$((i - 1))]}
  [ -x "$b" ] && [ -f "$b" ] || { echo "test-cluster.sh: '$b' is not an executable file" >&2; exit 2; }
  MBIN[$i]=$(readlink -f "$b")
done
for s in $SCENARIOS; do
  case " $ALL_SCENARIOS " in *" $s "*) ;; *) echo "test-cluster.sh: unknown scenario '$s' (known: $ALL_SCENARIOS)" >&2; exit 2;; esac
done
# Members and etcdctl must see only our flags: ETCD_* / ETCDCTL_* variables would conflict with them.
for v in $(compgen -e | grep -E '^ETCD(CTL)?_'); do unset "$v"; done
export ETCDCTL_API=3
ETCDCTL=${ETCDCTL:-$(command -v etcdctl || echo /usr/bin/etcdctl)}
for tool in "$ETCDCTL" go ss timeout; do
  command -v "$tool" >/dev/null || { echo "test-cluster.sh: '$tool' not found" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/etcd-cluster-test.XXXXXX)
echo "work dir: $WORK (member logs: $WORK/<scenario>/m<i>.log)"

# --- peer TLS: one CA, one certificate every member uses as server and as client ------------------
PSCHEME=http
PEER_TLS_FLAGS=()
if [ "${PEER_TLS:-0}" = 1 ]; then
  command -v openssl >/dev/null || { echo "test-cluster.sh: PEER_TLS=1 needs openssl" >&2; exit 2; }
  pki=$WORK/pki
  mkdir -p "$pki"
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test-cluster CA" \
      -keyout "$pki/ca.key" -out "$pki/ca.crt" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=member" \
      -keyout "$pki/member.key" -out "$pki/member.csr" &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n' > "$pki/ext.cnf" &&
    openssl x509 -req -in "$pki/member.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
      -extfile "$pki/ext.cnf" -out "$pki/member.crt"
  } > "$pki/openssl.log" 2>&1 || { echo "test-cluster.sh: openssl failed: $(tail -n 3 "$pki/openssl.log")" >&2; exit 2; }
  PSCHEME=https
  PEER_TLS_FLAGS=(--peer-cert-file "$pki/member.crt" --peer-key-file "$pki/member.key"
                  --peer-trusted-ca-file "$pki/ca.crt" --peer-client-cert-auth)
  echo "peer TLS: certificates in $pki"
fi
echo "members: m1=${MBIN[1]} m2=${MBIN[2]} m3=${MBIN[3]}"

# --- processes: every PID we start is recorded with its start time; only those are signalled -----
declare -A PSTART=()
proc_start_time() { # PID -> start time in clock ticks; empty when gone or a zombie
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  set -- $stat
  [ "$1" = Z ] || echo "${20}"
}
track() { # PID: remember it
  local st="" k
  for k in 1 2 3 4 5 6 7 8 9 10; do st=$(proc_start_time "$1"); [ -n "$st" ] && break; sleep 0.01; done
  PSTART[$1]=${st:-gone}
  disown "$1" 2>/dev/null # no "Killed" job notices; we poll /proc instead of using wait
}
alive() { [ -n "${PSTART[$1]:-}" ] && [ "$(proc_start_time "$1")" = "${PSTART[$1]}" ]; }
signal() { alive "$2" && kill "-$1" "$2" 2>/dev/null; } # SIG PID
reap() { wait "$1" 2>/dev/null; unset "PSTART[$1]"; }
# wait_exit PID SECONDS: true if the process is gone within the time (polls every 50 ms)
wait_exit() {
  local end=$(($(date +%s%N) + $2 * 1000000000))
  while alive "$1"; do [ "$(date +%s%N)" -lt "$end" ] || return 1; sleep 0.05; done
  reap "$1"
}
# stop PID SIG SECONDS: send SIG, wait, then SIGKILL
stop() { signal "$2" "$1"; wait_exit "$1" "$3" || { signal KILL "$1"; wait_exit "$1" 5; return 1; }; }

cleanup() {
  local pid
  for pid in "${!PSTART[@]}"; do signal KILL "$pid"; done
  for pid in "${!PSTART[@]}"; do wait_exit "$pid" 5; done
  if [ "${failed:-1}" -eq 0 ] && [ "${KEEP_WORK:-0}" != 1 ] && [ "${finished:-0}" = 1 ]; then
    rm -rf "$WORK"
  else
    rm -rf "$WORK"/*/m?.data 2>/dev/null
    echo "logs kept in $WORK"
  fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP
trap 'exit 141' PIPE # e.g. piped into head: still clean up

# --- helpers -------------------------------------------------------------------------------------
now_ms() { echo $(($(date +%s%N) / 1000000)); }
info() { echo "  $*"; }
fail() { REASON=$*; return 1; }
field() { # NAME LINE: the value of NAME=value in a clustercheck output line
  local s=" $2"
  case "$s" in *" $1="*) s=${s#* $1=}; echo "${s%% *}";; *) return 1;; esac
}
ctl() { # ENDPOINTS etcdctl-args...: stdout only; stderr kept for ctl_err
  local ep=$1; shift
  timeout 30 "$ETCDCTL" --endpoints "$ep" --dial-timeout=2s --command-timeout="${CMD_TIMEOUT:-5s}" "$@" \
    2>"${CTL_ERR:-$SDIR/etcdctl.err}"
}
ctl_err() { grep -v '^{"level"' "${CTL_ERR:-$SDIR/etcdctl.err}" | tail -n 1 | cut -c 1-300; }
port_free() { ! ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }

# pick_ports N: sets PORTS[0..N-1], consecutive free ports below 32768.
scenario_no=0
pick_ports() {
  local n=$1 try base p ok
  for try in $(seq 1 200); do
    if [ -n "${BASEPORT:-}" ]; then
      base=$((BASEPORT + 10 * scenario_no + 1000 * (try - 1)))
    else
      base=$((20000 + (RANDOM % 1200) * 10))
    fi
    [ $((base + n)) -lt 32768 ] || continue
    ok=1
    for ((p = base; p < base + n; p++)); do port_free "$p" || { ok=0; break; }; done
    if [ $ok = 1 ]; then
      PORTS=(); for ((p = base; p < base + n; p++)); do PORTS+=("$p"); done
      return 0
    fi
  done
  fail "no $n free consecutive ports found below 32768"
}

# --- members -------------------------------------------------------------------------------------
declare -a CPORT PPORT APORT MSTARTS EP MLOG
MPID=([1]="" [2]="" [3]="")
EXTRA=()

# new_cluster [--proxy] [member flags...]: fresh ports, data dirs and logs under $SDIR; starts the
# three members and waits until each one answers `endpoint health`. With --proxy every member's
# peer URL is a port of one clustercheck proxy that forwards to the member's real peer port.
new_cluster() {
  local proxy=0 i
  [ "${1:-}" = --proxy ] && { proxy=1; shift; }
  EXTRA=("$@")
  pick_ports $((proxy ? 9 : 6)) || return 1
  for i in 1 2 3; do
    CPORT[$i]=${PORTS[$((i - 1))]}
    PPORT[$i]=${PORTS[$((i + 2))]}
    APORT[$i]=${PPORT[$i]}
    [ $proxy = 1 ] && APORT[$i]=${PORTS[$((i + 5))]}
    EP[$i]=127.0.0.1:${CPORT[$i]}
    MSTARTS[$i]=0
    MPID[$i]=""
  done
  INITIAL="m1=$PSCHEME://127.0.0.1:${APORT[1]},m2=$PSCHEME://127.0.0.1:${APORT[2]},m3=$PSCHEME://127.0.0.1:${APORT[3]}"
  TOKEN="test-cluster-$$-$scenario_no"
  ALL="${EP[1]},${EP[2]},${EP[3]}"
  info "client ports ${CPORT[*]}, peer ports ${PPORT[*]}$([ $proxy = 1 ] && echo ", peer proxy ports ${APORT[*]}")"
  if [ $proxy = 1 ]; then
    echo "gen 0" > "$SDIR/proxy.ctl"
    "$CC" proxy -control "$SDIR/proxy.ctl" -map "127.0.0.1:${APORT[1]}=127.0.0.1:${PPORT[1]},127.0.0.1:${APORT[2]}=127.0.0.1:${PPORT[2]},127.0.0.1:${APORT[3]}=127.0.0.1:${PPORT[3]}" \
      > "$SDIR/proxy.log" 2>&1 < /dev/null &
    PROXY_PID=$!; track $PROXY_PID
    proxy_gen=0
    wait_ack 0 || return 1
  fi
  for i in 1 2 3; do start_member "$i"; done
  wait_healthy 1 2 3
}

# start_member I: starts member I on its data dir (kept across restarts); log m<I>.log, then
# m<I>.<n>.log for the n-th start.
start_member() {
  local i=$1 log
  MSTARTS[$i]=$((MSTARTS[$i] + 1))
  log=$SDIR/m$i.log
  [ "${MSTARTS[$i]}" -gt 1 ] && log=$SDIR/m$i.${MSTARTS[$i]}.log
  "${MBIN[$i]}" --name "m$i" --data-dir "$SDIR/m$i.data" \
    --listen-client-urls "http://127.0.0.1:${CPORT[$i]}" --advertise-client-urls "http://127.0.0.1:${CPORT[$i]}" \
    --listen-peer-urls "$PSCHEME://127.0.0.1:${PPORT[$i]}" --initial-advertise-peer-urls "$PSCHEME://127.0.0.1:${APORT[$i]}" \
    --initial-cluster "$INITIAL" --initial-cluster-token "$TOKEN" --initial-cluster-state new \
    "${PEER_TLS_FLAGS[@]+"${PEER_TLS_FLAGS[@]}"}" "${EXTRA[@]+"${EXTRA[@]}"}" > "$log" 2>&1 < /dev/null &
  MPID[$i]=$!; track "${MPID[$i]}"
  MLOG[$i]=$log
}

# wait_healthy I...: each listed member answers `endpoint health` (which needs a leader and a
# committed proposal) within START_TIMEOUT (default 30 s); fails at once if one exits.
wait_healthy() {
  local end=$(($(now_ms) + ${START_TIMEOUT:-30} * 1000)) i pending="$*" left
  while [ -n "$pending" ]; do
    left=""
    for i in $pending; do
      alive "${MPID[$i]}" || { fail "m$i exited during start-up (see ${MLOG[$i]})"; return 1; }
      CMD_TIMEOUT=2s ctl "${EP[$i]}" endpoint health > /dev/null || left+=" $i"
    done
    pending=$left
    [ -z "$pending" ] && break
    [ "$(now_ms)" -lt "$end" ] || { fail "m${pending# } not healthy after ${START_TIMEOUT:-30} s: $(ctl_err)"; return 1; }
    sleep 0.2
  done
}

live_eps() { # endpoints of the members that are running, comma-separated
  local i out=""
  for i in 1 2 3; do [ -n "${MPID[$i]}" ] && alive "${MPID[$i]}" && out+="${out:+,}${EP[$i]}"; done
  echo "$out"
}
others() { local i; for i in 1 2 3; do [ "$i" != "$1" ] && echo "$i"; done; } # member indexes but $1
eps_of() { local i out=""; for i in "$@"; do out+="${out:+,}${EP[$i]}"; done; echo "$out"; }

# find_leader: sets LEADER (member index) and LEADER_ID (hex) once the running members agree on
# exactly one leader (bounded: 15 s).
find_leader() {
  local end=$(($(now_ms) + 15000)) out line n ids i
  while :; do
    out=$("$CC" status -endpoints "$(live_eps)" -timeout 2s 2>>"$SDIR/clustercheck.err")
    n=0; LEADER=""
    ids=$(echo "$out" | sed -n 's/.* leader=\([0-9a-f]*\) .*/\1/p' | sort -u)
    while read -r line; do
      [ "$(field is_leader "$line")" = true ] || continue
      n=$((n + 1)); LEADER_ID=$(field id "$line")
      for i in 1 2 3; do [ "$(field endpoint "$line")" = "${EP[$i]}" ] && LEADER=$i; done
    done <<<"$out"
    [ "$n" = 1 ] && [ -n "$LEADER" ] && [ "$ids" = "$LEADER_ID" ] && return 0
    [ "$(now_ms)" -lt "$end" ] || { fail "no single leader agreed on within 15 s: $(echo "$out" | tr '\n' ';')"; return 1; }
    sleep 0.1
  done
}

# kill_member I SIG: signal member I; true once it has exited (bounded: 15 s, then SIGKILL).
kill_member() {
  stop "${MPID[$1]}" "$2" 15 || { fail "m$1 did not exit within 15 s of SIG$2"; return 1; }
}

sync_members() { # wait until all three agree on leader, revision, raft index; sets SYNC_OUT
  SYNC_OUT=$("$CC" sync -endpoints "$ALL" -timeout "${1:-30s}" 2>>"$SDIR/clustercheck.err") || {
    fail "members did not catch up: $(echo "$SYNC_OUT" | tr '\n' ';')"; return 1; }
}

# hashkv_equal REV: `etcdctl endpoint hashkv --rev REV` on all three gives one hash.
hashkv_equal() {
  local out n
  out=$(ctl "$ALL" endpoint hashkv --rev "$1") || { fail "endpoint hashkv --rev $1: $(ctl_err)"; return 1; }
  n=$(echo "$out" | grep -c .)
  [ "$n" = 3 ] || { fail "endpoint hashkv printed $n lines: $out"; return 1; }
  [ "$(echo "$out" | awk -F', ' '{print $2}' | sort -u | wc -l)" = 1 ] || {
    fail "HashKV differs at revision $1: $(echo "$out" | tr '\n' ';')"; return 1; }
  info "hashkv at revision $1 equal on all three: $(echo "$out" | head -n 1 | awk -F', ' '{print $2}')"
}

# run_writer PREFIX: clustercheck writers on all three endpoints in the background (WRITER_PID),
# until 3 s after writes recovered from the failure marked by mark_now ($SDIR/mark).
run_writer() {
  rm -f "$SDIR/mark"
  "$CC" write -endpoints "$ALL" -writers 16 -prefix "$1" -log "$SDIR/acked.log" -mark-file "$SDIR/mark" \
    -after-mark 3s -max-duration 30s -req-timeout 1s > "$SDIR/write.out" 2>>"$SDIR/clustercheck.err" < /dev/null &
  WRITER_PID=$!; track $WRITER_PID
}
# mark_now: the time a member was just signalled, for the writer (MARK_NS). Taken after the signal:
# a put issued before it may still be acknowledged by the old leader.
mark_now() { MARK_NS=$(date +%s%N); echo "$MARK_NS" > "$SDIR/mark.tmp" && mv "$SDIR/mark.tmp" "$SDIR/mark"; }

# writer_result: waits for the writer (bounded) and checks that after the mark no stretch without an
# acknowledged put lasted 5 s or more (WRITE_GAP), i.e. writes resumed within 5 s.
writer_result() {
  wait_exit "$WRITER_PID" 45 || { signal KILL "$WRITER_PID"; fail "writer did not finish within 45 s"; return 1; }
  local out gap
  out=$(cat "$SDIR/write.out")
  gap=$(field gap_ms "$out")
  [ -n "$gap" ] || { fail "writer output: $out"; return 1; }
  WRITE_SUMMARY="$(field acked "$out") puts acknowledged ($(field acked_after_mark "$out") after the signal), $(field failed "$out") failed"
  [ "$gap" -ge 0 ] || { fail "no put succeeded after the signal: $out"; return 1; }
  WRITE_GAP=$gap
  WRITE_DETAILS="first put issued after the signal acknowledged after $(field first_ack_ms "$out") ms; puts time out after 1 s; errors: ${out#*errors=}"
  [ "$gap" -lt 5000 ] || { fail "writes stalled for $gap ms after the signal (limit 5000 ms): $out"; return 1; }
}

# writer_whole_run: waits for the writer (bounded) and checks that over its whole run no stretch
# without an acknowledged put lasted 5 s or more (scenarios that restart members one after another).
writer_whole_run() {
  wait_exit "$WRITER_PID" 30 || { signal KILL "$WRITER_PID"; fail "writer did not finish"; return 1; }
  local out gap
  out=$(cat "$SDIR/write.out")
  gap=$(field max_ack_gap_ms "$out")
  info "writes: $(field acked "$out") acknowledged, $(field failed "$out") failed, longest stretch without an acknowledged put $gap ms"
  [ -n "$gap" ] || { fail "writer output: $out"; return 1; }
  [ "$gap" -lt 5000 ] || { fail "writes stalled for $gap ms"; return 1; }
}

verify_acked() { # LOGFILE PREFIX ENDPOINTS [-serializable]
  local out
  out=$("$CC" verify -log "$1" -prefix "$2" -endpoints "$3" ${4:-} 2>>"$SDIR/clustercheck.err") || {
    fail "acknowledged puts missing: $(echo "$out" | tr '\n' ';')"; return 1; }
  echo "$out" | while read -r line; do
    info "$(field endpoint "$line")${4:+ (serializable)}: all $(field acked "$line") acknowledged puts read back"
  done
}

print_tails() {
  local f
  for f in "$SDIR"/m*.log "$SDIR"/proxy.log "$SDIR"/clustercheck.err; do
    [ -s "$f" ] || continue
    echo "  ----- tail -n 20 $f"
    tail -n 20 "$f" | cut -c 1-400 | sed 's/^/  | /'
  done
}

# stop_cluster: SIGTERM to the followers, then to the leader (etcd's leader hands leadership over
# on SIGTERM and would wait for followers that are stopping too), then to the other processes of
# the scenario (writers, watchers, the proxy). SIGKILL for whatever is left after 10 s.
stop_cluster() {
  local pid i lead="" line eps
  eps=$(live_eps)
  if [ -n "$eps" ]; then
    while read -r line; do
      [ "$(field is_leader "$line")" = true ] || continue
      for i in 1 2 3; do [ "$(field endpoint "$line")" = "${EP[$i]}" ] && lead=$i; done
    done <<<"$("$CC" status -endpoints "$eps" -timeout 1s 2>/dev/null)"
  fi
  for i in 1 2 3; do [ "$i" != "$lead" ] && [ -n "${MPID[$i]}" ] && signal TERM "${MPID[$i]}"; done
  for i in 1 2 3; do [ "$i" != "$lead" ] && [ -n "${MPID[$i]}" ] && { stop "${MPID[$i]}" TERM 10 || info "(m$i needed SIGKILL)"; }; done
  [ -n "$lead" ] && { stop "${MPID[$lead]}" TERM 10 || info "(m$lead needed SIGKILL)"; }
  for pid in "${!PSTART[@]}"; do signal TERM "$pid"; done
  for pid in "${!PSTART[@]}"; do stop "$pid" TERM 10 || info "(pid $pid needed SIGKILL)"; done
  MPID=([1]="" [2]="" [3]="")
  rm -rf "$SDIR"/m?.data
}

# --- scenarios -----------------------------------------------------------------------------------
sc_walkthrough() {
  new_cluster || return 1
  local i j out line n terms val F1 F2 id rev ttl h1 h2 end
  # Logged once both peers are connected (etcd polls for 5 s), which may follow the election.
  end=$(($(now_ms) + 6000))
  for i in 1 2 3; do
    until grep -q "initialized peer connection; fast-forwarding [0-9]* ticks (election ticks [0-9]*) with 2 active peer(s)" "${MLOG[$i]}"; do
      [ "$(now_ms)" -lt "$end" ] || fail "m$i ($(kind $i)) did not fast-forward its election ticks once its peers were connected" || return
      sleep 0.1
    done
  done
  for i in 1 2 3; do
    out=$(ctl "${EP[$i]}" member list) || fail "member list on m$i: $(ctl_err)" || return
    n=$(echo "$out" | grep -c .)
    [ "$n" = 3 ] || fail "member list on m$i shows $n members: $out" || return
    for j in 1 2 3; do
      echo "$out" | grep -qE "^[0-9a-f]+, started, m$j, $PSCHEME://127\.0\.0\.1:${APORT[$j]}, http://127\.0\.0\.1:${CPORT[$j]}, false$" ||
        fail "member list on m$i has no started m$j with its URLs: $(echo "$out" | tr '\n' ';')" || return
    done
  done
  info "member list on each member: m1, m2, m3 started, with their peer and client URLs"

  ctl "$ALL" endpoint health > /dev/null || fail "endpoint health: $(ctl_err)" || return
  out=$(grep -v '^{"level"' "$SDIR/etcdctl.err") # etcdctl 3.4 prints the health lines on stderr
  [ "$(echo "$out" | grep -c 'is healthy')" = 3 ] || fail "endpoint health: $out" || return
  out=$(ctl "$ALL" endpoint status) || fail "endpoint status: $(ctl_err)" || return
  [ "$(echo "$out" | grep -c .)" = 3 ] || fail "endpoint status: $out" || return
  n=$(echo "$out" | awk -F', ' '$5 == "true"' | wc -l)
  terms=$(echo "$out" | awk -F', ' '{print $7}' | sort -u)
  [ "$n" = 1 ] || fail "endpoint status shows $n leaders: $(echo "$out" | tr '\n' ';')" || return
  [ "$(echo "$terms" | wc -l)" = 1 ] || fail "endpoint status: raft terms differ: $(echo "$out" | tr '\n' ';')" || return
  info "endpoint health: 3 healthy; endpoint status: one leader ($(echo "$out" | awk -F', ' '$5 == "true" {print $1}')), raft term $terms on all"
  find_leader || return 1
  F1=$(others "$LEADER" | head -n 1); F2=$(others "$LEADER" | tail -n 1)

  val="value-$RANDOM$RANDOM"
  out=$(ctl "${EP[1]}" put wt/key "$val") && [ "$out" = OK ] || fail "put on m1: $out $(ctl_err)" || return
  for i in 2 3; do
    out=$(ctl "${EP[$i]}" get wt/key --print-value-only) || fail "get on m$i: $(ctl_err)" || return
    [ "$out" = "$val" ] || fail "linearizable get on m$i returned '$out', want '$val'" || return
    out=$(ctl "${EP[$i]}" get wt/key --print-value-only --consistency=s) || fail "get -s on m$i: $(ctl_err)" || return
    [ "$out" = "$val" ] || fail "serializable get on m$i returned '$out', want '$val'" || return
  done
  info "put on m1; m2 and m3 return it, linearizable and serializable"

  out=$(ctl "${EP[3]}" get wt/key -w json) || fail "get -w json: $(ctl_err)" || return
  rev=$(echo "$out" | sed -n 's/.*"revision":\([0-9]*\).*/\1/p')
  timeout 15 "$ETCDCTL" --endpoints "${EP[2]}" watch --prefix wt/watch/ --rev $((rev + 1)) > "$SDIR/watch.out" 2>&1 &
  h1=$!; track $h1
  sleep 0.5 # normally the watch is live by now; --rev makes the check independent of that
  out=$(ctl "${EP[3]}" put wt/watch/a from-m3) || fail "put on m3: $(ctl_err)" || return
  end=$(($(now_ms) + 5000))
  until [ "$(tr '\n' ' ' < "$SDIR/watch.out")" = "PUT wt/watch/a from-m3 " ] || [ "$(now_ms)" -ge "$end" ]; do sleep 0.05; done
  stop $h1 TERM 5
  [ "$(tr '\n' ' ' < "$SDIR/watch.out")" = "PUT wt/watch/a from-m3 " ] ||
    fail "watch --prefix on m2 did not show the put on m3 within 5 s: $(head -c 300 "$SDIR/watch.out")" || return
  info "watch --prefix on m2 printed the put made on m3"

  out=$(ctl "${EP[$F1]}" lease grant 5) || fail "lease grant on follower m$F1: $(ctl_err)" || return
  id=$(echo "$out" | sed -n 's/^lease \([0-9a-f]*\) granted with TTL(5s)$/\1/p')
  [ -n "$id" ] || fail "lease grant on m$F1: '$out'" || return
  ctl "${EP[$F2]}" put wt/lease/k v --lease="$id" > /dev/null || fail "put with lease on m$F2: $(ctl_err)" || return
  out=$(ctl "${EP[$LEADER]}" lease timetolive "$id" --keys) || fail "lease timetolive: $(ctl_err)" || return
  echo "$out" | grep -qE "^lease $id granted with TTL\(5s\), remaining\([0-9]s\), attached keys\(\[wt/lease/k\]\)$" ||
    fail "lease timetolive on m$LEADER: '$out'" || return
  sleep 2
  out=$(ctl "${EP[$F1]}" lease keep-alive --once "$id") || fail "lease keep-alive on m$F1: $(ctl_err)" || return
  [ "$out" = "lease $id keepalived with TTL(5)" ] || fail "lease keep-alive --once on m$F1: '$out'" || return
  local ka=$(now_ms)
  out=$(ctl "${EP[$F2]}" lease timetolive "$id") || fail "lease timetolive: $(ctl_err)" || return
  ttl=$(echo "$out" | sed -n 's/.*remaining(\([0-9]*\)s).*/\1/p')
  [ -n "$ttl" ] && [ "$ttl" -ge 4 ] || fail "after keep-alive (2 s after grant) timetolive says '$out'" || return
  out=$(ctl "${EP[$F2]}" get wt/lease/k --print-value-only) && [ "$out" = v ] || fail "leased key missing before expiry" || return
  info "lease granted on follower m$F1 (TTL 5), key attached on m$F2, timetolive from m$LEADER, keep-alive through m$F1 (remaining ${ttl}s after it)"

  timeout 20 "$ETCDCTL" --endpoints "${EP[1]}" lock wt-lock > "$SDIR/lock1.out" 2>&1 &
  h1=$!; track $h1
  end=$(($(now_ms) + 5000))
  until grep -q '^wt-lock/' "$SDIR/lock1.out" || [ "$(now_ms)" -ge "$end" ]; do sleep 0.05; done
  grep -q '^wt-lock/' "$SDIR/lock1.out" || fail "etcdctl lock on m1 did not acquire within 5 s: $(head -c 300 "$SDIR/lock1.out")" || return
  out=$(timeout 2 "$ETCDCTL" --endpoints "${EP[2]}" lock wt-lock echo m2-got-it 2>&1)
  [ $? = 124 ] && ! echo "$out" | grep -q m2-got-it || fail "lock on m2 acquired while m1 held it: $out" || return
  stop $h1 TERM 5 || fail "etcdctl lock holder did not exit on SIGTERM" || return
  out=$(timeout 10 "$ETCDCTL" --endpoints "${EP[3]}" --command-timeout=8s lock wt-lock echo m3-got-it 2>&1)
  [ "$out" = m3-got-it ] || fail "lock on m3 after m1 released it: '$out'" || return
  info "lock: held on m1, m2 waits, m3 gets it once m1 lets go"

  timeout 20 "$ETCDCTL" --endpoints "${EP[1]}" elect wt-elect p1 > "$SDIR/elect1.out" 2>&1 &
  h1=$!; track $h1
  end=$(($(now_ms) + 5000))
  until grep -qx p1 "$SDIR/elect1.out" || [ "$(now_ms)" -ge "$end" ]; do sleep 0.05; done
  grep -qx p1 "$SDIR/elect1.out" || fail "elect on m1 did not win within 5 s: $(head -c 300 "$SDIR/elect1.out")" || return
  timeout 20 "$ETCDCTL" --endpoints "${EP[2]}" elect wt-elect p2 > "$SDIR/elect2.out" 2>&1 &
  h2=$!; track $h2
  out=$(timeout 1.5 "$ETCDCTL" --endpoints "${EP[3]}" elect -l wt-elect 2>&1)
  echo "$out" | grep -qx p1 || fail "elect -l on m3 does not show leader p1: '$out'" || return
  ! grep -qx p2 "$SDIR/elect2.out" || fail "second candidate on m2 won while p1 leads" || return
  stop $h1 TERM 5 || fail "elect p1 did not exit on SIGTERM" || return
  end=$(($(now_ms) + 5000))
  until grep -qx p2 "$SDIR/elect2.out" || [ "$(now_ms)" -ge "$end" ]; do sleep 0.05; done
  grep -qx p2 "$SDIR/elect2.out" || fail "candidate p2 on m2 did not win after p1 resigned: $(head -c 300 "$SDIR/elect2.out")" || return
  stop $h2 TERM 5
  info "elect: p1 on m1 leads, observed from m3; p2 on m2 takes over when p1 resigns"

  end=$((ka + 15000))
  until [ -z "$(ctl "${EP[$F2]}" get wt/lease/k --print-value-only)" ] || [ "$(now_ms)" -ge "$end" ]; do sleep 0.2; done
  out=$(ctl "${EP[$F2]}" get wt/lease/k --print-value-only)
  [ -z "$out" ] || fail "leased key still there 15 s after the last keep-alive" || return
  out=$(ctl "${EP[$F1]}" lease timetolive "$id")
  [ "$out" = "lease $id already expired" ] || fail "timetolive after expiry: '$out'" || return
  info "leased key gone $(( ($(now_ms) - ka) / 1000 )) s after the keep-alive; timetolive: already expired"

  sync_members || return 1
  hashkv_equal "$(field rev "$SYNC_OUT")"
}

sc_kill_leader() {
  new_cluster || return 1
  run_writer kl/
  sleep 2
  find_leader || return 1
  local L=$LEADER rest
  signal KILL "${MPID[$L]}"; mark_now
  kill_member "$L" KILL || return 1
  rest=$(eps_of $(others "$L"))
  writer_result || return 1
  info "leader m$L SIGKILLed: writes resumed, longest stretch without an acknowledged put $WRITE_GAP ms; $WRITE_SUMMARY"
  info "$WRITE_DETAILS"
  verify_acked "$SDIR/acked.log" kl/ "$rest" || return 1
  start_member "$L"
  local t0=$(now_ms)
  wait_healthy "$L" || return 1
  info "m$L restarted on its data dir, healthy after $(( $(now_ms) - t0 )) ms"
  sync_members 60s || return 1
  info "m$L caught up $(( $(now_ms) - t0 )) ms after its restart: $SYNC_OUT"
  verify_acked "$SDIR/acked.log" kl/ "${EP[$L]}" -serializable || return 1
  hashkv_equal "$(field rev "$SYNC_OUT")"
}

kind() { [ "$(basename "${MBIN[$1]}")" = etcd ] && echo etcd || echo etcd-swift; } # member I's server
member_id() { # I: member I's id (hex)
  field id "$("$CC" status -endpoints "${EP[$1]}" -timeout 2s 2>>"$SDIR/clustercheck.err" | head -n 1)"
}

# lead_by I: member I becomes the leader (`etcdctl move-leader` through the current leader).
lead_by() {
  local id
  find_leader || return 1
  [ "$LEADER" = "$1" ] && return 0
  id=$(member_id "$1")
  [ -n "$id" ] || { fail "no member id for m$1"; return 1; }
  ctl "${EP[$LEADER]}" move-leader "$id" > /dev/null || fail "move-leader to m$1 through m$LEADER: $(ctl_err)" || return
  find_leader || return 1
  [ "$LEADER" = "$1" ] || { fail "m$LEADER leads after move-leader to m$1"; return 1; }
  info "m$1 ($(kind "$1")) leads"
}

# snapshot_round F PREFIX: stop follower F, 10,000 puts under PREFIX and a key on a new lease,
# restart it: it catches up from a snapshot of the leader (its log must say it received and
# applied one), serves every key serializably, lists the lease; a write through it after the
# snapshot leaves hashkv equal.
snapshot_round() {
  local F=$1 prefix=$2 out t0 line lease L=$LEADER
  kill_member "$F" TERM || return 1
  info "follower m$F ($(kind "$F")) stopped (SIGTERM), m$L ($(kind "$L")) leads"
  out=$("$CC" put -endpoints "$(live_eps)" -prefix "$prefix" -count 10000 -clients 16 -log "$SDIR/bulk-$F.log" -timeout 90s \
        2>>"$SDIR/clustercheck.err") || fail "bulk put: $out" || return
  info "10000 puts through the other two members in $(field seconds "$out") s ($(field puts_per_s "$out")/s)"
  # A lease and a key on it, also only in the snapshot.
  lease=$(ctl "$(live_eps)" lease grant 600 | awk '/granted/ {print $2}')
  [ -n "$lease" ] || fail "lease grant: $(ctl_err)" || return
  ctl "$(live_eps)" put --lease "$lease" "${prefix}leased" v > /dev/null || fail "put with lease: $(ctl_err)" || return
  start_member "$F"
  t0=$(now_ms)
  wait_healthy "$F" || return 1
  info "m$F restarted, healthy after $(( $(now_ms) - t0 )) ms"
  sync_members 60s || return 1
  info "m$F caught up $(( $(now_ms) - t0 )) ms after its restart: $SYNC_OUT"
  verify_acked "$SDIR/bulk-$F.log" "$prefix" "${EP[$F]}" -serializable || return 1
  ctl "${EP[$F]}" lease list | grep -q "^$lease\$" || fail "m$F does not list lease $lease: $(ctl "${EP[$F]}" lease list | tr '\n' ' ')" || return
  [ "$(ctl "${EP[$F]}" get "${prefix}leased" --consistency=s -w json | grep -o '"lease":[0-9]*')" = "\"lease\":$((16#$lease))" ] ||
    fail "m$F: ${prefix}leased is not on lease $lease" || return
  info "m$F has lease $lease and its key"
  # The snapshot really came over the wire and was applied: both servers log etcd's wording.
  line=$(grep -m 1 'received and saved database snapshot' "${MLOG[$F]}")
  [ -n "$line" ] || fail "the log of restarted m$F (${MLOG[$F]}) does not say it received a database snapshot" || return
  info "m$F log: $(echo "$line" | cut -c 1-200)"
  line=$(grep -m 1 -E 'finished applying incoming snapshot|applied incoming snapshot|"applied snapshot"' "${MLOG[$F]}")
  [ -n "$line" ] || fail "the log of restarted m$F (${MLOG[$F]}) does not say it applied the snapshot" || return
  info "m$F log: $(echo "$line" | cut -c 1-200)"
  # Entries after the snapshot apply exactly once on it: a write through it, then equal hashes.
  ctl "${EP[$F]}" put "${prefix}after" v > /dev/null || fail "put through m$F: $(ctl_err)" || return
  sync_members 30s || return 1
  hashkv_equal "$(field rev "$SYNC_OUT")"
}

# One round with a follower of the leader's kind; in a mixed cluster two rounds, so the snapshot
# crosses kinds both ways: an etcd-swift leader to an etcd follower, then an etcd leader to the
# etcd-swift follower.
sc_follower_restart_snapshot() {
  new_cluster --snapshot-count 1000 || return 1
  find_leader || return 1
  local i swift="" etcd=""
  for i in 1 2 3; do
    if [ "$(kind "$i")" = etcd ]; then etcd+="$i "; else swift+="$i "; fi
  done
  if [ -z "$swift" ] || [ -z "$etcd" ]; then
    snapshot_round "$(others "$LEADER" | head -n 1)" snap/
    return
  fi
  set -- $swift; local s=$1
  set -- $etcd; local e=$1
  lead_by "$s" || return 1
  snapshot_round "$e" snap1/ || return 1
  lead_by "$e" || return 1
  snapshot_round "$s" snap2/
}

# isolate K PID / heal: rewrite the proxy's control file and wait until the proxy confirms.
proxy_control() {
  proxy_gen=$((proxy_gen + 1))
  { echo "gen $proxy_gen"; [ -n "${1:-}" ] && echo "isolate 127.0.0.1:${APORT[$1]} ${MPID[$1]}"; } > "$SDIR/proxy.ctl.tmp"
  mv "$SDIR/proxy.ctl.tmp" "$SDIR/proxy.ctl"
  wait_ack "$proxy_gen"
}
wait_ack() {
  local end=$(($(now_ms) + 5000))
  until [ "$(cat "$SDIR/proxy.ctl.ack" 2>/dev/null)" = "$1" ]; do
    alive "$PROXY_PID" || { fail "proxy exited: $(tail -n 3 "$SDIR/proxy.log")"; return 1; }
    [ "$(now_ms)" -lt "$end" ] || { fail "proxy did not apply control generation $1 within 5 s"; return 1; }
    sleep 0.02
  done
}

# timed_ctl NAME ENDPOINT args...: etcdctl in the background; $SDIR/NAME.out and NAME.meta
# ("rc=N ms=M") when done.
timed_ctl() {
  local name=$1; shift
  ( s=$(now_ms); CTL_ERR=$SDIR/$name.err CMD_TIMEOUT=8s ctl "$@" > "$SDIR/$name.out"; rc=$?
    cat "$SDIR/$name.err" >> "$SDIR/$name.out" 2>/dev/null
    echo "rc=$rc ms=$(( $(now_ms) - s ))" > "$SDIR/$name.meta" ) &
  track $!
}

sc_isolated_member() {
  new_cluster --proxy || return 1
  find_leader || return 1
  local K O out end t0 rc ms name
  K=$(others "$LEADER" | head -n 1); O=$(others "$LEADER" | tail -n 1)
  ctl "${EP[$LEADER]}" put iso/before v1 > /dev/null || fail "put on leader: $(ctl_err)" || return
  end=$(($(now_ms) + 5000))
  until [ "$(ctl "${EP[$K]}" get iso/before --print-value-only --consistency=s)" = v1 ] || [ "$(now_ms)" -ge "$end" ]; do sleep 0.05; done
  [ "$(ctl "${EP[$K]}" get iso/before --print-value-only --consistency=s)" = v1 ] ||
    fail "follower m$K did not have iso/before within 5 s (before any isolation): $(ctl_err)" || return
  proxy_control "$K" || return 1
  info "follower m$K cut off from m$LEADER (leader) and m$O: $(grep isolating "$SDIR/proxy.log" | tail -n 1 | sed 's/.*proxy: //')"
  out=$(ctl "${EP[$LEADER]}" put iso/during v2) || fail "put on the leader m$LEADER (majority side) failed: $(ctl_err)" || return
  out=$(ctl "${EP[$K]}" get iso/before --print-value-only --consistency=s) || fail "serializable get on isolated m$K: $(ctl_err)" || return
  [ "$out" = v1 ] || fail "serializable get of iso/before on isolated m$K: '$out'" || return
  out=$(ctl "${EP[$K]}" get iso/during --print-value-only --consistency=s) || fail "serializable get on isolated m$K: $(ctl_err)" || return
  [ -z "$out" ] || fail "isolated m$K has iso/during ('$out'), written after it was cut off: the partition leaks" || return
  info "isolated m$K: serializable get serves its own data (iso/before=v1, no iso/during written on the majority side)"
  timed_ctl lin-get "${EP[$K]}" get iso/before
  timed_ctl put "${EP[$K]}" put iso/split-brain x
  end=$(($(now_ms) + 15000))
  until [ -s "$SDIR/lin-get.meta" ] && [ -s "$SDIR/put.meta" ] || [ "$(now_ms)" -ge "$end" ]; do sleep 0.1; done
  for name in lin-get put; do
    [ -s "$SDIR/$name.meta" ] || fail "$name on isolated m$K did not return within 15 s" || return
    rc=$(field rc "$(cat "$SDIR/$name.meta")"); ms=$(field ms "$(cat "$SDIR/$name.meta")")
    out=$(grep -v '^{"level"' "$SDIR/$name.out" | tr '\n' ' ' | cut -c 1-200)
    [ "$rc" != 0 ] || fail "$name on isolated m$K succeeded: $out" || return
    [ "$ms" -lt 10000 ] || fail "$name on isolated m$K took $ms ms to fail (limit 10 s): $out" || return
    info "$(echo "$name" | sed 's/lin-get/linearizable get/') on isolated m$K failed after $ms ms: $out"
  done
  proxy_control || return 1
  t0=$(now_ms); end=$((t0 + 20000))
  until [ "$(CMD_TIMEOUT=2s ctl "${EP[$K]}" get iso/during --print-value-only)" = v2 ] || [ "$(now_ms)" -ge "$end" ]; do sleep 0.1; done
  out=$(ctl "${EP[$K]}" get iso/during --print-value-only)
  [ "$out" = v2 ] || fail "after healing, linearizable get of iso/during on m$K: '$out' $(ctl_err)" || return
  info "healed: m$K serves a linearizable get of iso/during (written while it was cut off) after $(( $(now_ms) - t0 )) ms"
  ctl "${EP[$K]}" put iso/after v3 > /dev/null || fail "put on m$K after healing: $(ctl_err)" || return
  sync_members || return 1
  hashkv_equal "$(field rev "$SYNC_OUT")"
}

# --pre-vote: the etcd-swift member (m1 in a mixed cluster), cut off for three election timeouts,
# must not disrupt the leader when it comes back: pre-vote keeps its term, so leader and term stay.
# (Without pre-vote it campaigns alone, and its higher term makes the leader step down on healing.)
sc_isolated_prevote() {
  new_cluster --proxy --pre-vote || return 1
  lead_by 2 || return 1
  local term0 term1 out line
  term0=$(field term "$("$CC" status -endpoints "${EP[2]}" -timeout 2s 2>>"$SDIR/clustercheck.err")")
  [ -n "$term0" ] || fail "no raft term from m2" || return
  proxy_control 1 || return 1
  info "m1 ($(kind 1)) cut off at term $term0 (m2 leads); waiting 3 s"
  sleep 3
  proxy_control || return 1
  sleep 2
  ctl "${EP[1]}" put prevote/after v1 > /dev/null || fail "put through m1 after healing: $(ctl_err)" || return
  find_leader || return 1
  out=$("$CC" status -endpoints "$ALL" -timeout 2s 2>>"$SDIR/clustercheck.err")
  while read -r line; do
    [ "$(field endpoint "$line")" = "${EP[2]}" ] && term1=$(field term "$line")
  done <<<"$out"
  [ "$LEADER" = 2 ] && [ "${term1:-}" = "$term0" ] ||
    fail "after healing m$LEADER leads at term ${term1:-?} (before: m2 at term $term0): the returning member disrupted the leader" || return
  info "healed: m2 still leads at term $term0"
}

sc_sigterm_leader() {
  new_cluster || return 1
  run_writer st/
  sleep 1.5
  find_leader || return 1
  local L=$LEADER old=$LEADER_ID out el
  signal TERM "${MPID[$L]}"; mark_now
  out=$("$CC" newleader -endpoints "$(eps_of $(others "$L"))" -old "$old" -since "$MARK_NS" -timeout 15s \
        2>>"$SDIR/clustercheck.err") || fail "no new leader after SIGTERM to m$L: $(echo "$out" | tr '\n' ';')" || return
  el=$(field elapsed_ms "$out")
  kill_member "$L" TERM || return 1
  info "leader m$L got SIGTERM: new leader $(field leader "$out") after $el ms$([ "$el" -lt 1000 ] && echo " (less than one election timeout: leadership was handed over)" || echo " (an election timeout or more: no handover?)"); m$L exited $(( $(now_ms) - MARK_NS / 1000000 )) ms after the signal"
  [ "$el" -lt 5000 ] || fail "new leader only after $el ms" || return
  writer_result || return 1
  info "writes went on: longest stretch without an acknowledged put $WRITE_GAP ms; $WRITE_SUMMARY"
  info "$WRITE_DETAILS"
  verify_acked "$SDIR/acked.log" st/ "$(eps_of $(others "$L"))"
}

# member-replace: with 16 writers running, each member in turn is removed (it exits by itself),
# its data dir wiped, added back as a new member on the same ports and started `existing`.
sc_member_replace() {
  # With --pre-vote: once the leader is removed, a member whose log is behind cannot win, and
  # without pre-vote each of its campaigns resets the other member's election timer, so the one
  # that can win times out first only half the time per round (5 s stalls about once in 16 runs).
  new_cluster --pre-vote || return 1
  rm -f "$SDIR/mark"
  "$CC" write -endpoints "$ALL" -writers 16 -prefix mr/ -log "$SDIR/acked.log" -mark-file "$SDIR/mark" \
    -after-mark 2s -max-duration 150s -req-timeout 1s > "$SDIR/write.out" 2>>"$SDIR/clustercheck.err" < /dev/null &
  WRITER_PID=$!; track $WRITER_PID
  local i o id out t0 initial
  # etcd refuses a change unless every voter has been connected for 5 s (--strict-reconfig-check).
  sleep 6
  for i in 1 2 3; do
    o=$(others "$i" | head -n 1)
    id=$(ctl "${EP[$o]}" member list | awk -F', ' -v n="m$i" '$3==n {print $1}')
    [ -n "$id" ] || fail "m$i not in the member list" || return
    t0=$(now_ms)
    ctl "${EP[$o]}" member remove "$id" > /dev/null || fail "member remove m$i ($id): $(ctl_err)" || return
    wait_exit "${MPID[$i]}" 15 || fail "m$i did not exit within 15 s of its removal" || return
    grep -q "the member has been permanently removed from the cluster" "${MLOG[$i]}" ||
      fail "m$i exited without etcd's removal message" || return
    rm -rf "$SDIR/m$i.data"
    # A removed leader steps down only as it stops: proposals forwarded to it meanwhile are lost
    # (in etcd as well), so the next change waits for a leader among the remaining members.
    MPID[$i]=""
    find_leader || return 1
    out=$(ctl "${EP[$o]}" member add "m$i" --peer-urls="$PSCHEME://127.0.0.1:${APORT[$i]}") || fail "member add m$i: $(ctl_err)" || return
    initial=$(echo "$out" | sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p')
    [ -n "$initial" ] || fail "member add printed no ETCD_INITIAL_CLUSTER: $out" || return
    INITIAL=$initial
    EXTRA=(--initial-cluster-state existing)
    start_member "$i"
    wait_healthy "$i" || return 1
    info "m$i replaced by $(ctl "${EP[$o]}" member list | awk -F', ' -v n="m$i" '$3==n {print $1}') in $(( $(now_ms) - t0 )) ms"
    sleep 6
  done
  mark_now
  writer_whole_run || return 1
  sync_members 60s || return 1
  verify_acked "$SDIR/acked.log" mr/ "$ALL" -serializable || return 1
  hashkv_equal "$(field rev "$SYNC_OUT")"
}

# members-api: the Cluster API through clientv3 against a follower, with a fourth member (m4, its
# ports picked after the cluster's) added as a learner, started, promoted, updated and removed.
sc_members_api() {
  new_cluster || return 1
  find_leader || return 1
  local f voter out id p4 c4 pid4 log4 url4
  f=$(others "$LEADER" | head -n 1)
  voter=$(ctl "${EP[$LEADER]}" member list | awk -F', ' -v n="m$LEADER" '$3==n {print $1}')
  sleep 5 # --strict-reconfig-check: peers connected for 5 s before a voter is added
  out=$("$CC" member -op errors -endpoints "${EP[$f]}" -id "$voter") || fail "errors: $out" || return
  info "through follower m$f: promote a voter, unknown ids, a peer URL in use: etcd's errors"
  pick_ports 3 || return 1
  c4=${PORTS[0]}; p4=${PORTS[1]}; url4=http://127.0.0.1:$p4
  out=$("$CC" member -op add -endpoints "${EP[$f]}" -peer "http://127.0.0.1:${PORTS[2]}") || fail "add: $out" || return
  id=$(field id "$out")
  out=$("$CC" member -op remove -endpoints "${EP[$f]}" -id "$id") || fail "remove of the unstarted voter: $out" || return
  info "MemberAdd of a voter ($id) then MemberRemove: $(field members "$out") members left"
  out=$("$CC" member -op add-learner -endpoints "${EP[$f]}" -peer "$url4" -name m4) || fail "add-learner: $out" || return
  id=$(field id "$out")
  log4=$SDIR/m4.log
  "${MBIN[1]}" --name m4 --data-dir "$SDIR/m4.data" --listen-client-urls "http://127.0.0.1:$c4" \
    --advertise-client-urls "http://127.0.0.1:$c4" --listen-peer-urls "$url4" --initial-advertise-peer-urls "$url4" \
    --initial-cluster "$(field initial_cluster "$out")" --initial-cluster-state existing > "$log4" 2>&1 < /dev/null &
  pid4=$!; track $pid4
  info "MemberAddAsLearner: m4 ($id) added and started existing"
  out=$("$CC" member -op promote -endpoints "${EP[$f]}" -id "$id" -timeout 30s) || fail "promote: $out" || return
  info "MemberPromote through follower m$f: m4 is a voter ($(field not_ready_answers "$out") 'not in sync' answers first)"
  out=$("$CC" member -op update -endpoints "${EP[$f]}" -id "$id" -peer "$url4,http://localhost:$p4") || fail "update: $out" || return
  info "MemberUpdate: m4's peer URLs now $url4,http://localhost:$p4"
  sleep 5
  out=$("$CC" member -op remove -endpoints "${EP[$f]}" -id "$id") || fail "remove: $out" || return
  wait_exit "$pid4" 15 || fail "m4 did not exit within 15 s of its removal" || return
  info "MemberRemove: m4 exited, $(field members "$out") members left"
  ctl "$ALL" endpoint health > /dev/null || fail "cluster unhealthy after the changes: $(ctl_err)" || return
}

# corrupt-check: see the header. Needs m1 to be an etcd-swift member (our backend, our tool).
sc_corrupt_check() {
  local tool=${CORRUPT_DB:-$(dirname "${MBIN[1]}")/corrupt-db} id i out end
  [ -x "$tool" ] || fail "no corrupt-db tool at $tool (swift build builds it)" || return
  new_cluster --experimental-corrupt-check-time 1s || return 1
  for i in $(seq 0 9); do ctl "$ALL" put "foo0000$i" "v0000$i" > /dev/null || fail "put: $(ctl_err)" || return; done
  sync_members 30s || return 1
  id=$(ctl "${EP[2]}" member list | awk -F', ' '$3=="m1" {print $1}')
  kill_member 1 TERM || return 1
  out=$("$tool" "$SDIR/m1.data/member/snap/db") || fail "corrupt-db: $out" || return
  info "$out"
  EXTRA=(--experimental-initial-corrupt-check)
  start_member 1
  wait_exit "${MPID[1]}" 30 || fail "m1 started with a corrupted backend" || return
  grep -q "etcdmain: $id found data inconsistency with peers" "${MLOG[1]}" ||
    fail "m1 exited without etcd's message: $(tail -n 1 "${MLOG[1]}")" || return
  info "initial check: m1 refused to start ('etcdmain: $id found data inconsistency with peers')"
  EXTRA=(--experimental-corrupt-check-time 1s)
  start_member 1
  end=$(($(now_ms) + 20000))
  for i in 1 2 3; do
    until [ "$(ctl "${EP[$i]}" alarm list 2>/dev/null)" = "alarm:CORRUPT " ]; do
      [ "$(now_ms)" -lt "$end" ] || fail "no CORRUPT alarm on m$i: '$(ctl "${EP[$i]}" alarm list)'" || return
      sleep 0.2
    done
  done
  info "periodic check: CORRUPT raised (member id 0, as etcd); 'alarm list' on m1, m2, m3: alarm:CORRUPT"
  ctl "${EP[2]}" put k v > /dev/null && fail "a put succeeded with CORRUPT raised" && return 1
  ctl_err | grep -q "corrupt cluster" || fail "put with CORRUPT raised: $(ctl_err)" || return
  info "put through m2: $(ctl_err)"
  kill_member 1 TERM || return 1
  out=$(ctl "${EP[3]}" alarm disarm) || fail "alarm disarm: $(ctl_err)" || return
  for i in 2 3; do
    [ -z "$(ctl "${EP[$i]}" alarm list)" ] || fail "alarm still listed on m$i" || return
  done
  ctl "${EP[2]}" put k v > /dev/null || fail "put after disarm: $(ctl_err)" || return
  info "m1 stopped; 'alarm disarm' through m3 printed '$out'; no alarm on m2, m3; puts succeed"
}

# rolling-migration: a cluster of MIGRATE_FROM members becomes one of the members' binaries, one
# member at a time, as an operator would do it: stop the member (SIG), start the new binary with the
# same flags (--initial-cluster-state new stays: a member with data ignores it) on the same data dir.
# The writers pause 10 ms between their puts: fewer than etcd's 100,000 entries before a snapshot,
# so no member ever needs a raft snapshot from a member of the other kind.
# force-new-cluster: see the header (disaster recovery after the loss of a quorum).
sc_force_new_cluster() {
  new_cluster || return 1
  local i out n lead
  for i in $(seq 1 20); do ctl "$ALL" put "fnc/k$i" "v$i" > /dev/null || fail "put fnc/k$i: $(ctl_err)" || return; done
  for i in 1 2 3; do kill_member "$i" TERM || return 1; done
  MPID=([1]="" [2]="" [3]="")
  info "20 keys written; all three members stopped"
  EXTRA+=(--force-new-cluster)
  start_member 1
  unset 'EXTRA[${#EXTRA[@]}-1]'
  wait_healthy 1 || return 1
  for n in 1 2; do
    out=$(ctl "${EP[1]}" member list) || fail "member list on m1: $(ctl_err)" || return
    [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q ", m1, " ||
      fail "member list after --force-new-cluster (start $n): $(echo "$out" | tr '\n' ';')" || return
    lead=$("$CC" status -endpoints "${EP[1]}" -timeout 2s 2>>"$SDIR/clustercheck.err")
    [ "$(field is_leader "$lead")" = true ] || fail "m1 does not lead alone (start $n): $lead" || return
    out=$(ctl "${EP[1]}" get fnc/ --prefix --keys-only | grep -c '^fnc/') || true
    [ "$out" = $((19 + n)) ] || fail "$out of $((19 + n)) keys read back from m1 (start $n)" || return
    ctl "${EP[1]}" put "fnc/after$n" v > /dev/null || fail "put on m1 alone (start $n): $(ctl_err)" || return
    [ "$n" = 2 ] && break
    grep -q "forcing restart of member" "${MLOG[1]}" || fail "m1's log does not say it forced the restart" || return
    info "m1 restarted with --force-new-cluster: the only member, leader, 20 keys, puts work"
    kill_member 1 TERM || return 1
    start_member 1
    wait_healthy 1 || return 1
  done
  info "restarted again without the flag: still the only member and the leader"
}

sc_rolling_migration() { rolling_migration TERM; }
sc_rolling_migration_kill() { rolling_migration KILL; }
rolling_migration() {
  local -a target=("" "${MBIN[1]}" "${MBIN[2]}" "${MBIN[3]}")
  local from rc
  from=$(readlink -f "${MIGRATE_FROM:-/usr/bin/etcd}")
  MBIN[1]=$from; MBIN[2]=$from; MBIN[3]=$from
  migrate_members "$1" "${target[@]:1}"; rc=$?
  MBIN[1]=${target[1]}; MBIN[2]=${target[2]}; MBIN[3]=${target[3]}
  return $rc
}
# caught_up I: member I's revision reaches the leader's revision at the time of the call (30 s).
caught_up() {
  local i=$1 target rev end=$(($(now_ms) + 30000))
  find_leader || return 1
  target=$(field rev "$("$CC" status -endpoints "${EP[$LEADER]}" -timeout 2s 2>>"$SDIR/clustercheck.err")")
  [ -n "$target" ] || fail "no status from the leader m$LEADER" || return
  while :; do
    rev=$(field rev "$("$CC" status -endpoints "${EP[$i]}" -timeout 2s 2>>"$SDIR/clustercheck.err")")
    [ -n "$rev" ] && [ "$rev" -ge "$target" ] && break
    [ "$(now_ms)" -lt "$end" ] || fail "m$i at revision ${rev:-?}, not caught up with the leader's $target within 30 s" || return
    sleep 0.1
  done
  CAUGHT_UP_REV=$target
}
migrate_members() { # SIG BIN1 BIN2 BIN3
  local sig=$1 i step=0 t0 out order follower first
  local -a to=("" "$2" "$3" "$4")
  new_cluster || return 1
  info "started as ${MBIN[1]} on all three"
  rm -f "$SDIR/mark"
  "$CC" write -endpoints "$ALL" -writers 16 -interval 10ms -prefix rm/ -log "$SDIR/acked.log" -mark-file "$SDIR/mark" \
    -after-mark 2s -max-duration 150s -req-timeout 1s > "$SDIR/write.out" 2>>"$SDIR/clustercheck.err" < /dev/null &
  WRITER_PID=$!; track $WRITER_PID
  sleep 3
  # A follower first, then the leader (still a member of the old kind), then the last one.
  find_leader || return 1
  first=$(others "$LEADER" | head -n 1)
  order="$first $LEADER $(others "$LEADER" | tail -n 1)"
  for i in $order; do
    step=$((step + 1))
    find_leader || return 1
    info "step $step: m$i ($([ "$i" = "$LEADER" ] && echo leader || echo "follower; leader m$LEADER")) gets SIG$sig"
    t0=$(now_ms)
    kill_member "$i" "$sig" || return 1
    MBIN[$i]=${to[$i]}
    start_member "$i"
    wait_healthy "$i" || return 1
    grep -q "imported etcd's data" "${MLOG[$i]}" || [ "${MBIN[$i]}" = "$(readlink -f "${MIGRATE_FROM:-/usr/bin/etcd}")" ] ||
      fail "m$i (${MBIN[$i]}) did not log an import of etcd's data dir (see ${MLOG[$i]})" || return
    caught_up "$i" || return 1
    info "m$i is ${MBIN[$i]} now: healthy and caught up (revision $CAUGHT_UP_REV) $(( $(now_ms) - t0 )) ms after the signal; leader m$LEADER"
    hashkv_equal "$CAUGHT_UP_REV" || return 1
    sleep 2
  done
  mark_now
  writer_whole_run || return 1
  sync_members 60s || return 1
  verify_acked "$SDIR/acked.log" rm/ "$ALL" -serializable || return 1
  verify_acked "$SDIR/acked.log" rm/ "$ALL" || return 1
  hashkv_equal "$(field rev "$SYNC_OUT")"
}

# --- main ----------------------------------------------------------------------------------------
CC=$WORK/clustercheck
echo "building clustercheck ..."
if ! (cd "$here/clustercheck" && GO111MODULE=off GOFLAGS= GOPATH="$here/clustercheck:/usr/share/gocode" \
      GOCACHE=${GOCACHE:-/tmp/gocache} go build -o "$CC" clustercheck) > "$WORK/go-build.out" 2>&1; then
  cat "$WORK/go-build.out"; echo "FAIL build clustercheck"; echo "0 passed, 1 failed"; exit 1
fi

passed=0; failed=0; finished=0
t_all=$(now_ms)
for s in $SCENARIOS; do
  scenario_no=$((scenario_no + 1))
  SDIR=$WORK/$s; mkdir -p "$SDIR"
  REASON=""
  echo "== $s"
  t_s=$(now_ms)
  if "sc_${s//-/_}"; then
    passed=$((passed + 1))
    d=$(( $(now_ms) - t_s )); printf 'ok %s (%d.%d s)\n' "$s" $((d / 1000)) $((d % 1000 / 100))
  else
    failed=$((failed + 1))
    echo "FAIL $s: ${REASON:-unknown reason}"
    print_tails
  fi
  t_s=$(now_ms); stop_cluster; info "teardown $(( $(now_ms) - t_s )) ms"
done
finished=1
d=$(( $(now_ms) - t_all )); printf 'total %d.%d s\n' $((d / 1000)) $((d % 1000 / 100))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
