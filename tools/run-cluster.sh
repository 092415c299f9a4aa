#!/usr/bin/env bash
# tools/run-cluster.sh BIN [CONFIG_DIR]
# A local three-member cluster in the foreground: BIN --config-file CONFIG_DIR/m1.yaml, m2.yaml,
# m3.yaml (default CONFIG_DIR: examples/ of this checkout: client ports 2379, 22379, 32379, peer
# ports 12380, 22380, 32380, data under /tmp/etcd-swift-cluster/). Each output line is prefixed
# with the member's name. Ctrl-C (SIGINT) or SIGTERM stops the followers, then the leader, and
# exits once all three are gone (a second Ctrl-C kills them at once). A member that exits by
# itself is reported and the others keep running; the script ends when none is left.
# BIN can be any binary taking etcd 3.4 flags (e.g. /usr/bin/etcd); a comma-separated list gives
# one binary per member.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
IFS=, read -r -a bins <<<"$1"
[ ${#bins[@]} -eq 1 ] && bins=("${bins[0]}" "${bins[0]}" "${bins[0]}")
[ ${#bins[@]} -eq 3 ] || { echo "run-cluster.sh: give one binary or three" >&2; exit 2; }
confdir=${2:-$here/../examples}
ETCDCTL=${ETCDCTL:-$(command -v etcdctl || true)}

for i in 1 2 3; do
  b=${bins[$((i - 1))]}
  [ -x "$b" ] && [ -f "$b" ] || { echo "run-cluster.sh: '$b' is not an executable file (build it first: make release)" >&2; exit 2; }
  bins[$((i - 1))]=$(readlink -f "$b")
  [ -r "$confdir/m$i.yaml" ] || { echo "run-cluster.sh: no $confdir/m$i.yaml" >&2; exit 2; }
done
# The YAML's listen and advertise ports must be free, or a member would fail (or join the wrong thing).
busy=""
for p in $(grep -hE '^ *(listen|advertise|initial-advertise)[a-z-]*-urls:' "$confdir"/m[123].yaml |
           grep -oE ':[0-9]+' | tr -d : | sort -u); do
  ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && busy+=" $p"
done
[ -z "$busy" ] || { echo "run-cluster.sh: port(s)$busy already in use (another cluster running?)" >&2; exit 1; }
client_eps=$(grep -hE '^ *advertise-client-urls:' "$confdir"/m[123].yaml | sed 's/^[^:]*: *//' | paste -sd, -)
data_dirs=$(grep -hE '^ *data-dir:' "$confdir"/m[123].yaml | sed 's/^[^:]*: *//' | tr '\n' ' ')

declare -a pids
# Each member runs in its own session (setsid), so Ctrl-C in the terminal reaches only this script,
# which then stops the members in a good order. The prefixing sed ignores INT and TERM (it is in the
# terminal's process group) and ends when its member closes the pipe: a member never gets SIGPIPE.
for i in 1 2 3; do
  setsid "${bins[$((i - 1))]}" --config-file "$confdir/m$i.yaml" \
    > >(trap '' INT TERM; exec sed -u "s/^/m$i | /") 2>&1 < /dev/null &
  pids[$i]=$!
done
echo "run-cluster: m1 pid ${pids[1]}, m2 pid ${pids[2]}, m3 pid ${pids[3]}; clients: $client_eps; data: $data_dirs"
echo "run-cluster: Ctrl-C stops all three (fresh start: rm -rf $data_dirs)"

alive() { [ -n "${pids[$1]}" ] && kill -0 "${pids[$1]}" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/${pids[$1]}/stat" 2>/dev/null)" != Z ]; }
reap() { # I: collect an exited member and say how it ended
  local rc
  wait "${pids[$1]}" 2>/dev/null; rc=$?
  echo "run-cluster: m$1 (pid ${pids[$1]}) exited with status $rc$([ $rc -gt 128 ] && echo " (signal $((rc - 128)))")"
  pids[$1]=""
}
wait_gone() { # SECONDS I...: true when the listed members have exited
  local end=$((SECONDS + $1)) i left; shift
  while :; do
    left=0
    for i in "$@"; do alive "$i" && left=1; done
    [ $left = 0 ] && return 0
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
}

stopping=0
shutdown() {
  if [ $stopping = 1 ]; then # second signal: no more waiting
    for i in 1 2 3; do alive "$i" && kill -KILL "${pids[$i]}" 2>/dev/null; done
    return
  fi
  stopping=1
  echo "run-cluster: stopping"
  # etcd's leader hands leadership over on SIGTERM: stop the followers first so it does not wait for them.
  local lead="" i eps="" line
  for i in 1 2 3; do alive "$i" && eps+="${eps:+,}$(echo "$client_eps" | cut -d, -f$i)"; done
  if [ -n "$ETCDCTL" ] && [ -n "$eps" ]; then
    while IFS= read -r line; do
      [ "$(echo "$line" | awk -F', ' '{print $5}')" = true ] || continue
      for i in 1 2 3; do [ "$(echo "$line" | awk -F', ' '{print $1}')" = "$(echo "$client_eps" | cut -d, -f$i)" ] && lead=$i; done
    done < <(ETCDCTL_API=3 timeout 5 "$ETCDCTL" --endpoints "$eps" --dial-timeout=1s --command-timeout=2s endpoint status 2>/dev/null)
  fi
  local followers=""
  for i in 1 2 3; do [ "$i" != "$lead" ] && alive "$i" && { kill -TERM "${pids[$i]}"; followers+=" $i"; }; done
  wait_gone 10 $followers
  [ -n "$lead" ] && alive "$lead" && kill -TERM "${pids[$lead]}"
  if ! wait_gone 10 1 2 3; then
    echo "run-cluster: members still running 10 s after SIGTERM; sending SIGKILL"
    for i in 1 2 3; do alive "$i" && kill -KILL "${pids[$i]}" 2>/dev/null; done
    wait_gone 5 1 2 3
  fi
}
trap shutdown INT TERM HUP
trap 'for i in 1 2 3; do alive $i && kill -KILL "${pids[$i]}" 2>/dev/null; done' EXIT

while :; do
  left=0
  for i in 1 2 3; do
    [ -n "${pids[$i]}" ] || continue
    if alive "$i"; then left=1; else reap "$i"; fi
  done
  [ $left = 1 ] || break
  sleep 0.5
done
sleep 0.1 # let the prefixing sed processes flush the last lines
echo "run-cluster: all members stopped"
[ $stopping = 1 ]
