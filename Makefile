# etcd-swift. `make run` and `make test` work on a fresh Debian 12 machine with the Swift toolchain.
SWIFT      ?= swift
DATA_DIR   ?= default.etcd
BIN_DEBUG   = .build/debug/etcd-swift
BIN_RELEASE = .build/release/etcd-swift

.PHONY: deps build release run test unit proto-check integration e2e e2e-run interop interop-run bench clean

deps:
	tools/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product etcd-swift

# A single member on 127.0.0.1:2379 (etcd's defaults: --name default, --data-dir default.etcd).
run: release
	$(BIN_RELEASE) --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 --data-dir $(DATA_DIR)

# The default suite: generated code fresh, unit tests, then the built binary driven by real clients.
test: build proto-check unit fuzz-run integration e2e-run interop-run cluster-test-run

proto-check:
	tools/gen-proto.sh --check

unit:
	$(SWIFT) test

integration:
	tools/test-integration.sh $(BIN_DEBUG)
	tools/test-etcd-datadir.sh $(BIN_DEBUG)

# Every fuzz target: the committed corpus (seeds and past crashes) replayed, then a short seeded
# mutation run, with the debug build's etcd-fuzz. Long libFuzzer runs: tools/fuzz.sh.
.PHONY: fuzz-run
FUZZ_ITERATIONS ?= 5000
fuzz-run:
	$(dir $(BIN_DEBUG))etcd-fuzz replay all Tests/FuzzCorpus
	$(dir $(BIN_DEBUG))etcd-fuzz mutate all Tests/FuzzCorpus $(FUZZ_ITERATIONS) 1

# etcd's own e2e tests the finished issues require (tools/e2e-required.txt); real etcd 3.4 is the
# suite's etcd-last-release (TestReleaseUpgradeWithRestart: an etcd cluster restarted as etcd-swift).
e2e-run:
	E2E_LAST_RELEASE=/usr/bin/etcd tools/e2e.sh $(BIN_DEBUG)

e2e: build e2e-run

# grpc.testing interop cases driven by a real grpcio client (installed from PyPI into a cache venv).
interop-run:
	tools/interop/run.sh $(dir $(BIN_DEBUG))interop-server

interop: build interop-run

bench: release
	tools/bench.sh $(BIN_RELEASE)

# Three-member clusters, etcd-swift (A) against /usr/bin/etcd (B), ROUNDS (3) rounds A B A B, one
# table of medians, A/B ratios and spreads (SCALE=0.1 for a quick run; see the script's header).
.PHONY: bench-cluster
bench-cluster: release
	tools/bench-cluster.sh $(BIN_RELEASE)

clean:
	rm -rf .build

.PHONY: cluster cluster-test cluster-test-run

# Three members in the foreground from examples/m1.yaml, m2.yaml, m3.yaml (clients on 127.0.0.1:2379,
# 22379, 32379; data in /tmp/etcd-swift-cluster); Ctrl-C stops all three.
cluster: release
	tools/run-cluster.sh $(BIN_RELEASE)

# Three-member scenarios: walkthrough, leader killed, follower restarted from a snapshot, isolated
# member, leader stopped, members replaced, the Cluster API through clientv3, corruption checks,
# --force-new-cluster after the loss of the others, a rolling migration from real etcd 3.4 under load (SIGTERM and SIGKILL) (SCENARIOS="..." picks some).
cluster-test: build cluster-test-run

# Three etcd-swift members, then the mixed cluster (one etcd-swift member, two real etcd 3.4
# members; follower-restart-snapshot sends snapshots across kinds both ways); then both again
# over peer TLS.
cluster-test-run:
	tools/test-cluster.sh $(BIN_DEBUG)
	SCENARIOS="walkthrough kill-leader follower-restart-snapshot isolated-member isolated-prevote sigterm-leader member-replace members-api corrupt-check force-new-cluster" tools/test-cluster.sh $(BIN_DEBUG),/usr/bin/etcd,/usr/bin/etcd
	PEER_TLS=1 SCENARIOS="walkthrough kill-leader follower-restart-snapshot member-replace" tools/test-cluster.sh $(BIN_DEBUG)
	PEER_TLS=1 SCENARIOS="walkthrough kill-leader" tools/test-cluster.sh $(BIN_DEBUG),/usr/bin/etcd,/usr/bin/etcd
