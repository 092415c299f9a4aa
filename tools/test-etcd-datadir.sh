#!/usr/bin/env bash
# tools/test-etcd-datadir.sh ETCD_SWIFT_BINARY
# etcd-swift started on data dirs real etcd 3.4 wrote (issue 12):
#  1. clean stop: etcd writes puts, a delete, a compaction, a lease with keys, a user and a role
#     with auth on; stopped; etcd-swift on the same --data-dir must answer get --prefix (values and
#     revisions), lease list / timetolive --keys, member list, user/role get and auth as etcd did.
#     An etcd member with a NOSPACE alarm raised: it stays raised in etcd-swift.
#  2. kill -9 during a stream of acknowledged puts: every acknowledged put is there in etcd-swift.
#  3. `etcdctl snapshot restore` of etcd's snapshot, started as one etcd-swift member, and as three.
#  4. one member of a three-member etcd cluster stopped and restarted as etcd-swift on its dir.
#  5. a corrupt record in the middle of etcd's WAL: a clear error, nothing imported.
# Prints PASS/FAIL lines and "N passed, M failed"; exit 0 only when all passed.
set -u
swift_bin=$(readlink -f "$1")
work=$(mktemp -d /tmp/etcd-swift-datadir.XXXXXX)
pids=()
passed=0; failed=0
cleanup() { for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
check() { # NAME STATUS [details]
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"
  else failed=$((failed + 1)); echo "FAIL $1"; [ -n "${3:-}" ] && echo "$3" | head -40 | sed 's/^/    /'; fi
}

# launch BIN NAME DATADIR CPORT PPORT INITIAL_CLUSTER [STATE] -> $pid
launch() {
  "$1" --name "$2" --data-dir "$3" \
    --listen-client-urls "http://127.0.0.1:$4" --advertise-client-urls "http://127.0.0.1:$4" \
    --listen-peer-urls "http://127.0.0.1:$5" --initial-advertise-peer-urls "http://127.0.0.1:$5" \
    --initial-cluster "$6" --initial-cluster-state "${7:-new}" ${EXTRA_FLAGS:-} >>"$3.log" 2>&1 &
  pid=$!; pids+=("$pid")
}
wait_healthy() { # ENDPOINT PID [USER]
  for _ in $(seq 1 150); do
    etcdctl --endpoints "$1" ${3:+--user "$3"} --dial-timeout 1s get --consistency=l x >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null; }

# state ENDPOINT USER -> the comparable state, one section per command (lease TTLs left out).
state() {
  local e=(etcdctl --endpoints "$1" ${2:+--user "$2"})
  echo "## get"; "${e[@]}" get "" --prefix -w json | python3 -c '
import json,sys; d=json.load(sys.stdin); h=d["header"]
print("revision", h["revision"], "cluster", h["cluster_id"], "member", h["member_id"])
for kv in d.get("kvs", []): print(kv)'
  echo "## compacted"; "${e[@]}" get k1 --rev 2 2>&1 | sed 's/^{.*"error":"\(.*\)"}$/\1/' | tail -1
  echo "## leases"; "${e[@]}" lease list | tail -n +2 | sort
  for l in $("${e[@]}" lease list | tail -n +2); do
    "${e[@]}" lease timetolive "$l" --keys -w json | python3 -c '
import json,sys; d=json.load(sys.stdin); print(d["id"], d["grantedTTL"], sorted(d.get("keys") or []))'
  done
  echo "## members"; "${e[@]}" member list -w json | python3 -c '
import json,sys; d=json.load(sys.stdin)
for m in sorted(d["members"], key=lambda m: m["ID"]): print(m["ID"], m["name"], m["peerURLs"], m.get("clientURLs"))'
  echo "## auth"; "${e[@]}" user list; "${e[@]}" role list; "${e[@]}" user get alice; "${e[@]}" role get reader
  echo "## alarms"; "${e[@]}" alarm list
}

# --- 1. clean stop ------------------------------------------------------------------------------
cp1=$(free_port); pp1=$(free_port); ep1=127.0.0.1:$cp1
ic1="m1=http://127.0.0.1:$pp1"
# A snapshot every 25 entries: the import starts from a .snap and replays the entries after it.
export EXTRA_FLAGS="--snapshot-count 25"
launch /usr/bin/etcd m1 "$work/one" "$cp1" "$pp1" "$ic1"; etcd_pid=$pid
wait_healthy "$ep1" "$etcd_pid" || { echo "real etcd did not start"; tail "$work/one.log"; exit 1; }
e=(etcdctl --endpoints "$ep1")
{
  for i in $(seq 1 30); do "${e[@]}" put "k$i" "v$i"; done
  "${e[@]}" put k1 v1-again; "${e[@]}" del k2; "${e[@]}" del k3 --prefix=false
  "${e[@]}" compact 10
  lease=$("${e[@]}" lease grant 900 | awk '{print $2}')
  "${e[@]}" put leased1 a --lease "$lease"; "${e[@]}" put leased2 b --lease "$lease"
  "${e[@]}" lease grant 600
  "${e[@]}" role add reader; "${e[@]}" role grant-permission reader read k --prefix
  "${e[@]}" user add root:rootpw; "${e[@]}" role add root; "${e[@]}" user grant-role root root
  "${e[@]}" user add alice:alicepw; "${e[@]}" user grant-role alice reader
  "${e[@]}" auth enable
} >"$work/one.setup" 2>&1
"${e[@]}" --user root:rootpw snapshot save "$work/etcd.snapshot.db" >/dev/null 2>&1
state "$ep1" root:rootpw >"$work/one.etcd" 2>&1
stop "$etcd_pid"
launch "$swift_bin" m1 "$work/one" "$cp1" "$pp1" "$ic1"; swift_pid=$pid
if wait_healthy "$ep1" "$swift_pid" root:rootpw; then
  state "$ep1" root:rootpw >"$work/one.swift" 2>&1
  check "clean stop: etcd-swift serves etcd's keys, revisions, leases, members, auth" \
    "$(cmp -s "$work/one.etcd" "$work/one.swift"; echo $?)" "$(diff "$work/one.etcd" "$work/one.swift")"
  grep -q "imported etcd's data: snapshot" "$work/one.log"; check "clean stop: the import is logged" $?
  etcdctl --endpoints "$ep1" --user alice:alicepw put k1 x >/dev/null 2>&1
  check "clean stop: imported auth refuses alice's write" $((1 - $?))
  etcdctl --endpoints "$ep1" --user root:rootpw put after-import yes >/dev/null 2>&1
  check "clean stop: etcd-swift takes writes after the import" $?
  stop "$swift_pid"
  launch "$swift_bin" m1 "$work/one" "$cp1" "$pp1" "$ic1"; swift_pid=$pid
  wait_healthy "$ep1" "$swift_pid" root:rootpw
  v=$(etcdctl --endpoints "$ep1" --user root:rootpw get after-import --print-value-only 2>&1)
  check "clean stop: restart after the import keeps etcd-swift's writes" "$([ "$v" = yes ]; echo $?)" "$v"
  stop "$swift_pid"
else
  check "clean stop: etcd-swift starts on etcd's data dir" 1 "$(tail -20 "$work/one.log")"
fi
ls "$work/one/member/wal/"*.wal "$work/one/member/snap/db" "$work/one/member/snap/"*.snap >/dev/null 2>&1
check "clean stop: etcd's files are left where they were" $?
grep -q "imported etcd's data: snapshot index [1-9]" "$work/one.log"
check "clean stop: the import started from one of etcd's .snap files" $? "$(grep "imported etcd" "$work/one.log")"
unset EXTRA_FLAGS

# --- 1b. an alarm raised under etcd stays raised -----------------------------------------------
cpa=$(free_port); ppa=$(free_port); epa=127.0.0.1:$cpa
ica="ma=http://127.0.0.1:$ppa"
export EXTRA_FLAGS="--quota-backend-bytes 300000"
launch /usr/bin/etcd ma "$work/alarm" "$cpa" "$ppa" "$ica"; etcd_pid=$pid
wait_healthy "$epa" "$etcd_pid" || { echo "real etcd did not start"; exit 1; }
big=$(head -c 30000 /dev/zero | tr '\0' x)
for i in $(seq 1 60); do etcdctl --endpoints "$epa" put "big$i" "$big" >/dev/null 2>&1 || break; done
etcdctl --endpoints "$epa" alarm list >"$work/alarm.etcd" 2>&1
stop "$etcd_pid"
launch "$swift_bin" ma "$work/alarm" "$cpa" "$ppa" "$ica"; swift_pid=$pid
if wait_healthy "$epa" "$swift_pid"; then
  etcdctl --endpoints "$epa" alarm list >"$work/alarm.swift" 2>&1
  out=$(etcdctl --endpoints "$epa" put more x 2>&1)
  check "alarm: etcd's NOSPACE alarm is raised in etcd-swift and refuses puts" \
    "$(grep -q NOSPACE "$work/alarm.etcd" && cmp -s "$work/alarm.etcd" "$work/alarm.swift" && echo "$out" | grep -q 'database space exceeded'; echo $?)" \
    "$(cat "$work/alarm.etcd" "$work/alarm.swift"; echo "$out")"
  stop "$swift_pid"
else
  check "alarm: etcd-swift starts" 1 "$(tail -20 "$work/alarm.log")"
fi
unset EXTRA_FLAGS

# --- 2. kill -9 in the middle of acknowledged puts ----------------------------------------------
cp2=$(free_port); pp2=$(free_port); ep2=127.0.0.1:$cp2
ic2="m2=http://127.0.0.1:$pp2"
launch /usr/bin/etcd m2 "$work/kill" "$cp2" "$pp2" "$ic2" ; etcd_pid=$pid
wait_healthy "$ep2" "$etcd_pid" || { echo "real etcd did not start"; exit 1; }
python3 - "$ep2" >"$work/acked" 2>/dev/null <<'PY' &
import subprocess, sys
i = 0
while True:
    r = subprocess.run(["etcdctl", "--endpoints", sys.argv[1], "--dial-timeout", "1s", "--command-timeout", "2s",
                        "put", "s%05d" % i, "v%d" % i], capture_output=True)
    if r.returncode != 0:
        break
    print("s%05d" % i, flush=True)
    i += 1
PY
writer=$!
sleep 3
kill -9 "$etcd_pid"; wait "$etcd_pid" 2>/dev/null; wait "$writer" 2>/dev/null
launch "$swift_bin" m2 "$work/kill" "$cp2" "$pp2" "$ic2"; swift_pid=$pid
if wait_healthy "$ep2" "$swift_pid"; then
  etcdctl --endpoints "$ep2" get s --prefix --keys-only | grep . | sort >"$work/kill.have"
  missing=$(comm -23 <(sort "$work/acked") "$work/kill.have")
  check "kill -9: all $(wc -l <"$work/acked") acknowledged puts are in etcd-swift" "$([ -z "$missing" ] && [ -s "$work/acked" ]; echo $?)" "$missing"
  stop "$swift_pid"
else
  check "kill -9: etcd-swift starts on the killed member's data dir" 1 "$(tail -20 "$work/kill.log")"
fi

# --- 3. snapshot restore: one member, three members ---------------------------------------------
cp3=$(free_port); pp3=$(free_port); ep3=127.0.0.1:$cp3
ic3="r1=http://127.0.0.1:$pp3"
etcdctl snapshot restore "$work/etcd.snapshot.db" --data-dir "$work/r1" --name r1 --initial-cluster "$ic3" \
  --initial-advertise-peer-urls "http://127.0.0.1:$pp3" >"$work/r1.restore" 2>&1
launch "$swift_bin" r1 "$work/r1" "$cp3" "$pp3" "$ic3"; swift_pid=$pid
if wait_healthy "$ep3" "$swift_pid" root:rootpw; then
  # The restored member has a new cluster: compare everything but ids and member list.
  strip() { grep -v '^revision\|^[0-9]* m1 \|^[0-9]* r1 ' "$1" | sed '/^## members/d'; }
  state "$ep3" root:rootpw >"$work/r1.swift" 2>&1
  rev_e=$(grep '^revision' "$work/one.etcd" | awk '{print $2}'); rev_s=$(grep '^revision' "$work/r1.swift" | awk '{print $2}')
  check "restore, one member: keys, leases, auth as in the snapshot" \
    "$(diff <(strip "$work/one.etcd") <(strip "$work/r1.swift") >/dev/null && [ "$rev_e" = "$rev_s" ]; echo $?)" \
    "$(diff <(strip "$work/one.etcd") <(strip "$work/r1.swift")); revisions $rev_e / $rev_s"
  stop "$swift_pid"
else
  check "restore, one member: etcd-swift starts" 1 "$(tail -20 "$work/r1.log")"
fi

ports=(); ic=""
for n in 1 2 3; do c=$(free_port); p=$(free_port); ports+=("$c:$p"); ic="$ic${ic:+,}t$n=http://127.0.0.1:$p"; done
tpids=()
for n in 1 2 3; do
  p=${ports[$((n - 1))]#*:}
  etcdctl snapshot restore "$work/etcd.snapshot.db" --data-dir "$work/t$n" --name "t$n" --initial-cluster "$ic" \
    --initial-cluster-token three --initial-advertise-peer-urls "http://127.0.0.1:$p" >"$work/t$n.restore" 2>&1
done
for n in 1 2 3; do
  c=${ports[$((n - 1))]%:*}; p=${ports[$((n - 1))]#*:}
  launch "$swift_bin" "t$n" "$work/t$n" "$c" "$p" "$ic"; tpids+=("$pid")
done
ok=0
for n in 1 2 3; do wait_healthy "127.0.0.1:${ports[$((n - 1))]%:*}" "${tpids[$((n - 1))]}" root:rootpw || ok=1; done
if [ $ok -eq 0 ]; then
  etcdctl --endpoints "127.0.0.1:${ports[0]%:*}" --user root:rootpw put three yes >/dev/null 2>&1
  sleep 1
  for n in 1 2 3; do
    etcdctl --endpoints "127.0.0.1:${ports[$((n - 1))]%:*}" --user root:rootpw get "" --prefix --consistency=s -w json |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["header"]["revision"], [(k["key"], k["value"], k["mod_revision"]) for k in d["kvs"]])' \
      >"$work/t$n.get" 2>&1
  done
  members=$(etcdctl --endpoints "127.0.0.1:${ports[1]%:*}" --user root:rootpw member list | wc -l)
  check "restore, three members: one cluster of 3, same keys and revisions on each" \
    "$(cmp -s "$work/t1.get" "$work/t2.get" && cmp -s "$work/t1.get" "$work/t3.get" && [ "$members" = 3 ] && [ "$(cut -d' ' -f1 "$work/t1.get")" = $((rev_e + 1)) ]; echo $?)" \
    "$(head -c 300 "$work/t1.get"; echo; head -c 300 "$work/t2.get"; echo; echo "members $members")"
else
  check "restore, three members: all three start" 1 "$(for n in 1 2 3; do tail -5 "$work/t$n.log"; done)"
fi
for p in "${tpids[@]}"; do stop "$p"; done

# --- 4. rolling move: one member of a three-member etcd cluster becomes etcd-swift -------------
ports=(); ic=""
for n in 1 2 3; do c=$(free_port); p=$(free_port); ports+=("$c:$p"); ic="$ic${ic:+,}e$n=http://127.0.0.1:$p"; done
epids=()
for n in 1 2 3; do
  launch /usr/bin/etcd "e$n" "$work/e$n" "${ports[$((n - 1))]%:*}" "${ports[$((n - 1))]#*:}" "$ic"; epids+=("$pid")
done
ok=0
for n in 1 2 3; do wait_healthy "127.0.0.1:${ports[$((n - 1))]%:*}" "${epids[$((n - 1))]}" || ok=1; done
e1=127.0.0.1:${ports[0]%:*}; e3=127.0.0.1:${ports[2]%:*}
if [ $ok -eq 0 ]; then
  for i in $(seq 1 20); do etcdctl --endpoints "$e1" put "r$i" "v$i" >/dev/null; done
  stop "${epids[2]}"
  # Written while e3 is down: e3 (now etcd-swift) must get these from the etcd leader.
  for i in $(seq 21 30); do etcdctl --endpoints "$e1" put "r$i" "v$i" >/dev/null; done
  launch "$swift_bin" e3 "$work/e3" "${ports[2]%:*}" "${ports[2]#*:}" "$ic"; epids[2]=$pid
  if wait_healthy "$e3" "$pid"; then
    etcdctl --endpoints "$e3" put via-swift yes >/dev/null 2>&1; st=$?
    sleep 1
    a=$(etcdctl --endpoints "$e1" get r --prefix --consistency=s -w json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["header"]["revision"], [(k["key"], k["mod_revision"]) for k in d["kvs"]])')
    b=$(etcdctl --endpoints "$e3" get r --prefix --consistency=s -w json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["header"]["revision"], [(k["key"], k["mod_revision"]) for k in d["kvs"]])')
    v=$(etcdctl --endpoints "$e1" get via-swift --print-value-only 2>&1)
    check "rolling move: an etcd member restarted as etcd-swift rejoins its etcd cluster, catches up and takes writes" \
      "$([ "$a" = "$b" ] && [ $st -eq 0 ] && [ "$v" = yes ]; echo $?)" "$a"$'\n'"$b"$'\n'"put $st, read back '$v'"
  else
    check "rolling move: etcd-swift starts on an etcd cluster member's dir" 1 "$(tail -20 "$work/e3.log")"
  fi
else
  check "rolling move: the etcd cluster starts" 1 "$(tail -5 "$work/e1.log")"
fi
for p in "${epids[@]}"; do stop "$p"; done

# --- 5. a damaged etcd WAL: a clear error at start, nothing half imported -----------------------
cp -r "$work/e2" "$work/bad"
seg=$(ls "$work/bad/member/wal/"*.wal | head -1)
# Flip a byte of the put of r15 (record data is CRC-checked; padding is not, as in etcd).
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); i=b.index(b"r15"); b[i+1]^=0x20; open(p,"wb").write(b)' "$seg"
# Should it start anyway, its ports are its own and it is stopped after 10 s.
timeout 10 "$swift_bin" --name e2 --data-dir "$work/bad" --listen-client-urls "http://127.0.0.1:$(free_port)" \
  --advertise-client-urls "http://127.0.0.1:$(free_port)" --listen-peer-urls "http://127.0.0.1:$(free_port)" \
  >"$work/bad.log" 2>&1; st=$?
check "corrupt WAL: etcd-swift refuses to start, names the file, imports nothing" \
  "$([ $st -ne 0 ] && grep -q "corrupt WAL record in $seg" "$work/bad.log" && [ ! -e "$work/bad/member/etcd-swift" ]; echo $?)" \
  "exit $st; $(tail -3 "$work/bad.log")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
