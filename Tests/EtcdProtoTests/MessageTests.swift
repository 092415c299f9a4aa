import EtcdProto
import XCTest

/// Behaviour of the Swift face beyond the wire bytes.
final class MessageTests: XCTestCase {
    func testOneofAccessors() {
        var op = Etcdserverpb_RequestOp()
        XCTAssertNil(op.request)
        XCTAssertEqual(op.requestPut, Etcdserverpb_PutRequest())
        op.requestPut.key = [1]
        XCTAssertEqual(op.request, .requestPut({ var p = Etcdserverpb_PutRequest(); p.key = [1]; return p }()))
        op.requestRange = Etcdserverpb_RangeRequest()
        guard case .requestRange? = op.request else { return XCTFail("setter switches the member") }
    }

    func testResponseOpRecursion() throws {
        var inner = Etcdserverpb_TxnResponse()
        inner.succeeded = true
        var op = Etcdserverpb_ResponseOp()
        op.response = .responseTxn(inner)
        var outer = Etcdserverpb_TxnResponse()
        outer.responses = [op, op]
        let decoded = try Etcdserverpb_TxnResponse(serializedBytes: outer.serializedBytes())
        XCTAssertEqual(decoded, outer)
        XCTAssertTrue(decoded.responses[1].responseTxn.succeeded)
    }

    func testProto2OptionalsDistinguishZeroFromAbsent() throws {
        var e = Raftpb_HardState()
        e.term = 0
        let decoded = try Raftpb_HardState(serializedBytes: e.serializedBytes())
        XCTAssertEqual(decoded.term, 0)
        XCTAssertNil(decoded.vote)
        XCTAssertNil(decoded.commit)
    }

    func testProto3ZeroValuesAreNotEncoded() {
        var m = Etcdserverpb_PutRequest()
        m.lease = 0
        m.prevKv = false
        m.key = []
        XCTAssertEqual(m.serializedBytes(), [])
    }

    func testEmptySubmessageIsPresent() throws {
        var m = Etcdserverpb_PutResponse()
        m.header = Etcdserverpb_ResponseHeader()
        XCTAssertEqual(m.serializedBytes(), [0x0a, 0x00])
        XCTAssertNotNil(try Etcdserverpb_PutResponse(serializedBytes: [0x0a, 0x00]).header)
    }

    func testManyAndLargeFieldsUseTheArenaOverflow() throws {
        var r = Etcdserverpb_RangeResponse()
        r.kvs = (0..<2000).map { i in
            var kv = Mvccpb_KeyValue()
            kv.key = Array("key-\(i)".utf8)
            kv.value = [UInt8](repeating: UInt8(i % 256), count: i % 300)
            kv.modRevision = Int64(i)
            return kv
        }
        r.count = 2000
        r.more = true
        let bytes = r.serializedBytes()
        XCTAssertEqual(bytes.count, r.serializedSize())
        XCTAssertEqual(try Etcdserverpb_RangeResponse(serializedBytes: bytes), r)
    }

    func testStringsRoundTripUnicode() throws {
        var m = Etcdserverpb_AuthUserAddRequest()
        m.name = "\u{7528}\u{6237}-\u{1f511}"
        m.password = ""
        let decoded = try Etcdserverpb_AuthUserAddRequest(serializedBytes: m.serializedBytes())
        XCTAssertEqual(decoded.name, m.name)
    }

    func testEnumNames() {
        XCTAssertEqual(Etcdserverpb_RangeRequest.SortOrder.none.rawValue, 0)
        XCTAssertEqual(Etcdserverpb_RangeRequest.SortOrder.ascend.rawValue, 1)
        XCTAssertEqual(Etcdserverpb_Compare.CompareTarget.version.rawValue, 0)
        XCTAssertEqual(Etcdserverpb_AlarmType.nospace.rawValue, 1)
        XCTAssertEqual(Mvccpb_Event.EventType.delete.rawValue, 1)
        XCTAssertEqual(Raftpb_MessageType.msgApp.rawValue, 3)
        XCTAssertEqual(Raftpb_ConfChangeTransition.jointExplicit.rawValue, 2)
        XCTAssertEqual(Authpb_Permission.TypeEnum.readwrite.rawValue, 2)
        XCTAssertEqual(Etcdserverpb_RangeRequest.protoMessageName, "etcdserverpb.RangeRequest")
    }
}

extension MessageTests {
    func testWithSerializerBuildsOnceAndWritesExactly() {
        var m = Etcdserverpb_PutRequest()
        m.key = Array("k".utf8)
        m.value = [UInt8](repeating: 9, count: 300)
        let expected = m.serializedBytes()
        let out: [UInt8] = m.withSerializer { size, write in
            XCTAssertEqual(size, expected.count)
            var buffer = [UInt8](repeating: 0, count: size + 5)
            let written = buffer.withUnsafeMutableBytes { write(UnsafeMutableRawBufferPointer(rebasing: $0[5...])) }
            XCTAssertEqual(written, size)
            return Array(buffer[5...])
        }
        XCTAssertEqual(out, expected)
    }

    /// Generic callers (the gRPC router) go through the protocol requirements.
    func testGenericRoundTrip() throws {
        func roundTrip<M: ProtoMessage>(_ m: M) throws(ProtoDecodingError) -> M {
            try M(serializedBytes: m.serializedBytes())
        }
        var r = Etcdserverpb_RangeRequest()
        r.key = [1, 2]
        r.limit = 3
        XCTAssertEqual(try roundTrip(r), r)
    }
}
