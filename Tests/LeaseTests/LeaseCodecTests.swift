@testable import Lease
import XCTest

final class LeaseCodecTests: XCTestCase {
    private func decode(_ b: [UInt8]) -> LeaseCodec.Record? { b.withUnsafeBytes { LeaseCodec.decode($0) } }

    func testKnownEncodings() {
        XCTAssertEqual(LeaseCodec.encode(.init(id: 1, ttl: 10, remainingTTL: 0)), [0x08, 0x01, 0x10, 0x0a])
        XCTAssertEqual(LeaseCodec.encode(.init(id: 300, ttl: 5, remainingTTL: 2)),
                       [0x08, 0xac, 0x02, 0x10, 0x05, 0x18, 0x02])
        XCTAssertEqual(LeaseCodec.encode(.init(id: 0, ttl: 0, remainingTTL: 0)), [])
        XCTAssertEqual(LeaseCodec.encode(.init(id: -1, ttl: 0, remainingTTL: 0)),
                       [0x08] + [UInt8](repeating: 0xff, count: 9) + [0x01])
        XCTAssertEqual(LeaseCodec.key(0x0102_0304_0506_0708), [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(LeaseCodec.key(-1), [UInt8](repeating: 0xff, count: 8))
    }

    func testRoundTrip() {
        for r in [LeaseCodec.Record(id: 1, ttl: 2, remainingTTL: 3), .init(id: .max, ttl: .min, remainingTTL: -1),
                  .init(id: 0, ttl: 0, remainingTTL: 0), .init(id: 42, ttl: 9_000_000_000, remainingTTL: 0)] {
            XCTAssertEqual(decode(LeaseCodec.encode(r)), r)
        }
    }

    func testSkipsUnknownFieldsAndRejectsGarbage() {
        // field 4 varint, field 5 length-delimited, field 6 fixed64, field 7 fixed32, then TTL.
        let withUnknown: [UInt8] = [0x08, 0x07, 0x20, 0x01, 0x2a, 0x02, 0xaa, 0xbb,
                                    0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x3d, 1, 2, 3, 4, 0x10, 0x09]
        XCTAssertEqual(decode(withUnknown), .init(id: 7, ttl: 9, remainingTTL: 0))
        XCTAssertNil(decode([0x08]))  // truncated varint
        XCTAssertNil(decode([0x2a, 0x05, 0x01]))  // length past the end
        XCTAssertNil(decode([0x31, 1, 2]))  // fixed64 past the end
        XCTAssertNil(decode([0x0b]))  // wire type 3 (groups) unsupported
        XCTAssertNil(decode([0x00, 0x01]))  // field number 0
    }
}
