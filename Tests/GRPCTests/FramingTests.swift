@testable import GRPC
import NIOCore
import XCTest

/// Pure pieces: the deframer, percent-encoding, base64, grpc-timeout.
final class FramingTests: XCTestCase {
    private func deframe(_ chunks: [[UInt8]], max: Int = 1 << 20) throws -> [[UInt8]] {
        var deframer = MessageDeframer(maxMessageSize: max)
        var out: [[UInt8]] = []
        for chunk in chunks {
            try chunk.withUnsafeBytes { raw in
                try deframer.consume(raw, allocator: ByteBufferAllocator()) { out.append(Array($0.readableBytesView)) }
            }
        }
        XCTAssertTrue(deframer.isIdle)
        return out
    }

    func testEverySplitOfAMessageStreamDeframesTheSame() throws {
        let messages: [[UInt8]] = [[], [1], Array(0..<200), [7, 7, 7]]
        var stream: [UInt8] = []
        for m in messages {
            var b = ByteBuffer()
            b.writeGRPCMessage(ByteBuffer(bytes: m))
            stream += b.readableBytesView
        }
        XCTAssertEqual(try deframe([stream]), messages)
        for cut in 0...stream.count {
            XCTAssertEqual(try deframe([Array(stream[..<cut]), Array(stream[cut...])]), messages, "cut at \(cut)")
        }
        XCTAssertEqual(try deframe(stream.map { [$0] }), messages)
    }

    func testCompressedFlagAndOversizeAreRejected() {
        var d = MessageDeframer(maxMessageSize: 10)
        XCTAssertThrowsError(try ([1, 0, 0, 0, 1, 9] as [UInt8]).withUnsafeBytes { raw in
            try d.consume(raw, allocator: ByteBufferAllocator()) { _ in }
        }) { XCTAssertEqual($0 as? MessageDeframer.Failure, .compressed) }
        var e = MessageDeframer(maxMessageSize: 10)
        XCTAssertThrowsError(try ([0, 0, 0, 0, 11] as [UInt8]).withUnsafeBytes { raw in
            try e.consume(raw, allocator: ByteBufferAllocator()) { _ in }
        }) { XCTAssertEqual($0 as? MessageDeframer.Failure, .tooLarge(length: 11, limit: 10)) }
    }

    func testPercentEncoding() {
        let message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n 50%"
        let encoded = GRPCStatus.percentEncode(message)
        XCTAssertTrue(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
        XCTAssertTrue(encoded.hasPrefix("%09%0Atest with whitespace%0D%0A"))
        XCTAssertEqual(GRPCStatus.percentDecode(encoded), message)
        XCTAssertEqual(GRPCStatus.percentEncode("plain"), "plain")
        XCTAssertEqual(GRPCStatus.percentDecode("bad %zz and %4"), "bad %zz and %4")
    }

    func testBase64() {
        for n in 0..<10 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + 200) }
            XCTAssertEqual(Base64.decode(Base64.encode(bytes)), bytes)
        }
        XCTAssertEqual(Base64.encode(Array("foob".utf8)), "Zm9vYg==")
        XCTAssertEqual(Base64.decode("Zm9vYg"), Array("foob".utf8))
        XCTAssertNil(Base64.decode("!!"))
    }

    func testTimeoutParsingAndFormatting() {
        XCTAssertEqual(GRPCTimeout.parse("1S"), 1_000_000_000)
        XCTAssertEqual(GRPCTimeout.parse("250m"), 250_000_000)
        XCTAssertEqual(GRPCTimeout.parse("3H"), 3 * 3_600_000_000_000)
        XCTAssertEqual(GRPCTimeout.parse("99999999n"), 99_999_999)
        XCTAssertNil(GRPCTimeout.parse("123456789S"))
        XCTAssertNil(GRPCTimeout.parse("1x"))
        XCTAssertNil(GRPCTimeout.parse("S"))
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 5_000_000_000), "5000000u")
        XCTAssertEqual(GRPCTimeout.format(nanoseconds: 123_456_789_012), "123457m")
    }

    func testUnimplementedTexts() {
        var table = GRPCRouter.Table()
        table.services = ["a.B"]
        XCTAssertEqual(GRPCRouter.unimplementedStatus(path: "/a.B/C", table: table).message, "unknown method C for service a.B")
        XCTAssertEqual(GRPCRouter.unimplementedStatus(path: "/x.Y/C", table: table).message, "unknown service x.Y")
        XCTAssertEqual(GRPCRouter.unimplementedStatus(path: "nopath", table: table).code, .resourceExhausted)
    }
}
