#!/bin/sh
# Makes the etcd 3.4 data-dir fixtures of Tests/EtcdDataDirTests/Fixtures with real etcd:
#   basic/   a member that wrote puts, a delete and a compaction with --snapshot-count 8, so its
#            WAL holds snapshot marks and member/snap holds .snap files; stopped cleanly.
# WAL segments are preallocated to 64 MB: each is stored cut after its last non-zero 8-byte word
# (the reader treats the end of the file as the zero-filled tail etcd leaves). Needs /usr/bin/etcd
# and /usr/bin/etcdctl. Usage: tools/make-etcd-datadir-fixtures.sh
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/Tests/EtcdDataDirTests/Fixtures"
ETCD=${ETCD:-/usr/bin/etcd}
ETCDCTL=${ETCDCTL:-/usr/bin/etcdctl}
TMP=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

port() { echo $((40000 + $(od -An -N2 -tu2 /dev/urandom) % 20000)); }
CP=$(port); PP=$((CP + 1))
EP=http://127.0.0.1:$CP
"$ETCD" --name fx --data-dir "$TMP/basic" --snapshot-count 8 \
    --listen-client-urls $EP --advertise-client-urls $EP \
    --listen-peer-urls http://127.0.0.1:$PP --initial-advertise-peer-urls http://127.0.0.1:$PP \
    --initial-cluster fx=http://127.0.0.1:$PP >"$TMP/etcd.log" 2>&1 &
PID=$!
i=0
until "$ETCDCTL" --endpoints $EP endpoint health >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat "$TMP/etcd.log" >&2; exit 1; }; sleep 0.1
done
ctl() { "$ETCDCTL" --endpoints $EP "$@" >/dev/null; }
for k in 1 2 3 4 5 6 7 8 9 10; do ctl put "k$k" "v$k"; done
ctl put k1 v1b
ctl del k2
REV=$("$ETCDCTL" --endpoints $EP get k1 -w json | sed 's/.*"revision":\([0-9]*\).*/\1/')
ctl compact "$REV"
for k in 11 12 13; do ctl put "k$k" "v$k"; done
kill -TERM "$PID"; wait "$PID" || true; PID=""

# trim FILE: cuts FILE after its last non-zero 8-byte word.
trim() {
    python3 - "$1" <<'PY'
import sys
p = sys.argv[1]
b = open(p, 'rb').read()
n = len(b.rstrip(b'\0'))
n = (n + 7) // 8 * 8
open(p, 'r+b').truncate(n)
PY
}
for f in "$TMP"/basic/member/wal/*.wal; do trim "$f"; done
rm -rf "$OUT/basic"
mkdir -p "$OUT/basic/member"
cp -r "$TMP/basic/member/wal" "$TMP/basic/member/snap" "$OUT/basic/member/"
gzip -9 -n "$OUT/basic/member/snap/db"
du -sh "$OUT/basic"
ls -l "$OUT"/basic/member/*
