#!/usr/bin/env bash
# tools/gateway-cert-auth-check.sh ETCD_SWIFT_BINARY
# The client port's HTTP under --client-cert-auth, next to real etcd 3.4. With auth enabled etcd
# refuses a TLS request under /v3/ whose client certificate has a common name (its gateway would
# not act as that user), answers /health as before, and a gateway call from a certificate without
# a common name acts as no user (etcd ignores the common name on gateway calls; the server
# certificate's, gateway-user here, is not used either) unless it carries a token. Starts both
# servers with a CA, a server certificate and two client certificates (CN alice; none) made by
# openssl, sets up the same users and roles through etcdctl, sends the same curl requests to both
# and compares status, content type and body (ids, revisions and tokens blanked). Exit status 0
# only when every answer matched.
set -u
swift_bin=$(readlink -f "$1")
for tool in openssl curl etcdctl python3; do command -v "$tool" >/dev/null || { echo "gateway-cert-auth-check: '$tool' not found" >&2; exit 2; }; done
work=$(mktemp -d /tmp/etcd-swift-gwcert.XXXXXX)
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
  { echo "gateway-cert-auth-check: openssl failed" >&2; exit 2; }

start() { # NAME BINARY -> $ep
  local name=$1 bin=$2 c p
  c=$(free_port); p=$(free_port)
  "$bin" --name m --data-dir "$work/$name.data" --client-cert-auth --trusted-ca-file "$pki/ca.crt" \
    --cert-file "$pki/server.crt" --key-file "$pki/server.key" \
    --listen-client-urls "https://127.0.0.1:$c" --advertise-client-urls "https://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "m=http://127.0.0.1:$p" > "$work/$name.log" 2>&1 &
  pids+=("$!")
  ep="127.0.0.1:$c"
  for _ in $(seq 1 100); do
    ctl "$ep" endpoint health >/dev/null 2>&1 && return 0
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

ask() { # EP CERT METHOD PATH [JSON [TOKEN]] -> "status content-type body", ids, revisions, tokens blanked
  local args=(-s -m 10 --cacert "$pki/ca.crt" --cert "$pki/$2.crt" --key "$pki/$2.key" -o "$work/out"
              -w '%{http_code} %{content_type}' -X "$3")
  [ -n "${5:-}" ] && args+=(-H 'content-type: application/json' -d "$5")
  [ -n "${6:-}" ] && args+=(-H "Authorization: $6")
  local head
  head=$(curl "${args[@]}" "https://$1$4")
  echo "$head $(tr -d '\n' < "$work/out")" |
    sed -E -e 's/"(cluster_id|member_id|revision|raft_term|create_revision|mod_revision)":"[0-9]+"/"\1":"-"/g' \
           -e 's/"token":"[^"]*"/"token":"-"/g'
}
token() { # EP -> root's token (asked with the certificate without a common name)
  curl -s -m 10 --cacert "$pki/ca.crt" --cert "$pki/nocn.crt" --key "$pki/nocn.key" -X POST \
    -d '{"name":"root","password":"rootpw"}' "https://$1/v3/auth/authenticate" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("token",""))' 2>/dev/null
}

start real /usr/bin/etcd || exit 1
real=$ep
start swift "$swift_bin" || exit 1
swift=$ep
setup "$real" || exit 1
setup "$swift" || exit 1
fail=0
same() { # WHAT WANT GOT
  if [ "$2" = "$3" ]; then echo "ok   $1: ${3:0:120}"; else echo "FAIL $1: got '$3', etcd answers '$2'"; fail=1; fi
}
check() { # WHAT CERT METHOD PATH [JSON [token]]
  local rt="" st=""
  [ -n "${6:-}" ] && { rt=$real_token; st=$swift_token; }
  same "$1" "$(ask "$real" "$2" "$3" "$4" "${5:-}" "$rt")" "$(ask "$swift" "$2" "$3" "$4" "${5:-}" "$st")"
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
