#!/usr/bin/python3
"""Prints the reference encodings (python google.protobuf) that Tests/EtcdProtoTests embeds.

Run once after changing a golden case:
  mkdir -p /tmp/pyout && (cd Protos && protoc -I. --python_out=/tmp/pyout *.proto)
  PYTHONPATH=/tmp/pyout /usr/bin/python3 tools/protogen/golden.py
Each case here is built field for field the same way in Tests/EtcdProtoTests/GoldenTests.swift.
"""
import kv_pb2, rpc_pb2, raft_pb2, messages_pb2, auth_pb2, etcdserver_pb2, raft_internal_pb2, health_pb2


def show(name, msg):
    print(f'    static let {name} = "{msg.SerializeToString().hex()}"')


def range_request():
    return rpc_pb2.RangeRequest(
        key=b"foo", range_end=b"fop", limit=10, revision=42, sort_order=2, sort_target=3,
        serializable=True, keys_only=True, count_only=True, min_mod_revision=1,
        max_mod_revision=1 << 40, min_create_revision=3, max_create_revision=4)


def txn_request():
    C = rpc_pb2.Compare
    inner = rpc_pb2.TxnRequest(
        compare=[C(result=C.EQUAL, target=C.VALUE, key=b"k", value=b"v")],
        success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"n", value=b"x"))])
    return rpc_pb2.TxnRequest(
        compare=[
            C(result=C.EQUAL, target=C.VERSION, key=b"a", version=5),
            C(result=C.GREATER, target=C.CREATE, key=b"b", range_end=b"\x00", create_revision=0),
            C(result=C.LESS, target=C.MOD, key=b"c", mod_revision=7),
            C(result=C.NOT_EQUAL, target=C.VALUE, key=b"d", value=b""),
            C(result=C.EQUAL, target=C.LEASE, key=b"e", lease=-1),
        ],
        success=[
            rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"a", limit=1)),
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(
                key=b"b", value=b"v", lease=0x1234, prev_kv=True, ignore_value=True, ignore_lease=True)),
            rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=b"c", range_end=b"d", prev_kv=True)),
            rpc_pb2.RequestOp(request_txn=inner),
        ],
        failure=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"f", value=b""))])


def put_response():
    return rpc_pb2.PutResponse(
        header=rpc_pb2.ResponseHeader(cluster_id=0xcdef0123456789ab, member_id=0x8e9e05c52164694d,
                                      revision=99, raft_term=3),
        prev_kv=kv_pb2.KeyValue(key=b"k", create_revision=2, mod_revision=5, version=3, value=b"old", lease=7))


def event():
    return kv_pb2.Event(
        type=kv_pb2.Event.DELETE,
        kv=kv_pb2.KeyValue(key=b"k", mod_revision=6),
        prev_kv=kv_pb2.KeyValue(key=b"k", create_revision=2, mod_revision=5, version=3, value=b"old"))


def raft_entry():
    return raft_pb2.Entry(Term=5, Index=0, Type=raft_pb2.EntryConfChange, Data=b"")


def raft_message():
    return raft_pb2.Message(
        type=raft_pb2.MsgApp, to=2, **{"from": 1}, term=7, logTerm=6, index=100,
        entries=[raft_pb2.Entry(Term=7, Index=101, Type=raft_pb2.EntryNormal, Data=b"put"),
                 raft_pb2.Entry(Term=7, Index=102, Type=raft_pb2.EntryNormal)],
        commit=99,
        snapshot=raft_pb2.Snapshot(data=b"snap", metadata=raft_pb2.SnapshotMetadata(
            conf_state=raft_pb2.ConfState(voters=[1, 2, 3], learners=[4], auto_leave=False), index=90, term=5)),
        reject=False, rejectHint=0, context=b"ctx")


def watch_request():
    return rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
        key=b"a", range_end=b"b", start_revision=3, progress_notify=True,
        filters=[rpc_pb2.WatchCreateRequest.NODELETE, rpc_pb2.WatchCreateRequest.NOPUT],
        prev_kv=True, watch_id=-1, fragment=True))


def unknown_enum():
    return rpc_pb2.RangeRequest(key=b"x", sort_order=77, sort_target=-3)


def user():
    return auth_pb2.User(name=b"root", password=b"pw", roles=["root", "r\u00e9le"],
                         options=auth_pb2.UserAddOptions(no_password=True))


def v2_request():
    return etcdserver_pb2.Request(ID=12, Method="PUT", Path="/k", PrevExist=False, Expiration=0)


def internal_raft_request():
    return raft_internal_pb2.InternalRaftRequest(
        header=raft_internal_pb2.RequestHeader(ID=77, username="u"), ID=5,
        put=rpc_pb2.PutRequest(key=b"k", value=b"v"))


def health():
    return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


def simple_request_parts():
    body = bytes(i % 251 for i in range(4_000_000))
    m = messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE, response_size=4_000_000,
        payload=messages_pb2.Payload(body=body), fill_username=True,
        response_status=messages_pb2.EchoStatus(code=2, message="\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"))
    data = m.SerializeToString()
    start = data.index(body)
    return data[:start].hex(), data[start + len(body):].hex()


print("enum Golden {")
show("rangeRequest", range_request())
show("txnRequest", txn_request())
show("putResponse", put_response())
show("event", event())
show("raftEntry", raft_entry())
show("raftMessage", raft_message())
show("watchRequest", watch_request())
show("unknownEnum", unknown_enum())
show("user", user())
show("v2Request", v2_request())
show("internalRaftRequest", internal_raft_request())
show("health", health())
prefix, suffix = simple_request_parts()
print(f'    static let simpleRequestPrefix = "{prefix}"')
print(f'    static let simpleRequestSuffix = "{suffix}"')
print("}")
