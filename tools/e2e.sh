#!/usr/bin/env bash
# tools/e2e.sh ETCD_BINARY [REGEX]
# Runs etcd 3.4's own end-to-end suite (tests/e2e from Debian's golang-etcd-server-dev) against
# ETCD_BINARY, with the real etcdctl beside it. REGEX selects tests; by default the ones the
# Foundation issue requires (tools/e2e-required.txt). Prints "PASS|FAIL|SKIP name (secs)" per
# test and ends with "N passed, M failed". Exit 0 only when nothing failed.
# Env: E2E_TIMEOUT (default 20m), E2E_CACHE (compiled suite, default ~/.cache/etcd-swift-e2e),
#      E2E_LOG (full log), ETCDCTL (default /usr/bin/etcdctl), E2E_LAST_RELEASE (a binary the suite
#      finds as etcd-last-release: TestReleaseUpgrade* start a cluster of it, then restart the
#      members with ETCD_BINARY on the same data dirs; without it they are skipped).
set -u
[ $# -ge 1 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
bin=$(readlink -f "$1")
[ -x "$bin" ] || { echo "e2e: $1 is not an executable" >&2; exit 2; }
if [ $# -ge 2 ]; then
  regex=$2
else
  regex="^($(grep -v '^#' "$here/e2e-required.txt" | grep . | paste -sd'|'))\$"
fi
src=/usr/share/gocode/src/go.etcd.io/etcd
cache=${E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-swift-e2e}
suite=$cache/e2e.test
log=${E2E_LOG:-$(mktemp /tmp/e2e-log.XXXXXX)}
timeout=${E2E_TIMEOUT:-20m}

# The suite is compiled once and rebuilt when its sources change.
if [ ! -x "$suite" ] || [ -n "$(find "$src/tests/e2e" -name '*.go' -newer "$suite" | head -n 1)" ]; then
  mkdir -p "$cache"
  echo "e2e: compiling etcd's e2e suite (GOPATH mode, offline) ..." >&2
  (cd "$src" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=${GOCACHE:-$cache/gocache} \
     go test -c -o "$suite.new" ./tests/e2e) >&2 || { echo "e2e: compile failed" >&2; exit 1; }
  mv -f "$suite.new" "$suite"
fi

# The suite looks for BINDIR/etcd and BINDIR/etcdctl.
bindir=$(mktemp -d /tmp/e2e-bin.XXXXXX)
tmp=$(mktemp -d /tmp/e2e-tmp.XXXXXX)
ln -s "$bin" "$bindir/etcd"
ln -s "$(readlink -f "${ETCDCTL:-/usr/bin/etcdctl}")" "$bindir/etcdctl"
if [ -n "${E2E_LAST_RELEASE:-}" ]; then
  last=$(readlink -f "$E2E_LAST_RELEASE")
  [ -x "$last" ] || { echo "e2e: E2E_LAST_RELEASE=$E2E_LAST_RELEASE is not an executable" >&2; exit 2; }
  ln -s "$last" "$bindir/etcd-last-release"
fi
marker="ETCD_SWIFT_E2E_RUN=$$.$RANDOM"

netns=()
# Servers the suite starts inherit the marker; whatever survives the run is killed by PID.
cleanup() {
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    { tr '\0' '\n' < "$p/environ" | grep -qx "$marker" && kill -9 "$pid"; } 2>/dev/null
  done
  rm -rf "$bindir" "$tmp"
  [ ${#netns[@]} -gt 0 ] && ip netns del "$ns" 2>/dev/null
  return 0
}
trap cleanup EXIT

# The suite binds fixed ports on 127.0.0.1. As root, it runs in a network namespace of its own
# (its own loopback), so two runs cannot take each other's ports and a member a failed test left
# behind holds nothing outside. E2E_NETNS=0 runs it in the machine's namespace.
if [ "${E2E_NETNS:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
  ns=etcd-swift-e2e-$$
  if ip netns add "$ns" 2>/dev/null && ip netns exec "$ns" ip link set lo up 2>/dev/null; then
    netns=(ip netns exec "$ns")
  else
    ip netns del "$ns" 2>/dev/null
    echo "e2e: no network namespace (ip netns failed); running on the machine's loopback" >&2
  fi
fi

start=$SECONDS
(cd "$src/tests/e2e" && "${netns[@]}" env "$marker" TMPDIR="$tmp" timeout -k 10 "$(( ${timeout%m} * 60 + 60 ))" \
   "$suite" -bin-dir "$bindir" -test.run "$regex" -test.v -test.timeout "$timeout" </dev/null) >"$log" 2>&1
rc=$?
grep -E '^--- (PASS|FAIL|SKIP): ' "$log" | sed -E 's/^--- (PASS|FAIL|SKIP): /\1 /'
started=$(grep -E '^=== RUN   [^/]+$' "$log" | awk '{print $3}' | sort -u)
ended=$(grep -E '^--- (PASS|FAIL|SKIP): ' "$log" | awk '{print $3}' | sort -u)
lost=$(comm -23 <(echo "$started") <(echo "$ended") | grep . || true)
for t in $lost; do echo "FAIL $t (no result: timeout or crash)"; done
passed=$(grep -cE '^--- PASS: ' "$log")
failed=$(( $(grep -cE '^--- FAIL: ' "$log") + $(echo -n "$lost" | grep -c . || true) ))
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && { echo "e2e: suite exited $rc; log tail:" >&2; tail -n 20 "$log" >&2; failed=1; }
echo "e2e: $((SECONDS - start)) s, log in $log" >&2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
