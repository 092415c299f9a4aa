#!/usr/bin/env bash
# Installs the Debian packages etcd-swift builds and tests with, when any is missing.
# Build: protobuf-c, nghttp2, LMDB (+ protoc and python3-protobuf to regenerate the protobuf code).
# Oracles: real etcd 3.4 and etcdctl, Go and etcd's sources (e2e suite, clientv3), python3-etcd3, h2load,
# python3-prometheus-client (parses /metrics pages).
set -eu
packages=(
  pkg-config libprotobuf-c-dev protobuf-c-compiler protobuf-compiler python3-protobuf
  libnghttp2-dev liblmdb-dev
  etcd-server etcd-client golang-go golang-etcd-server-dev golang-google-grpc-dev
  python3-etcd3 python3-prometheus-client python3-venv nghttp2-client jq iproute2 procps
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
