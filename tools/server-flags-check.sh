#!/usr/bin/env bash
# tools/server-flags-check.sh ETCD_SWIFT_BINARY
# Server flags next to real etcd 3.4; exit status 0 only when both behave alike.
# --auto-compaction-retention: with a periodic retention of 1s, history older than that is
# compacted by itself (a read at an old revision fails as compacted, the log says "compactor:
# Finished auto-compaction at revision N"); a retention that is not a duration stops the start
# with etcd's message.
# --experimental-watch-progress-notify-interval: a progress_notify watcher (python etcd3) of an
# idle key gets empty responses at that interval (200ms: at least 5 in 2 s).
# --grpc-keepalive-*: a client pinging every 100 ms without a call open gets GOAWAY
# ENHANCE_YOUR_CALM "too_many_pings" after its fourth ping (default --grpc-keepalive-min-time);
# with --grpc-keepalive-interval=1s --grpc-keepalive-timeout=1s an idle client that never answers
# is pinged after 1 s and dropped 1 s later (tools/h2-keepalive-probe.py, raw HTTP/2).
# --unsafe-no-fsync: after 50 puts the WAL fsync histogram counts fewer than 10 (etcd: the 2 of
# the WAL's creation; without the flag, 50 or more).
# --debug: etcd's deprecation warning on standard error, and the member serves. (etcd then also
# logs every gRPC request in Go's text format; etcd-swift does not.)
set -u
swift_bin=$(readlink -f "$1")
work=$(mktemp -d /tmp/etcd-swift-flags.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ctl() { ETCDCTL_API=3 timeout 10 etcdctl --endpoints "$ep" --dial-timeout 2s "$@"; }
fail=0
same() { # WHAT WANT GOT
  if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: got '$3', etcd answers '$2'"; fail=1; fi
}

start() { # NAME BINARY FLAGS... -> $ep, $pid
  local name=$1 bin=$2 c p
  shift 2
  c=$(free_port); p=$(free_port)
  "$bin" --name m --data-dir "$work/$name.data" "$@" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "m=http://127.0.0.1:$p" > "$work/$name.log" 2>&1 &
  pid=$!; pids+=("$pid")
  ep="127.0.0.1:$c"
  for _ in $(seq 1 100); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
}

run() { # NAME BINARY -> the read at revision 2 after the history aged, and whether the log says so
  local name=$1 bin=$2 i
  start "$name" "$bin" --auto-compaction-retention=1s
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
progress() { # NAME BINARY -> whether a progress_notify watcher got 5 or more progress responses in 2 s
  start "$1" "$2" --experimental-watch-progress-notify-interval=200ms
  /usr/bin/python3 - "${ep#*:}" <<'PY'
import sys, time, etcd3
c = etcd3.client(host="127.0.0.1", port=int(sys.argv[1]))
c.put("foo", "bar")
got = []
wid = c.add_watch_callback("foo", got.append, progress_notify=True)
time.sleep(2)
c.cancel_watch(wid)
n = sum(1 for r in got if not isinstance(r, Exception) and not r.events)
print("5 or more progress responses" if n >= 5 else "%d progress responses" % n)
PY
  kill "$pid"; wait "$pid" 2>/dev/null
}
same "200ms watch progress notify interval" "$(progress real-progress /usr/bin/etcd)" "$(progress swift-progress "$swift_bin")"
keepalive() { # NAME BINARY MODE FLAGS... -> what the probe saw
  local name=$1 bin=$2 mode=$3
  shift 3
  start "$name" "$bin" "$@"
  timeout 20 python3 "$(dirname "$0")/h2-keepalive-probe.py" "${ep#*:}" "$mode"
  kill "$pid"; wait "$pid" 2>/dev/null
}
same "a client pinging every 100 ms" "$(keepalive real-pings /usr/bin/etcd pings)" "$(keepalive swift-pings "$swift_bin" pings)"
same "an idle client that never answers, 1s interval and timeout" \
  "$(keepalive real-idle /usr/bin/etcd idle --grpc-keepalive-interval=1s --grpc-keepalive-timeout=1s)" \
  "$(keepalive swift-idle "$swift_bin" idle --grpc-keepalive-interval=1s --grpc-keepalive-timeout=1s)"
fsyncs() { # NAME BINARY FLAGS... -> the WAL fsync count after 50 puts: "fewer than 10" or "50 or more"
  local name=$1 bin=$2 n i
  shift 2
  start "$name" "$bin" "$@"
  for i in $(seq 1 50); do ctl put "k$i" v > /dev/null; done
  n=$(curl -s "http://$ep/metrics" | awk '$1 == "etcd_disk_wal_fsync_duration_seconds_count" {print $2}')
  kill "$pid"; wait "$pid" 2>/dev/null
  case ${n:-x} in
    [0-9]) echo "fewer than 10" ;;
    *) if [ "${n:-0}" -ge 50 ] 2>/dev/null; then echo "50 or more"; else echo "count '${n:-}'"; fi ;;
  esac
}
same "WAL fsyncs with --unsafe-no-fsync" "$(fsyncs real-nofsync /usr/bin/etcd --unsafe-no-fsync)" "$(fsyncs swift-nofsync "$swift_bin" --unsafe-no-fsync)"
same "WAL fsyncs without it" "$(fsyncs real-fsync /usr/bin/etcd)" "$(fsyncs swift-fsync "$swift_bin")"
debug() { # NAME BINARY -> the warning etcd prints for --debug, and whether a put worked
  start "$1" "$2" --debug
  ctl put foo bar
  kill "$pid"; wait "$pid" 2>/dev/null
  grep -o "\[WARNING\] Deprecated '--debug' flag is set to true.*" "$work/$1.log" | head -n 1
}
same "--debug" "$(debug real-debug /usr/bin/etcd | tr '\n' ' ')" "$(debug swift-debug "$swift_bin" | tr '\n' ' ')"
exit $fail
