import Storage
import XCTest

final class CRC32CTests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
    }

    func testChainingMatchesOneShotAtEveryLength() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = CRC32C.checksum(data)
        for cut in [0, 1, 3, 7, 8, 9, 15, 64, 500, 999, 1000] {
            let c = CRC32C.update(CRC32C.update(0, Array(data[..<cut])), Array(data[cut...]))
            XCTAssertEqual(c, whole, "cut at \(cut)")
        }
        // Slicing-by-8 agrees with the bytewise loop (odd lengths take the tail path).
        var bytewise: UInt32 = 0
        for b in data { bytewise = CRC32C.update(bytewise, [b]) }
        XCTAssertEqual(bytewise, whole)
    }
}
