#!/usr/bin/env bash
# tools/auto-compaction-check.sh ETCD_SWIFT_BINARY
# --auto-compaction-retention next to real etcd 3.4: with a periodic retention of 1s, history older
# than that is compacted by itself (a read at an old revision fails as compacted, the log says
# "compactor: Finished auto-compaction at revision N"); a retention that is not a duration stops
# the start with etcd's message. Exit status 0 only when both behave alike.
set -u
swift_bin=$(readlink -f "$1")
work=$(mktemp -d /tmp/etcd-swift-autocompact.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ctl() { ETCDCTL_API=3 timeout 10 etcdctl --endpoints "$ep" --dial-timeout 2s "$@"; }
fail=0
same() { # WHAT WANT GOT
  if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: got '$3', etcd answers '$2'"; fail=1; fi
}

run() { # NAME BINARY -> the read at revision 2 after the history aged, and whether the log says so
  local name=$1 bin=$2 c p pid i
  c=$(free_port); p=$(free_port)
  "$bin" --name m --data-dir "$work/$name.data" --auto-compaction-retention=1s \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "m=http://127.0.0.1:$p" > "$work/$name.log" 2>&1 &
  pid=$!; pids+=("$pid")
  ep="127.0.0.1:$c"
  for _ in $(seq 1 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
  for i in 1 2 3 4 5; do ctl put foo "v$i" > /dev/null; done
  sleep 3
  ctl put foo v6 > /dev/null
  # A compaction is tried every tenth of the period; give the one after the last put time to land.
  sleep 1.5
  ctl get foo --rev=2 2>&1 | grep -v '^{' | tail -n 1
  grep -q 'compactor: Finished auto-compaction at revision [0-9]' "$work/$name.log" && echo "logged" || echo "not logged"
  kill "$pid"; wait "$pid" 2>/dev/null
}
same "1s retention: old revisions are compacted" "$(run real /usr/bin/etcd | tr '\n' ' ')" "$(run swift "$swift_bin" | tr '\n' ' ')"

bad() { timeout 10 "$1" --data-dir "$work/bad-$2.data" --auto-compaction-retention=abc 2>&1 | grep -o 'error parsing CompactionRetention.*'; }
same "a retention that is not a duration stops the start" "$(bad /usr/bin/etcd real)" "$(bad "$swift_bin" swift)"
exit $fail
