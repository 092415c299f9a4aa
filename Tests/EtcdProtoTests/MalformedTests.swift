import EtcdProto
import XCTest

/// Bad bytes must throw ProtoDecodingError, never crash.
final class MalformedTests: XCTestCase {
    func assertThrows<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8], file: StaticString = #filePath,
                                       line: UInt = #line) {
        do {
            _ = try M(serializedBytes: bytes)
            XCTFail("decoded \(hexString(bytes)) as \(M.protoMessageName)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.messageName, M.protoMessageName, file: file, line: line)
        }
    }

    func testTruncatedVarint() {
        assertThrows(Etcdserverpb_RangeRequest.self, [0x20, 0xff])          // limit: varint cut short
        assertThrows(Etcdserverpb_RangeRequest.self, [0xa0])                // tag itself cut short
        assertThrows(Raftpb_Entry.self, [0x10, 0x80, 0x80])                  // proto2 varint cut short
    }

    func testWrongWireType() {
        assertThrows(Etcdserverpb_RangeRequest.self, [0x08, 0x01])          // key (bytes) as varint
        assertThrows(Etcdserverpb_PutResponse.self, [0x08, 0x01])           // header (message) as varint
        assertThrows(Etcdserverpb_RangeRequest.self, [0x25, 1, 2, 3, 4])     // limit (int64) as fixed32
    }

    func testLengthPastEnd() {
        assertThrows(Etcdserverpb_RangeRequest.self, [0x0a, 0x05, 0x61])
        assertThrows(Etcdserverpb_PutResponse.self, [0x0a, 0x7f, 0x08, 0x01])
        // A length that overflows when added to the position.
        assertThrows(Etcdserverpb_RangeRequest.self,
                     [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61])
    }

    func testFieldNumberZeroAndBadSubmessage() {
        assertThrows(Etcdserverpb_RangeRequest.self, [0x00, 0x00])
        // header holds a truncated varint.
        assertThrows(Etcdserverpb_PutResponse.self, [0x0a, 0x02, 0x18, 0xff])
    }

    func testEmptyInputIsTheDefaultMessage() throws {
        XCTAssertEqual(try Etcdserverpb_TxnRequest(serializedBytes: []), Etcdserverpb_TxnRequest())
        XCTAssertEqual(Etcdserverpb_TxnRequest().serializedBytes(), [])
        XCTAssertEqual(Etcdserverpb_TxnRequest().serializedSize(), 0)
    }

    func testUnknownFieldsAreSkipped() throws {
        // key = "a", then unknown field 1000 (varint) and unknown field 999 (bytes).
        let bytes: [UInt8] = [0x0a, 0x01, 0x61, 0xc0, 0x3e, 0x05, 0xba, 0x3e, 0x01, 0x00]
        let m = try Etcdserverpb_RangeRequest(serializedBytes: bytes)
        XCTAssertEqual(m.key, [0x61])
    }

    /// RequestOp{request_txn: TxnRequest{success: [RequestOp{...}]}} nested `levels` times,
    /// written outermost first in one pass (sizes are computed from the inside out).
    static func nestedTxn(levels: Int) -> [UInt8] {
        var opSizes = [0]     // content size of the RequestOp at each level; level 0 is empty
        var txnSizes = [0]
        for k in 1...max(levels, 1) {
            let txn = 1 + varint(UInt64(opSizes[k - 1])).count + opSizes[k - 1]
            txnSizes.append(txn)
            opSizes.append(1 + varint(UInt64(txn)).count + txn)
        }
        var out: [UInt8] = []
        out.reserveCapacity(opSizes[levels])
        for k in stride(from: levels, to: 0, by: -1) {
            out.append(0x22)                                  // RequestOp.request_txn
            out += varint(UInt64(txnSizes[k]))
            out.append(0x12)                                  // TxnRequest.success
            out += varint(UInt64(opSizes[k - 1]))
        }
        return out
    }

    static func lengthDelimited(field: UInt64, _ body: [UInt8]) -> [UInt8] {
        varint(field << 3 | 2) + varint(UInt64(body.count)) + body
    }

    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }

    func testModerateNestingDecodes() throws {
        let m = try Etcdserverpb_RequestOp(serializedBytes: Self.nestedTxn(levels: 40))
        var depth = 0
        var op = m
        while case .requestTxn(let txn)? = op.request, let next = txn.success.first {
            depth += 1
            op = next
        }
        XCTAssertEqual(depth, 40)
        XCTAssertEqual(m.serializedBytes(), Self.nestedTxn(levels: 40))
    }

    func testHostileNestingThrowsInsteadOfExhaustingTheStack() {
        // 1,000,000 levels would overflow the C decoder's stack; the depth pre-check refuses it.
        assertThrows(Etcdserverpb_RequestOp.self, Self.nestedTxn(levels: 200))
        assertThrows(Etcdserverpb_TxnRequest.self, Array(Self.nestedTxn(levels: 300_000).dropFirst(4)))
    }

    /// Deterministic mutation fuzzing: whatever decodes must re-encode to something that
    /// decodes to the same value; nothing may crash.
    func testMutatedInputNeverCrashes() {
        var seed: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next() -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return seed >> 33
        }
        let sources = [Golden.txnRequest, Golden.raftMessage, Golden.watchRequest, Golden.putResponse]
            .map(hexBytes)
        var decodedCount = 0
        for round in 0..<3000 {
            var bytes = sources[round % sources.count]
            for _ in 0..<(1 + Int(next() % 4)) {
                let i = Int(next() % UInt64(bytes.count))
                switch next() % 3 {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: next())
                case 1: bytes.removeSubrange(i...)
                default: bytes.insert(UInt8(truncatingIfNeeded: next()), at: i)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            decodedCount += roundTrip(Etcdserverpb_TxnRequest.self, bytes)
            decodedCount += roundTrip(Raftpb_Message.self, bytes)
            decodedCount += roundTrip(Etcdserverpb_WatchRequest.self, bytes)
            decodedCount += roundTrip(Etcdserverpb_PutResponse.self, bytes)
        }
        XCTAssertGreaterThan(decodedCount, 100, "the fuzz loop should also exercise successful decodes")
    }

    func roundTrip<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) -> Int {
        guard let m = try? M(serializedBytes: bytes) else { return 0 }
        let again = try? M(serializedBytes: m.serializedBytes())
        XCTAssertEqual(again, m, "\(M.protoMessageName) from \(hexString(bytes))")
        return 1
    }
}
