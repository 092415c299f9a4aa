import NIOCore

/// Splits a stream of DATA bytes into gRPC length-prefixed messages.
///
/// Each message is 1 flag byte (compressed or not), a 4-byte big-endian length, then the bytes. A message
/// may span many DATA frames and a frame may hold many messages; each message is copied exactly once,
/// into a buffer of its own size. `package`: the fuzz targets drive it directly.
package struct MessageDeframer {
    package enum Failure: Error, Equatable {
        /// The compressed flag was set; this implementation negotiates no compression.
        case compressed
        /// The announced length exceeds the receive limit.
        case tooLarge(length: Int, limit: Int)
    }

    package let maxMessageSize: Int
    private var header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
    private var headerCount = 0
    private var current: ByteBuffer?
    private var remaining = 0

    package init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
    }

    /// True when no partial message is buffered (a clean end of the stream).
    package var isIdle: Bool { headerCount == 0 && current == nil }

    /// Consumes `bytes`, calling `emit` for every completed message.
    package mutating func consume(
        _ bytes: UnsafeRawBufferPointer, allocator: ByteBufferAllocator, emit: (ByteBuffer) -> Void
    ) throws(Failure) {
        var index = 0
        let count = bytes.count
        while index < count {
            if current == nil {
                // Collect the 5-byte prefix, possibly across calls.
                while headerCount < 5 && index < count {
                    let b = bytes[index]
                    switch headerCount {
                    case 0: header.0 = b
                    case 1: header.1 = b
                    case 2: header.2 = b
                    case 3: header.3 = b
                    default: header.4 = b
                    }
                    headerCount += 1
                    index += 1
                }
                if headerCount < 5 { return }
                if header.0 != 0 { throw .compressed }
                let length = Int(header.1) << 24 | Int(header.2) << 16 | Int(header.3) << 8 | Int(header.4)
                if length > maxMessageSize { throw .tooLarge(length: length, limit: maxMessageSize) }
                headerCount = 0
                if length == 0 {
                    emit(allocator.buffer(capacity: 0))
                    continue
                }
                current = allocator.buffer(capacity: length)
                remaining = length
            }
            let n = min(remaining, count - index)
            current!.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + n)]))
            index += n
            remaining -= n
            if remaining == 0 {
                let message = current!
                current = nil
                emit(message)
            }
        }
    }
}

extension ByteBuffer {
    /// Appends `message` with its gRPC 5-byte prefix (uncompressed).
    mutating func writeGRPCMessage(_ message: ByteBuffer) {
        writeInteger(UInt8(0))
        writeInteger(UInt32(message.readableBytes))
        writeImmutableBuffer(message)
    }
}

/// Parses and formats the `grpc-timeout` header ("1-8 digits + unit H/M/S/m/u/n").
enum GRPCTimeout {
    /// The timeout in nanoseconds, or nil when the header is malformed.
    static func parse(_ value: String) -> Int64? {
        let utf8 = Array(value.utf8)
        guard utf8.count >= 2, utf8.count <= 9 else { return nil }
        var amount: Int64 = 0
        for c in utf8.dropLast() {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(c - UInt8(ascii: "0"))
        }
        let unit: Int64
        switch utf8.last! {
        case UInt8(ascii: "H"): unit = 3_600_000_000_000
        case UInt8(ascii: "M"): unit = 60_000_000_000
        case UInt8(ascii: "S"): unit = 1_000_000_000
        case UInt8(ascii: "m"): unit = 1_000_000
        case UInt8(ascii: "u"): unit = 1_000
        case UInt8(ascii: "n"): unit = 1
        default: return nil
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: unit)
        return overflow ? Int64.max : product
    }

    /// Formats a timeout with at most 8 digits, rounding up so the peer never sees a shorter deadline.
    static func format(nanoseconds: Int64) -> String {
        let ns = max(nanoseconds, 0)
        let units: [(Int64, Character)] = [(1, "n"), (1_000, "u"), (1_000_000, "m"), (1_000_000_000, "S"),
                                           (60_000_000_000, "M"), (3_600_000_000_000, "H")]
        for (size, letter) in units {
            let amount = (ns + size - 1) / size
            if amount < 100_000_000 { return "\(amount)\(letter)" }
        }
        return "99999999H"
    }
}
