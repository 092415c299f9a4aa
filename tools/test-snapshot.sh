#!/usr/bin/env bash
# tools/test-snapshot.sh ETCD_SWIFT_BINARY
# etcd's backup path against etcd-swift, real etcd 3.4 as the oracle:
#  1. the same operations on real etcd, then (same ports, name and token, so the same member and
#     cluster IDs) on etcd-swift; `etcdctl snapshot save` from both; `snapshot status` must agree
#     (hash, revision, total keys) and real bbolt's dump of both files must be identical
#     (tools/bbolt-dump also runs bbolt's tx.Check);
#  2. on etcd-swift: a lease, a user and role, auth on; snapshot refused without root, taken with
#     it; the file has no etcd-swift-private meta keys;
#  3. `etcdctl snapshot restore` of etcd-swift's file, /usr/bin/etcd started on it: every key
#     (with revisions and lease), the revision, the lease and the member come back.
# Prints PASS/FAIL lines and "N passed, M failed"; exit status 0 only when all passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
swift_bin=$(readlink -f "$1")
work=$(mktemp -d /tmp/etcd-swift-snap.XXXXXX)
pid=
passed=0; failed=0
cleanup() { [ -n "$pid" ] && { kill -9 "$pid"; wait "$pid"; } 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
check() { if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"; else failed=$((failed + 1)); echo "FAIL $1"; [ -n "${3:-}" ] && echo "$3" | sed 's/^/    /'; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(free_port); pport=$(free_port)
ep="127.0.0.1:$cport"
auth_args=()  # credentials for the health check once auth is on
ctl() { ETCDCTL_API=3 etcdctl --endpoints "$ep" "$@"; }

start() { # NAME BINARY DATA-DIR
  "$2" --name m --data-dir "$3" \
    --listen-client-urls "http://$ep" --advertise-client-urls "http://$ep" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "m=http://127.0.0.1:$pport" >"$work/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    ctl "${auth_args[@]}" --dial-timeout 1s endpoint health >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "could not start $1; log:" >&2; tail -n 20 "$work/$1.log" >&2
  return 1
}
stop() { { kill "$pid"; wait "$pid"; } 2>/dev/null; pid=; }

# Real bbolt as the reader (GOPATH mode: bbolt is in /usr/share/gocode).
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/gocache" nice -n 19 \
  go build -o "$work/bbolt-dump" "$here/bbolt-dump/main.go" || { echo "FAIL building tools/bbolt-dump"; exit 1; }

# Ends with a put: etcd 3.4 saves its consistent index only with key writes, not compactions.
ops() {
  ctl put a 1 >/dev/null; ctl put b 2 >/dev/null; ctl put a 3 >/dev/null; ctl del b >/dev/null
  for i in $(seq -w 0 49); do ctl put "key$i" "$(printf 'v%s-%0300d' "$i" 0)" >/dev/null; done
  ctl compact 5 >/dev/null; ctl put z last >/dev/null
}
status() { etcdctl snapshot status "$1" -w json 2>&1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["hash"], d["revision"], d["totalKey"])' 2>&1; }

# Phase 2's operations: a lease with a key, users and a role, auth on.
ops2() {
  lease=$(ctl lease grant 3600 | awk '{print $2}')
  ctl put leased v --lease="$lease" >/dev/null
  ctl user add root:rootpw >/dev/null; ctl user grant-role root root >/dev/null
  ctl role add reader >/dev/null; ctl role grant-permission reader read a >/dev/null
  ctl user add alice:alicepw >/dev/null; ctl user grant-role alice reader >/dev/null
  ctl auth enable >"$work/auth.out" 2>&1
}

start etcd /usr/bin/etcd "$work/etcd.data" || exit 1
ops; ctl snapshot save "$work/etcd.db" >/dev/null 2>&1
ops2; ctl --user root:rootpw snapshot save "$work/etcd2.db" >/dev/null 2>&1
stop
start swift "$swift_bin" "$work/swift.data" || exit 1
ops; ctl snapshot save "$work/swift.db" >"$work/save.out" 2>&1
check "etcdctl snapshot save from etcd-swift" $? "$(tail -n 3 "$work/save.out")"
want=$(status "$work/etcd.db"); got=$(status "$work/swift.db")
[ -n "$want" ] && [ "$want" = "$got" ]
check "snapshot status (hash revision totalKey) equals real etcd's: $got" $? "want $want"
"$work/bbolt-dump" "$work/etcd.db" >"$work/etcd.dump" && "$work/bbolt-dump" "$work/swift.db" >"$work/swift.dump" 2>"$work/dump.err" &&
  diff "$work/etcd.dump" "$work/swift.dump" >"$work/dump.diff"
check "bbolt tx.Check passes and every bucket is byte-for-byte real etcd's ($(wc -l <"$work/swift.dump") entries)" $? \
  "$(cat "$work/dump.err"; head -n 10 "$work/dump.diff")"

# 2: lease, auth, root-only snapshot.
ops2
check "auth enable" $? "$(cat "$work/auth.out")"
ctl snapshot save "$work/denied.db" >/dev/null 2>&1
[ $? -ne 0 ] && [ ! -e "$work/denied.db" ]
check "snapshot without credentials is refused once auth is on" $?
ctl --user alice:alicepw snapshot save "$work/denied.db" >/dev/null 2>&1
[ $? -ne 0 ]
check "snapshot by a non-root user is refused" $?
ctl --user root:rootpw snapshot save "$work/swift2.db" >"$work/save2.out" 2>&1
check "snapshot by root" $? "$(tail -n 3 "$work/save2.out")"
"$work/bbolt-dump" "$work/swift2.db" >"$work/swift2.dump" 2>"$work/dump.err" && ! grep -q "^meta	$(printf 'etcd-swift-' | xxd -p)" "$work/swift2.dump"
check "the file passes tx.Check and holds no etcd-swift-private meta key" $? "$(cat "$work/dump.err")"
# Against real etcd's phase-2 file: what cannot match is left out (the lease's id, chosen at
# random, in the lease bucket and the leased key's value; bcrypt's salted hashes in authUsers;
# the consistent index, which etcd 3.4 saves only with key writes). The rest is byte for byte.
"$work/bbolt-dump" "$work/etcd2.db" >"$work/etcd2.dump"
python3 - "$work/etcd2.dump" "$work/swift2.dump" >"$work/cmp2.out" 2>&1 <<'PY'
import sys
def load(p):
    d = {}
    for line in open(p):
        b, k, v = line.rstrip("\n").split("\t")
        d.setdefault(b, []).append((k, v))
    return d
e, s = load(sys.argv[1]), load(sys.argv[2])
bad = []
if sorted(e) != sorted(s): bad.append("buckets %s vs %s" % (sorted(e), sorted(s)))
leased = "leased".encode().hex()
for b in sorted(set(e) & set(s)):
    x, y = e[b], s[b]
    if b in ("lease", "authUsers", "meta"): x, y = [k for k, _ in x], [k for k, _ in y]
    elif b == "key":
        x = [(k, v) if leased not in v else (k, "leased") for k, v in x]
        y = [(k, v) if leased not in v else (k, "leased") for k, v in y]
    if b == "lease" and len(x) == len(y): continue
    if x != y: bad.append("bucket %s differs:\n  etcd  %s\n  swift %s" % (b, str(x)[:300], str(y)[:300]))
print("\n".join(bad)); sys.exit(1 if bad else 0)
PY
check "after leases and auth, every bucket matches real etcd's but for random ids, salts and the index" $? "$(cat "$work/cmp2.out")"
want=$(status "$work/etcd2.db" | cut -d' ' -f2-); got=$(status "$work/swift2.db" | cut -d' ' -f2-)
[ -n "$want" ] && [ "$want" = "$got" ]
check "snapshot status revision and totalKey equal real etcd's after leases and auth: $got" $? "want $want"
before=$(ctl --user root:rootpw get "" --prefix -w json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["header"]["revision"], json.dumps(d["kvs"], sort_keys=True))')
ls -1 "$work/swift.data/member/snap" | grep -c "export" >"$work/leftover"; [ "$(cat "$work/leftover")" = 0 ]
check "the temporary export file is gone" $?
stop

# 3: restore etcd-swift's snapshot and start real etcd on it.
etcdctl snapshot restore "$work/swift2.db" --data-dir "$work/restored" --name m \
  --initial-cluster "m=http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" >"$work/restore.out" 2>&1
check "etcdctl snapshot restore of etcd-swift's snapshot" $? "$(tail -n 3 "$work/restore.out")"
auth_args=(--user root:rootpw)
start restored /usr/bin/etcd "$work/restored" || { check "real etcd starts on the restored data dir" 1; echo "$passed passed, $failed failed"; exit 1; }
after=$(ctl --user root:rootpw get "" --prefix -w json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["header"]["revision"], json.dumps(d["kvs"], sort_keys=True))')
[ -n "$before" ] && [ "$before" = "$after" ]
check "real etcd on the restore has every key, revision and lease field ($(echo "$after" | cut -c1-40)...)" $? "before: ${before:0:300}
after:  ${after:0:300}"
ctl --user root:rootpw lease timetolive "$lease" --keys 2>&1 | grep -q "attached keys(\[leased\])"
check "the lease and its key came back" $? "$(ctl --user root:rootpw lease timetolive "$lease" --keys 2>&1)"
ctl --user root:rootpw member list 2>&1 | grep -q "started, m, http://127.0.0.1:$pport"
check "the member list is the restored member" $? "$(ctl --user root:rootpw member list 2>&1)"
ctl --user root:rootpw user list 2>&1 | tr '\n' ' ' | grep -q "alice root"
check "auth users came back (auth enabled: root needed)" $? "$(ctl --user root:rootpw user list 2>&1)"
stop
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
