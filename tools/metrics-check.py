#!/usr/bin/python3
"""tools/metrics-check.py [--peers] REAL_PAGE SWIFT_PAGE

Parses two /metrics pages (real etcd 3.4's and etcd-swift's, scraped after the same operations)
with prometheus_client's text parser and checks that every metric the etcd dashboards and alerts
name is on both, with the same type and the same label names, and that etcd-swift has a
grpc_server_* series for every gRPC method real etcd has. With --peers the pages come from members
of two three-member clusters, one member of each stopped, and the peer (rafthttp) metrics are
compared instead, help texts too. Prints one line per problem; exit 1 on any.
"""
import sys
from prometheus_client.parser import text_string_to_metric_families

IMPORTANT = """
etcd_server_has_leader etcd_server_is_leader etcd_server_leader_changes_seen_total
etcd_server_proposals_committed_total etcd_server_proposals_applied_total etcd_server_proposals_pending
etcd_server_proposals_failed_total etcd_server_version etcd_server_id etcd_server_is_learner
etcd_server_slow_apply_total etcd_server_heartbeat_send_failures_total etcd_server_quota_backend_bytes
etcd_server_slow_read_indexes_total etcd_server_read_indexes_failed_total
etcd_cluster_version etcd_disk_wal_fsync_duration_seconds etcd_disk_backend_commit_duration_seconds
etcd_mvcc_db_total_size_in_bytes etcd_mvcc_db_total_size_in_use_in_bytes etcd_mvcc_put_total
etcd_mvcc_delete_total etcd_mvcc_range_total etcd_mvcc_txn_total etcd_debugging_mvcc_keys_total
etcd_debugging_mvcc_db_total_size_in_bytes etcd_debugging_mvcc_db_compaction_keys_total
etcd_debugging_mvcc_current_revision etcd_debugging_mvcc_compact_revision
etcd_network_client_grpc_sent_bytes_total etcd_network_client_grpc_received_bytes_total
grpc_server_started_total grpc_server_handled_total grpc_server_msg_received_total grpc_server_msg_sent_total
process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes
process_virtual_memory_max_bytes process_open_fds process_max_fds process_start_time_seconds
""".split()
# rafthttp's metrics, once peers have talked, been probed, and one has gone away.
PEERS = """
etcd_network_peer_sent_bytes_total etcd_network_peer_received_bytes_total
etcd_network_peer_round_trip_time_seconds etcd_network_active_peers
etcd_network_peer_sent_failures_total etcd_network_disconnected_peers_total
etcd_server_heartbeat_send_failures_total
""".split()
PEERS_NONZERO = """
etcd_network_peer_sent_bytes_total etcd_network_peer_received_bytes_total
etcd_network_peer_round_trip_time_seconds etcd_network_peer_sent_failures_total
etcd_network_disconnected_peers_total
""".split()
# gRPC methods etcd-swift does not serve yet (no handler, so no series): reported, not failed.
NOT_SERVED = {
    ("etcdserverpb.Maintenance", "Snapshot", "server_stream"),
    ("grpc.health.v1.Health", "Watch", "server_stream"),
}
# Series whose value must be positive on both after the operations the caller ran.
NONZERO = """
etcd_server_has_leader etcd_server_is_leader etcd_mvcc_put_total etcd_mvcc_range_total
etcd_mvcc_delete_total etcd_mvcc_txn_total etcd_debugging_mvcc_keys_total
etcd_network_client_grpc_sent_bytes_total etcd_network_client_grpc_received_bytes_total
process_resident_memory_bytes process_open_fds
""".split()


def families(path):
    with open(path) as f:
        text = f.read()
    out = {}
    # prometheus_client names a counter family without its _total suffix: key by sample name.
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            base = s.name
            for suffix in ("_bucket", "_count", "_sum", "_created"):
                if fam.type == "histogram" and base.endswith(suffix):
                    base = base[: -len(suffix)]
            entry = out.setdefault(base, {"type": fam.type, "help": fam.documentation, "labels": set(), "samples": []})
            entry["labels"].add(tuple(sorted(k for k in s.labels if k != "le")))
            entry["samples"].append(s)
    return out


def grpc_methods(fams):
    return {(s.labels["grpc_service"], s.labels["grpc_method"], s.labels["grpc_type"])
            for s in fams.get("grpc_server_started_total", {"samples": []})["samples"]}


def main():
    args = sys.argv[1:]
    peers = args[:1] == ["--peers"]
    if peers:
        args = args[1:]
    real, swift = families(args[0]), families(args[1])
    problems = []
    for name in PEERS if peers else IMPORTANT:
        r, s = real.get(name), swift.get(name)
        if r is None:
            problems.append(f"{name}: not on real etcd's page (list out of date?)")
            continue
        if s is None:
            problems.append(f"{name}: missing")
            continue
        if r["type"] != s["type"]:
            problems.append(f"{name}: type {s['type']}, etcd's is {r['type']}")
        if r["labels"] != s["labels"]:
            problems.append(f"{name}: labels {sorted(s['labels'])}, etcd's are {sorted(r['labels'])}")
        if peers and r["help"] != s["help"]:
            problems.append(f"{name}: help {s['help']!r}, etcd's is {r['help']!r}")
    if peers:
        for name in PEERS_NONZERO:
            for fams, who in ((real, "etcd"), (swift, "etcd-swift")):
                if name in fams and not any(x.value > 0 for x in fams[name]["samples"]):
                    problems.append(f"{name}: zero on {who}")
        for p in problems:
            print(p)
        print(f"{len(PEERS)} peer metrics compared, {len(problems)} problems")
        return 1 if problems else 0
    for name in NONZERO:
        for fams, who in ((real, "etcd"), (swift, "etcd-swift")):
            if name in fams and not any(x.value > 0 for x in fams[name]["samples"]):
                problems.append(f"{name}: zero on {who}")
    missing = grpc_methods(real) - grpc_methods(swift)
    for m in sorted(missing & NOT_SERVED):
        print(f"note: {m} is not served by etcd-swift yet")
    for m in sorted(missing - NOT_SERVED):
        problems.append(f"grpc_server_started_total: no series for {m}")
    handled = {s.labels["grpc_code"] for s in swift.get("grpc_server_handled_total", {"samples": []})["samples"]}
    real_handled = {s.labels["grpc_code"] for s in real.get("grpc_server_handled_total", {"samples": []})["samples"]}
    if handled != real_handled:
        problems.append(f"grpc_code values differ: {sorted(handled ^ real_handled)}")
    for p in problems:
        print(p)
    print(f"{len(IMPORTANT)} metrics compared, {len(grpc_methods(real))} gRPC methods, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
