import EtcdProto
import MVCC
import NIOCore
import XCTest

@testable import API

/// The shared-bytes encoding of event responses must be byte for byte what the generic encoder
/// writes for the same message.
final class WatchResponseEncoderTests: XCTestCase {
    private func header(_ revision: Int64) -> Etcdserverpb_ResponseHeader {
        var h = Etcdserverpb_ResponseHeader()
        h.clusterID = 0xdead_beef_0102_0304
        h.memberID = 42
        h.raftTerm = 7
        h.revision = revision
        return h
    }

    private func generic(_ w: WatchResponse) -> [UInt8] {
        var r = Etcdserverpb_WatchResponse()
        r.header = header(w.revision)
        r.watchID = w.watchID
        r.events = w.events.map(\.proto)
        var b = ProtoCodec.encode(r)
        return b.readBytes(length: b.readableBytes)!
    }

    private func kv(_ key: String, value: Int, rev: Int64, version: Int64 = 1, lease: Int64 = 0) -> KeyValue {
        KeyValue(key: Array(key.utf8), createRevision: rev - version + 1, modRevision: rev, version: version,
                 value: [UInt8](repeating: UInt8(truncatingIfNeeded: value), count: value), lease: lease)
    }

    func testEventResponsesMatchTheGenericEncoding() throws {
        let shared = [Event(kind: .put, kv: kv("a", value: 300, rev: 5, version: 2, lease: 0x1234))]
        let txn = [Event(kind: .put, kv: kv("b", value: 3, rev: 6)),
                   Event(kind: .delete, kv: KeyValue(key: Array("c".utf8), createRevision: 0, modRevision: 6, version: 0, value: [], lease: 0),
                         prevKV: kv("c", value: 1, rev: 4))]
        let responses = [
            WatchResponse(watchID: 0, events: shared, revision: 5),
            WatchResponse(watchID: 1, events: shared, revision: 5),
            WatchResponse(watchID: 200, events: shared, revision: 5),
            WatchResponse(watchID: Int64(Int32.max) + 9, events: txn, revision: 6),
            WatchResponse(watchID: 3, events: Array(txn.prefix(1)), revision: 6),
            WatchResponse(watchID: 4, events: shared, revision: 9),
        ]
        var encoder = WatchResponseEncoder(header: header)
        for w in responses {
            var bytes = try XCTUnwrap(encoder.encode(w))
            XCTAssertEqual(bytes.readBytes(length: bytes.readableBytes), generic(w), "watch id \(w.watchID)")
        }
    }

    func testOtherResponsesAreLeftToTheGenericEncoder() {
        var encoder = WatchResponseEncoder(header: header)
        XCTAssertNil(encoder.encode(WatchResponse(watchID: 1, revision: 3)), "progress")
        XCTAssertNil(encoder.encode(WatchResponse(watchID: 1, revision: 3, compactRevision: 2, canceled: true)))
        var created = WatchResponse(watchID: 1, events: [Event(kind: .put, kv: kv("a", value: 1, rev: 3))], revision: 3)
        created.created = true
        XCTAssertNil(encoder.encode(created))
    }
}
