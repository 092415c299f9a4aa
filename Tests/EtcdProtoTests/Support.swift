import EtcdProto
import XCTest

/// Hex helpers for golden comparisons.
func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(hex.utf8.count / 2)
    var high: UInt8?
    for c in hex.utf8 {
        let v: UInt8 = c <= 57 ? c - 48 : c - 87
        if let h = high {
            out.append(h << 4 | v)
            high = nil
        } else {
            high = v
        }
    }
    return out
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Checks every encoding path against the reference bytes, and decoding back.
func assertGolden<M: ProtoMessage>(
    _ message: M, _ hex: String, file: StaticString = #filePath, line: UInt = #line
) {
    let expected = hexBytes(hex)
    XCTAssertEqual(hexString(message.serializedBytes()), hex, "serializedBytes", file: file, line: line)
    XCTAssertEqual(message.serializedSize(), expected.count, "serializedSize", file: file, line: line)
    var buffer = [UInt8](repeating: 0xee, count: expected.count + 8)
    let written = buffer.withUnsafeMutableBytes { message.serialize(into: $0) }
    XCTAssertEqual(written, expected.count, "serialize(into:) count", file: file, line: line)
    XCTAssertEqual(Array(buffer[..<written]), expected, "serialize(into:) bytes", file: file, line: line)
    XCTAssertEqual(Array(buffer[written...]), [UInt8](repeating: 0xee, count: 8), "wrote past size",
                   file: file, line: line)
    var appended: [UInt8] = [1, 2]
    message.serialize(appendingTo: &appended)
    XCTAssertEqual(appended, [1, 2] + expected, "serialize(appendingTo:)", file: file, line: line)
    do {
        let decoded = try M(serializedBytes: expected)
        XCTAssertEqual(decoded, message, "decode(golden)", file: file, line: line)
        let viaPointer = try expected.withUnsafeBytes { try M(serializedBytes: $0) }
        XCTAssertEqual(viaPointer, message, "decode(pointer)", file: file, line: line)
    } catch {
        XCTFail("decoding golden bytes threw \(error)", file: file, line: line)
    }
}
