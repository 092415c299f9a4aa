#!/usr/bin/env bash
# tools/gateway-walkthrough.sh HOST:PORT
# The same curl calls of the JSON gateway (/v3/...) and the health endpoints, printed as
# "### call", the HTTP status line, the Content-Type and the body, so that the output against
# etcd-swift can be compared with real etcd's (tools/test-integration.sh does; run it against a
# fresh member of each). Keys live under "gw/".
set -u
ep=$1
step() { # NAME PATH [BODY] [curl args...]
  local name=$1 path=$2 body=${3-} ; shift 3 2>/dev/null || shift $#
  echo "### $name"
  curl -s -m 3 -D "$hdr" -o "$out" -X POST "$@" --data-binary "$body" "http://$ep$path"
  head -n 1 "$hdr" | tr -d '\r'
  grep -i '^content-type:' "$hdr" | tr -d '\r' | tr 'A-Z' 'a-z'
  cat "$out"; echo
}
get() { # NAME PATH
  echo "### $1"
  curl -s -m 3 -D "$hdr" -o "$out" "http://$ep$2"
  head -n 1 "$hdr" | tr -d '\r'
  grep -i '^content-type:' "$hdr" | tr -d '\r' | tr 'A-Z' 'a-z'
  cat "$out"; echo
}
hdr=$(mktemp); out=$(mktemp)
trap 'rm -f "$hdr" "$out"' EXIT
b64() { printf %s "$1" | base64 -w0; }
k1=$(b64 gw/a); k2=$(b64 gw/b); k3=$(b64 gw/c); end=$(b64 gw0)

step "put" /v3/kv/put "{\"key\":\"$k1\",\"value\":\"$(b64 one)\"}"
step "put prev_kv" /v3/kv/put "{\"key\":\"$k1\",\"value\":\"$(b64 'two <&> "q"')\",\"prev_kv\":true}"
step "put camelCase names" /v3/kv/put "{\"key\":\"$k2\",\"value\":\"$(b64 b)\",\"prevKv\":true}"
step "put v3beta" /v3beta/kv/put "{\"key\":\"$k3\",\"value\":\"\"}"
step "range prefix" /v3/kv/range "{\"key\":\"$k1\",\"range_end\":\"$end\"}"
step "range quoted ints, enums by name" /v3/kv/range \
  "{\"key\":\"$k1\",\"range_end\":\"$end\",\"limit\":\"2\",\"sort_order\":\"DESCEND\",\"sort_target\":\"MOD\"}"
step "range enums by number, keys only" /v3/kv/range "{\"key\":\"$k1\",\"rangeEnd\":\"$end\",\"sort_order\":1,\"keys_only\":true}"
step "range count only" /v3/kv/range "{\"key\":\"$k1\",\"range_end\":\"$end\",\"count_only\":true}"
step "range serializable, unknown fields" /v3/kv/range "{\"key\":\"$k1\",\"serializable\":true,\"nope\":[1,{\"x\":null}]}"
step "range null fields" /v3/kv/range "{\"key\":\"$k1\",\"range_end\":null,\"limit\":null}"
step "range empty key" /v3/kv/range '{"key":""}'
step "range empty body" /v3/kv/range ''
step "range null body" /v3/kv/range 'null'
step "range bad base64" /v3/kv/range '{"key":"Zm9"}'
step "range bad base64 char" /v3/kv/range '{"key":"Zm9v-_"}'
step "range fraction" /v3/kv/range "{\"key\":\"$k1\",\"limit\":1.5}"
step "range overflow" /v3/kv/range "{\"key\":\"$k1\",\"limit\":99999999999999999999}"
step "range quoted garbage" /v3/kv/range "{\"key\":\"$k1\",\"limit\":\"abc\"}"
step "range bool as string" /v3/kv/range "{\"key\":\"$k1\",\"serializable\":\"true\"}"
step "range bytes as number" /v3/kv/range '{"key":12}'
step "range array body" /v3/kv/range '[]'
step "range truncated" /v3/kv/range '{"key":'
step "range trailing comma" /v3/kv/range "{\"key\":\"$k1\",}"
step "range unknown enum" /v3/kv/range "{\"key\":\"$k1\",\"sort_order\":\"SIDEWAYS\"}"
step "range bad literal" /v3/kv/range '{"key":tru}'
step "range text content type" /v3/kv/range "{\"key\":\"$k1\"}" -H 'Content-Type: text/plain'
step "txn" /v3/kv/txn "{\"compare\":[{\"key\":\"$k1\",\"result\":\"EQUAL\",\"target\":\"CREATE\",\"create_revision\":\"0\"}],\
\"success\":[{\"request_put\":{\"key\":\"$k1\",\"value\":\"$(b64 x)\"}}],\
\"failure\":[{\"requestRange\":{\"key\":\"$k1\"}},{\"request_delete_range\":{\"key\":\"$k3\",\"prev_kv\":true}}]}"
step "txn e2e malformed" /v3/kv/txn \
  '{"compare":[{"result":0,"target":1,"key":"Zm9v","TargetUnion":null}],"success":[{"Request":{"RequestPut":{"key":"Zm9v","value":"YmFy"}}}]}'
step "txn unknown enum number" /v3/kv/txn "{\"compare\":[{\"result\":7,\"key\":\"$k1\"}]}"
step "deleterange" /v3/kv/deleterange "{\"key\":\"$k2\",\"prev_kv\":true}"
step "compaction future" /v3/kv/compaction '{"revision":"1000"}'
step "lease grant" /v3/lease/grant '{"TTL":"60","ID":4242}'
step "lease timetolive" /v3/lease/timetolive '{"ID":4242,"keys":true}'
step "kv lease timetolive alias" /v3/kv/lease/timetolive '{"ID":"4242"}'
step "lease leases" /v3/lease/leases '{}'
step "lease keepalive (stream)" /v3/lease/keepalive '{"ID":4242}{"ID":4242}'
step "lease keepalive unknown" /v3/lease/keepalive '{"ID":7}'
step "lease keepalive bad first" /v3/lease/keepalive '{"ID":true}'
step "lease revoke" /v3/kv/lease/revoke '{"ID":4242}'
step "lease revoke again" /v3/lease/revoke '{"ID":4242}'
step "watch history" /v3/watch "{\"create_request\":{\"key\":\"$k1\",\"start_revision\":\"1\",\"prev_kv\":true}}"
step "watch bad first" /v3/watch '{"create_request":{"key":5}}'
step "maintenance alarm list" /v3/maintenance/alarm '{"action":"GET"}'
step "maintenance hash (Hash, not HashKV)" /v3/maintenance/hash '{"revision":"3"}'
step "maintenance defragment" /v3/maintenance/defragment '{}'
step "election proclaim without leader" /v3/election/proclaim "{\"value\":\"$(b64 v2)\"}"
step "election resign without leader" /v3/election/resign '{}'
step "unknown path" /v3/kv/nothing '{}'
step "GET on a POST route" /v3/kv/range '' -X GET
step "options" /v3/kv/range '' -X OPTIONS
get "health" /health
get "health serializable" '/health?serializable=true'
get "health exclude" '/health?exclude=NOSPACE'
step "health POST" /health ''
get "not found" /nothing
