#!/usr/bin/python3
"""Smoke test with the python etcd3 client (Debian's python3-etcd3): KV, txn, errors.
Usage: etcd3_smoke.py HOST:PORT. Prints one line per check; exits non-zero on the first failure."""
import sys

import etcd3

host, port = sys.argv[1].rsplit(":", 1)
client = etcd3.client(host=host, port=int(port), timeout=10)


def expect(name, got, want):
    if got != want:
        print(f"FAIL {name}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok   {name}")


client.put("/smoke/a", "1")
client.put("/smoke/b", "2")
value, meta = client.get("/smoke/a")
expect("get value", value, b"1")
expect("version after one put", meta.version, 1)
client.put("/smoke/a", "3")
value, meta = client.get("/smoke/a")
expect("version after two puts", meta.version, 2)
expect("mod > create", meta.mod_revision > meta.create_revision, True)
expect("prefix", sorted(v for v, _ in client.get_prefix("/smoke/")), [b"2", b"3"])
ok, _ = client.transaction(
    compare=[client.transactions.value("/smoke/a") == "3"],
    success=[client.transactions.put("/smoke/c", "txn")],
    failure=[],
)
expect("txn succeeded", ok, True)
expect("txn put", client.get("/smoke/c")[0], b"txn")
ok, responses = client.transaction(
    compare=[client.transactions.version("/smoke/a") > 5],
    success=[],
    failure=[client.transactions.get("/smoke/b")],
)
expect("txn failure branch", (ok, responses[0][0][0]), (False, b"2"))
expect("delete", client.delete("/smoke/b"), True)
expect("delete missing", client.delete("/smoke/missing"), False)
expect("deleted", client.get("/smoke/b")[0], None)
client.delete_prefix("/smoke/")
expect("prefix deleted", list(client.get_prefix("/smoke/")), [])
try:
    client.put("", "x")
    print("FAIL empty key accepted")
    sys.exit(1)
except Exception as e:  # etcd3 passes grpc's error through
    expect("empty key refused", "key is not provided" in str(e), True)
lease = client.lease(30)
client.put("/smoke/leased", "x", lease=lease)
expect("lease keys", [k for k in lease.keys], [b"/smoke/leased"])
expect("lease granted ttl", lease.granted_ttl, 30)
lease.refresh()
lease.revoke()
expect("revoked lease deleted its key", client.get("/smoke/leased")[0], None)

events, cancel = client.watch_prefix("/smoke/w/")
client.put("/smoke/w/1", "a")
client.delete("/smoke/w/1")
seen = []
for event in events:
    seen.append((type(event).__name__, event.key))
    if len(seen) == 2:
        break
cancel()
expect("watch events", seen, [("PutEvent", b"/smoke/w/1"), ("DeleteEvent", b"/smoke/w/1")])

status = client.status()
expect("status version", status.version, "3.4.23")
print("all checks passed")
