import EtcdProto
import XCTest

/// Encodings must equal the reference encoder's bytes (etcd clients and peers use it).
final class GoldenTests: XCTestCase {
    func testRangeRequestAllFields() {
        var m = Etcdserverpb_RangeRequest()
        m.key = Array("foo".utf8)
        m.rangeEnd = Array("fop".utf8)
        m.limit = 10
        m.revision = 42
        m.sortOrder = .descend
        m.sortTarget = .mod
        m.serializable = true
        m.keysOnly = true
        m.countOnly = true
        m.minModRevision = 1
        m.maxModRevision = 1 << 40
        m.minCreateRevision = 3
        m.maxCreateRevision = 4
        assertGolden(m, Golden.rangeRequest)
    }

    static func compare(
        _ result: Etcdserverpb_Compare.CompareResult, _ target: Etcdserverpb_Compare.CompareTarget,
        _ key: String, _ union: Etcdserverpb_Compare.OneOf_TargetUnion, rangeEnd: [UInt8] = []
    ) -> Etcdserverpb_Compare {
        var c = Etcdserverpb_Compare()
        c.result = result
        c.target = target
        c.key = Array(key.utf8)
        c.targetUnion = union
        c.rangeEnd = rangeEnd
        return c
    }

    static func put(_ key: String, _ value: String) -> Etcdserverpb_RequestOp {
        var p = Etcdserverpb_PutRequest()
        p.key = Array(key.utf8)
        p.value = Array(value.utf8)
        var op = Etcdserverpb_RequestOp()
        op.request = .requestPut(p)
        return op
    }

    static func txnRequest() -> Etcdserverpb_TxnRequest {
        var inner = Etcdserverpb_TxnRequest()
        inner.compare = [compare(.equal, .value, "k", .value(Array("v".utf8)))]
        inner.success = [put("n", "x")]

        var m = Etcdserverpb_TxnRequest()
        m.compare = [
            compare(.equal, .version, "a", .version(5)),
            compare(.greater, .create, "b", .createRevision(0), rangeEnd: [0]),
            compare(.less, .mod, "c", .modRevision(7)),
            compare(.notEqual, .value, "d", .value([])),
            compare(.equal, .lease, "e", .lease(-1)),
        ]
        var range = Etcdserverpb_RangeRequest()
        range.key = Array("a".utf8)
        range.limit = 1
        var rangeOp = Etcdserverpb_RequestOp()
        rangeOp.requestRange = range

        var putOp = put("b", "v")
        putOp.requestPut.lease = 0x1234
        putOp.requestPut.prevKv = true
        putOp.requestPut.ignoreValue = true
        putOp.requestPut.ignoreLease = true

        var del = Etcdserverpb_DeleteRangeRequest()
        del.key = Array("c".utf8)
        del.rangeEnd = Array("d".utf8)
        del.prevKv = true
        var delOp = Etcdserverpb_RequestOp()
        delOp.request = .requestDeleteRange(del)

        var txnOp = Etcdserverpb_RequestOp()
        txnOp.request = .requestTxn(inner)

        m.success = [rangeOp, putOp, delOp, txnOp]
        m.failure = [put("f", "")]
        return m
    }

    func testTxnRequestNestedWithEveryCompareAndOp() throws {
        let m = Self.txnRequest()
        assertGolden(m, Golden.txnRequest)
        let decoded = try Etcdserverpb_TxnRequest(serializedBytes: hexBytes(Golden.txnRequest))
        guard case .requestTxn(let inner)? = decoded.success[3].request else {
            return XCTFail("nested txn lost")
        }
        XCTAssertEqual(inner.success[0].requestPut.key, Array("n".utf8))
        // A oneof set to a zero value is present, and distinct from an unset oneof.
        XCTAssertEqual(decoded.compare[1].targetUnion, .createRevision(0))
        XCTAssertEqual(decoded.compare[3].targetUnion, .value([]))
        XCTAssertEqual(decoded.compare[4].lease, -1)
        XCTAssertEqual(decoded.compare[0].createRevision, 0, "reading another member gives the default")
    }

    func testPutResponseWithHeader() {
        var h = Etcdserverpb_ResponseHeader()
        h.clusterID = 0xcdef_0123_4567_89ab
        h.memberID = 0x8e9e_05c5_2164_694d
        h.revision = 99
        h.raftTerm = 3
        var kv = Mvccpb_KeyValue()
        kv.key = Array("k".utf8)
        kv.createRevision = 2
        kv.modRevision = 5
        kv.version = 3
        kv.value = Array("old".utf8)
        kv.lease = 7
        var m = Etcdserverpb_PutResponse()
        m.header = h
        m.prevKv = kv
        assertGolden(m, Golden.putResponse)
    }

    func testEventWithKvAndPrevKv() {
        var m = Mvccpb_Event()
        m.type = .delete
        var kv = Mvccpb_KeyValue()
        kv.key = Array("k".utf8)
        kv.modRevision = 6
        m.kv = kv
        var prev = Mvccpb_KeyValue()
        prev.key = Array("k".utf8)
        prev.createRevision = 2
        prev.modRevision = 5
        prev.version = 3
        prev.value = Array("old".utf8)
        m.prevKv = prev
        assertGolden(m, Golden.event)
    }

    func testRaftEntryProto2PresenceOfZeroValues() {
        var m = Raftpb_Entry()
        m.term = 5
        m.index = 0
        m.type = .entryConfChange
        m.data = []
        assertGolden(m, Golden.raftEntry)
        XCTAssertEqual(Raftpb_Entry().serializedBytes(), [], "unset proto2 fields are absent")
    }

    func testRaftMessage() {
        func entry(_ index: UInt64, _ data: [UInt8]?) -> Raftpb_Entry {
            var e = Raftpb_Entry()
            e.term = 7
            e.index = index
            e.type = .entryNormal
            e.data = data
            return e
        }
        var conf = Raftpb_ConfState()
        conf.voters = [1, 2, 3]
        conf.learners = [4]
        conf.autoLeave = false
        var meta = Raftpb_SnapshotMetadata()
        meta.confState = conf
        meta.index = 90
        meta.term = 5
        var snap = Raftpb_Snapshot()
        snap.data = Array("snap".utf8)
        snap.metadata = meta
        var m = Raftpb_Message()
        m.type = .msgApp
        m.to = 2
        m.from = 1
        m.term = 7
        m.logTerm = 6
        m.index = 100
        m.entries = [entry(101, Array("put".utf8)), entry(102, nil)]
        m.commit = 99
        m.snapshot = snap
        m.reject = false
        m.rejectHint = 0
        m.context = Array("ctx".utf8)
        assertGolden(m, Golden.raftMessage)
    }

    func testWatchRequestOneofAndPackedEnums() {
        var c = Etcdserverpb_WatchCreateRequest()
        c.key = Array("a".utf8)
        c.rangeEnd = Array("b".utf8)
        c.startRevision = 3
        c.progressNotify = true
        c.filters = [.nodelete, .noput]
        c.prevKv = true
        c.watchID = -1
        c.fragment = true
        var m = Etcdserverpb_WatchRequest()
        m.requestUnion = .createRequest(c)
        assertGolden(m, Golden.watchRequest)
    }

    func testUnknownEnumValuesSurvive() throws {
        var m = Etcdserverpb_RangeRequest()
        m.key = Array("x".utf8)
        m.sortOrder = .init(rawValue: 77)
        m.sortTarget = .init(rawValue: -3)
        assertGolden(m, Golden.unknownEnum)
        let decoded = try Etcdserverpb_RangeRequest(serializedBytes: hexBytes(Golden.unknownEnum))
        XCTAssertEqual(decoded.sortOrder.rawValue, 77)
        XCTAssertEqual(decoded.sortTarget.rawValue, -3)
    }

    func testAuthUserRepeatedStrings() {
        var m = Authpb_User()
        m.name = Array("root".utf8)
        m.password = Array("pw".utf8)
        m.roles = ["root", "r\u{e9}le"]
        var o = Authpb_UserAddOptions()
        o.noPassword = true
        m.options = o
        assertGolden(m, Golden.user)
    }

    func testProto2Strings() {
        var m = Etcdserverpb_Request()
        m.id = 12
        m.method = "PUT"
        m.path = "/k"
        m.prevExist = false
        m.expiration = 0
        assertGolden(m, Golden.v2Request)
        XCTAssertNil(m.val)
    }

    func testInternalRaftRequest() {
        var m = Etcdserverpb_InternalRaftRequest()
        var h = Etcdserverpb_RequestHeader()
        h.id = 77
        h.username = "u"
        m.header = h
        m.id = 5
        var p = Etcdserverpb_PutRequest()
        p.key = Array("k".utf8)
        p.value = Array("v".utf8)
        m.put = p
        assertGolden(m, Golden.internalRaftRequest)
    }

    func testHealth() {
        var m = Grpc_Health_V1_HealthCheckResponse()
        m.status = .serving
        assertGolden(m, Golden.health)
    }

    func testSimpleRequestWithFourMegabytePayload() throws {
        let body = (0..<4_000_000).map { UInt8($0 % 251) }
        var m = Grpc_Testing_SimpleRequest()
        m.responseType = .compressable
        m.responseSize = 4_000_000
        var payload = Grpc_Testing_Payload()
        payload.body = body
        m.payload = payload
        m.fillUsername = true
        var status = Grpc_Testing_EchoStatus()
        status.code = 2
        status.message = "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n"
        m.responseStatus = status
        let expected = hexBytes(Golden.simpleRequestPrefix) + body + hexBytes(Golden.simpleRequestSuffix)
        let bytes = m.serializedBytes()
        XCTAssertEqual(bytes.count, expected.count)
        XCTAssertTrue(bytes == expected)
        XCTAssertEqual(m.serializedSize(), expected.count)
        let decoded = try Grpc_Testing_SimpleRequest(serializedBytes: expected)
        XCTAssertTrue(decoded == m)
        XCTAssertEqual(decoded.payload?.body.count, 4_000_000)
    }
}
