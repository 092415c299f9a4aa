#!/usr/bin/env bash
# tools/client-port-access-check.sh ETCD_SWIFT_BINARY
# etcd's access controller on the client port, next to real etcd 3.4; exit status 0 only when every
# answer matched (status, content type, Access-Control-Allow-Origin and body, with ids, revisions
# and tokens blanked).
# 1. Plain HTTP with --host-whitelist and --cors: a request naming another host is refused (421,
#    DNS rebinding), CORS headers name an allowed Origin and are left out for another.
# 2. TLS with --client-cert-auth (a CA, a server certificate and two client certificates, CN alice
#    and none, made by openssl; the same users and roles set up through etcdctl): with auth
#    enabled etcd refuses a request under /v3/ from a certificate with a common name (its gateway
#    would not act as that user), still answers /health, and a gateway call from a certificate
#    without a common name acts as no user (the server certificate's, gateway-user here, is not
#    used either) unless it carries a token.
set -u
swift_bin=$(readlink -f "$1")
for tool in openssl curl etcdctl python3; do command -v "$tool" >/dev/null || { echo "client-port-access-check: '$tool' not found" >&2; exit 2; }; done
work=$(mktemp -d /tmp/etcd-swift-access.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- a CA, the server's certificate (also good for clients, as etcd's gateway uses it) and alice's.
pki=$work/pki; mkdir -p "$pki"
cert() { # NAME CN EKU [SAN]
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/$1.key" -subj "/CN=$2" -out "$pki/$1.csr" 2>/dev/null &&
  printf 'extendedKeyUsage=%s\n%s' "$3" "${4:+subjectAltName=$4}" > "$pki/$1.ext" &&
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -subj "/CN=test-ca" -days 2 -out "$pki/ca.crt" 2>/dev/null &&
  cert server gateway-user serverAuth,clientAuth IP:127.0.0.1 && cert alice alice clientAuth &&
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/nocn.key" -subj "/O=no-common-name" -out "$pki/nocn.csr" 2>/dev/null &&
  printf 'extendedKeyUsage=clientAuth\n' > "$pki/nocn.ext" &&
  openssl x509 -req -in "$pki/nocn.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile "$pki/nocn.ext" -out "$pki/nocn.crt" 2>/dev/null ||
  { echo "client-port-access-check: openssl failed" >&2; exit 2; }

start() { # NAME BINARY SCHEME FLAGS... -> $ep
  local name=$1 bin=$2 scheme=$3 c p
  shift 3
  c=$(free_port); p=$(free_port)
  "$bin" --name m --data-dir "$work/$name.data" "$@" \
    --listen-client-urls "$scheme://127.0.0.1:$c" --advertise-client-urls "$scheme://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "m=http://127.0.0.1:$p" > "$work/$name.log" 2>&1 &
  pids+=("$!")
  ep="127.0.0.1:$c"
  for _ in $(seq 1 100); do
    if [ "$scheme" = https ]; then ctl "$ep" endpoint health >/dev/null 2>&1 && return 0
    else curl -s -m 1 "http://$ep/health" | grep -q true && return 0; fi
    sleep 0.1
  done
  echo "could not start $name"; tail -n 20 "$work/$name.log"; return 1
}
ctl() { # EP etcdctl-args... (as alice, by her certificate)
  local ep=$1; shift
  ETCDCTL_API=3 timeout 10 etcdctl --endpoints "https://$ep" --cacert "$pki/ca.crt" --cert "$pki/alice.crt" --key "$pki/alice.key" \
    --dial-timeout 2s "$@"
}
setup() { # EP: users root, gateway-user (reads foo) and alice (reads and writes a*); auth stays off
  local ep=$1
  { ctl "$ep" put foo bar && ctl "$ep" put apple red &&
    ctl "$ep" user add root:rootpw && ctl "$ep" user add gateway-user --no-password &&
    ctl "$ep" user add alice --no-password && ctl "$ep" role add reader && ctl "$ep" role add writer &&
    ctl "$ep" role grant-permission reader read foo && ctl "$ep" role grant-permission writer readwrite a --prefix &&
    ctl "$ep" user grant-role gateway-user reader && ctl "$ep" user grant-role alice writer; } > "$work/setup.out" 2>&1 ||
    { echo "setup failed on $ep:"; cat "$work/setup.out"; return 1; }
}

ask() { # URL CERT METHOD PATH [JSON [TOKEN [HEADER...]]] -> "status content-type allow-origin body"
  local url=$1 cert=$2 method=$3 path=$4 json=${5:-} token=${6:-}
  shift $(( $# < 6 ? $# : 6 ))
  local args=(-s -m 10 -o "$work/out" -D "$work/headers" -w '%{http_code} %{content_type}' -X "$method")
  [ "$cert" != - ] && args+=(--cacert "$pki/ca.crt" --cert "$pki/$cert.crt" --key "$pki/$cert.key")
  [ -n "$json" ] && args+=(-H 'content-type: application/json' -d "$json")
  [ -n "$token" ] && args+=(-H "Authorization: $token")
  local h
  for h in "$@"; do args+=(-H "$h"); done
  local head origin
  head=$(curl "${args[@]}" "$url$path")
  origin=$(grep -i '^access-control-allow-origin:' "$work/headers" | tr -d '\r' | cut -d' ' -f2-)
  echo "$head [${origin}] $(tr -d '\n' < "$work/out")" |
    sed -E -e 's/"(cluster_id|member_id|revision|raft_term|create_revision|mod_revision)":"[0-9]+"/"\1":"-"/g' \
           -e 's/"token":"[^"]*"/"token":"-"/g'
}
token() { # EP -> root's token (asked with the certificate without a common name)
  curl -s -m 10 --cacert "$pki/ca.crt" --cert "$pki/nocn.crt" --key "$pki/nocn.key" -X POST \
    -d '{"name":"root","password":"rootpw"}' "https://$1/v3/auth/authenticate" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("token",""))' 2>/dev/null
}

fail=0
same() { # WHAT WANT GOT
  if [ "$2" = "$3" ]; then echo "ok   $1: ${3:0:120}"; else echo "FAIL $1: got '$3', etcd answers '$2'"; fail=1; fi
}

# --- 1. plain HTTP: --host-whitelist and --cors ---------------------------------------------------
access=(--host-whitelist example.com,127.0.0.1 --cors https://good.example:8443) # etcd's --cors takes host:port URLs
start real-http /usr/bin/etcd http "${access[@]}" || exit 1
real_http=http://$ep
start swift-http "$swift_bin" http "${access[@]}" || exit 1
swift_http=http://$ep
plain() { # WHAT METHOD PATH JSON HEADER...
  local what=$1 method=$2 path=$3 json=$4
  shift 4
  same "$what" "$(ask "$real_http" - "$method" "$path" "$json" "" "$@")" "$(ask "$swift_http" - "$method" "$path" "$json" "" "$@")"
}
plain "whitelisted host with a port" POST /v3/kv/put '{"key":"Zm9v","value":"YmFy"}' 'Host: example.com:2379'
plain "other host: gateway refused" POST /v3/kv/range '{"key":"Zm9v"}' 'Host: evil.example:2379'
plain "other host: /health refused" GET /health '' 'Host: evil.example'
plain "other host: OPTIONS refused" OPTIONS /v3/kv/range '' 'Host: evil.example'
plain "allowed origin is named" POST /v3/kv/range '{"key":"Zm9v"}' 'Origin: https://good.example:8443'
plain "other origin: no CORS headers" POST /v3/kv/range '{"key":"Zm9v"}' 'Origin: https://bad.example'
plain "allowed origin: OPTIONS" OPTIONS /v3/kv/range '' 'Origin: https://good.example:8443'
plain "allowed origin: /version" GET /version '' 'Origin: https://good.example:8443'
plain "allowed origin: unknown path" GET /nothing '' 'Origin: https://good.example:8443'

# --- 2. TLS: --client-cert-auth with auth -----------------------------------------------------------
tls=(--client-cert-auth --trusted-ca-file "$pki/ca.crt" --cert-file "$pki/server.crt" --key-file "$pki/server.key")
start real /usr/bin/etcd https "${tls[@]}" || exit 1
real=$ep
start swift "$swift_bin" https "${tls[@]}" || exit 1
swift=$ep
setup "$real" || exit 1
setup "$swift" || exit 1
check() { # WHAT CERT METHOD PATH [JSON [token]]
  local rt="" st=""
  [ -n "${6:-}" ] && { rt=$real_token; st=$swift_token; }
  same "$1" "$(ask "https://$real" "$2" "$3" "$4" "${5:-}" "$rt")" "$(ask "https://$swift" "$2" "$3" "$4" "${5:-}" "$st")"
}
real_token=""; swift_token=""
check "auth off: alice's certificate reaches the gateway" alice POST /v3/kv/range '{"key":"Zm9v"}'
ctl "$real" auth enable > /dev/null 2>&1 && ctl "$swift" auth enable > /dev/null 2>&1 || { echo "FAIL auth enable"; exit 1; }
real_token=$(token "$real"); swift_token=$(token "$swift")
[ -n "$real_token" ] && [ -n "$swift_token" ] || { echo "FAIL no token for root (etcd: '$real_token', etcd-swift: '$swift_token')"; fail=1; }
check "alice's certificate: range refused" alice POST /v3/kv/range '{"key":"Zm9v"}'
check "alice's certificate: /v3beta/ refused too" alice POST /v3beta/kv/range '{"key":"Zm9v"}'
check "alice's certificate: OPTIONS refused too" alice OPTIONS /v3/kv/put
check "alice's certificate: /v3/ outside the gateway refused too" alice POST /v3/nothing '{}'
check "alice's certificate: /health still served" alice GET /health
check "no common name: range of foo as no user" nocn POST /v3/kv/range '{"key":"Zm9v"}'
check "no common name: range of apple as no user" nocn POST /v3/kv/range '{"key":"YXBwbGU="}'
check "no common name: put foo as no user" nocn POST /v3/kv/put '{"key":"Zm9v","value":"eA=="}'
check "no common name, root's token: put apple" nocn POST /v3/kv/put '{"key":"YXBwbGU=","value":"eA=="}' token
check "no common name, root's token: range of apple" nocn POST /v3/kv/range '{"key":"YXBwbGU="}' token
# Over gRPC the same certificate acts as alice.
same "gRPC as alice: apple" "$(ctl "$real" get apple --print-value-only 2>&1)" "$(ctl "$swift" get apple --print-value-only 2>&1)"
same "gRPC as alice: foo refused" "$(ctl "$real" get foo 2>&1 | grep -v '^{')" "$(ctl "$swift" get foo 2>&1 | grep -v '^{')"
exit $fail
