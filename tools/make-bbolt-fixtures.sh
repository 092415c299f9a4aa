#!/usr/bin/env bash
# tools/make-bbolt-fixtures.sh [OUT_DIR]
# Writes the bbolt fixtures the Bbolt unit tests read (default Tests/BboltTests/Fixtures): real
# etcd 3.4 (/usr/bin/etcd) on loopback is given known data (puts, an overwrite, deletes, a lease
# with a key, a compaction, a user and role), then `etcdctl snapshot save` takes etcd.db. The
# operations are fixed so the tests can assert exactly what the file must hold. Re-run only when
# the fixtures must change; the files are committed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../Tests/BboltTests/Fixtures}
mkdir -p "$out"
work=$(mktemp -d /tmp/bbolt-fixtures.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && { kill "$pid"; wait "$pid"; } 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port() { echo $((40000 + RANDOM % 20000)); }
cport=$(port); pport=$(port)
/usr/bin/etcd --name fixture --data-dir "$work/data" \
  --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "fixture=http://127.0.0.1:$pport" >"$work/etcd.log" 2>&1 &
pid=$!
ctl() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$cport" "$@"; }
for _ in $(seq 1 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
# Revisions 2..: a, b, c, a again, delete b, 100 keys k000..k099 (enough for several leaf pages),
# a lease-bound key, a compaction at the revision after the deletes.
ctl put a 1 >/dev/null; ctl put b 2 >/dev/null; ctl put c 3 >/dev/null; ctl put a 1b >/dev/null
ctl del b >/dev/null
for i in $(seq -w 0 99); do ctl put "k0$i" "$(printf 'value-%s-%0200d' "$i" 0)" >/dev/null; done
lease=$(ctl lease grant 3600 | awk '{print $2}')
ctl put leased yes --lease="$lease" >/dev/null
ctl compact 6 >/dev/null
ctl user add root:rootpw >/dev/null; ctl role add reader >/dev/null
ctl role grant-permission reader read a >/dev/null
ctl snapshot save "$work/etcd.db" >/dev/null 2>&1
cp "$work/etcd.db" "$out/etcd.db"
ctl snapshot status "$work/etcd.db" -w json > "$out/etcd.status.json" 2>/dev/null
echo "$lease" > "$out/etcd.lease"
echo "wrote $out/etcd.db ($(stat -c %s "$out/etcd.db") bytes): $(cat "$out/etcd.status.json")"
