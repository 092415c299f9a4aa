import NIOCore
import NIOPosix
import Synchronization
import XCTest

/// A plain TCP connection that sends hand-made bytes and records what comes back, to test the server with
/// input no well-behaved client would send.
final class RawConnection: Sendable {
    let channel: any Channel
    private let box: RawBox

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let sink: @Sendable ([UInt8]) -> Void
        init(sink: @escaping @Sendable ([UInt8]) -> Void) { self.sink = sink }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            sink(Array(unwrapInboundIn(data).readableBytesView))
        }
    }

    private init(channel: any Channel, box: RawBox) {
        self.channel = channel
        self.box = box
    }

    static func connect(port: Int) async throws -> RawConnection {
        let box = RawBox()
        let channel = try await ClientBootstrap(group: testGroup)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector { box.append($0) })
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, box: box)
    }

    var bytes: [UInt8] { box.received.withLock { $0 } }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Waits until the server closes the connection; false after `seconds`.
    func waitClosed(seconds: Int64 = 10) async -> Bool {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: Bool.self)
        let timeout = loop.scheduleTask(in: .seconds(seconds)) { promise.succeed(false) }
        channel.closeFuture.whenComplete { _ in
            timeout.cancel()
            promise.succeed(true)
        }
        return (try? await promise.futureResult.get()) ?? false
    }

    /// Polls until `condition` holds on the frames received so far; false after `seconds`.
    func waitFor(seconds: Int = 10, _ condition: ([Frame]) -> Bool) async -> Bool {
        for _ in 0..<(seconds * 50) {
            if condition(Frame.parse(bytes)) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(Frame.parse(bytes))
    }

    func close() async {
        try? await channel.close()
    }
}

/// The bytes a raw connection has received.
private final class RawBox: Sendable {
    let received = Mutex<[UInt8]>([])
    func append(_ bytes: [UInt8]) { received.withLock { $0.append(contentsOf: bytes) } }
}

/// An HTTP/2 frame, for building and parsing raw traffic.
struct Frame: Equatable {
    var type: UInt8
    var flags: UInt8
    var streamID: UInt32
    var payload: [UInt8]

    static let data: UInt8 = 0, headers: UInt8 = 1, rstStream: UInt8 = 3, settings: UInt8 = 4, ping: UInt8 = 6,
        goaway: UInt8 = 7, windowUpdate: UInt8 = 8
    static let endStream: UInt8 = 1, endHeaders: UInt8 = 4, ack: UInt8 = 1

    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    var encoded: [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags,
                UInt8(streamID >> 24 & 0x7F), UInt8(streamID >> 16 & 0xFF), UInt8(streamID >> 8 & 0xFF),
                UInt8(streamID & 0xFF)] + payload
    }

    /// Complete frames at the start of `bytes` (the server sends no preface of its own besides SETTINGS).
    static func parse(_ bytes: [UInt8]) -> [Frame] {
        var frames: [Frame] = []
        var i = 0
        while i + 9 <= bytes.count {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            guard i + 9 + n <= bytes.count else { break }
            let id = UInt32(bytes[i + 5] & 0x7F) << 24 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 8
                | UInt32(bytes[i + 8])
            frames.append(Frame(type: bytes[i + 3], flags: bytes[i + 4], streamID: id,
                                payload: Array(bytes[(i + 9)..<(i + 9 + n)])))
            i += 9 + n
        }
        return frames
    }

    /// The error code of a RST_STREAM or GOAWAY frame.
    var errorCode: UInt32? {
        let offset: Int
        switch type {
        case Frame.rstStream: offset = 0
        case Frame.goaway: offset = 4
        default: return nil
        }
        guard payload.count >= offset + 4 else { return nil }
        return payload[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A request HEADERS block in HPACK: static-table fields and literals without indexing or Huffman.
    static func requestHeaders(path: String, streamID: UInt32, endStream: Bool = false,
                               contentType: String = "application/grpc") -> Frame {
        var block: [UInt8] = [0x83, 0x86]  // :method POST, :scheme http
        func literal(nameIndex: Int, _ value: String) {
            if nameIndex < 15 {
                block.append(UInt8(nameIndex))
            } else {
                block.append(0x0F)
                block.append(UInt8(nameIndex - 15))
            }
            let v = Array(value.utf8)
            precondition(v.count < 127)
            block.append(UInt8(v.count))
            block.append(contentsOf: v)
        }
        literal(nameIndex: 4, path)  // :path
        literal(nameIndex: 1, "localhost")  // :authority
        literal(nameIndex: 31, contentType)  // content-type
        return Frame(type: headers, flags: endHeaders | (endStream ? Frame.endStream : 0), streamID: streamID,
                     payload: block)
    }

    /// A gRPC length-prefixed message.
    static func grpcMessage(_ bytes: [UInt8]) -> [UInt8] {
        let n = bytes.count
        return [0, UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + bytes
    }
}
