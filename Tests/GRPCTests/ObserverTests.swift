import GRPC
import NIOCore
import Synchronization
import XCTest

/// Records what the server reports for one method.
final class RecordingObserver: GRPCCallObserver {
    struct Counts: Equatable {
        var started = 0, received = 0, sent = 0, receivedBytes = 0, sentBytes = 0
        var codes: [Int] = []
    }
    let kind: GRPCCallKind
    let counts = Mutex(Counts())
    var timesCalls: Bool { true }
    init(kind: GRPCCallKind) { self.kind = kind }
    func started() { counts.withLock { $0.started += 1 } }
    func received(bytes: Int) { counts.withLock { $0.received += 1; $0.receivedBytes += bytes } }
    func sent(bytes: Int) { counts.withLock { $0.sent += 1; $0.sentBytes += bytes } }
    func finished(code: Int, nanoseconds: UInt64) { counts.withLock { $0.codes.append(code) } }
    var value: Counts { counts.withLock { $0 } }
}

final class ObserverTests: XCTestCase {
    func testCallsAreCountedPerMethodWithTheirFinalCode() async throws {
        let router = makeTestRouter(events: EventLog())
        let observers = Mutex<[String: RecordingObserver]>([:])
        router.setObservers { service, method, kind in
            let o = RecordingObserver(kind: kind)
            observers.withLock { $0["\(service)/\(method)"] = o }
            return o
        }
        let server = GRPCServer(router: router)
        let channel = try await server.bind(host: "127.0.0.1", port: 0, group: testGroup)
        let client = try await GRPCClient.connect(host: "127.0.0.1", port: channel.localAddress!.port!, group: testGroup)

        _ = try await client.unary("/test.Echo/Unary", buffer("hello"))
        var failing = ByteBuffer()
        failing.writeInteger(UInt8(GRPCStatus.Code.notFound.rawValue))
        failing.writeString("gone")
        _ = try? await client.unary("/test.Echo/Fail", failing)
        _ = try? await client.unary("/test.Echo/Nope", buffer("x"))  // unknown: no observer, no count
        var count = ByteBuffer()
        count.writeInteger(UInt32(3))
        let call = try await client.makeCall("/test.Echo/Count")
        try await call.send(count)
        call.closeSend()
        for try await _ in call.responses {}
        _ = await call.outcome()
        await client.close()
        await server.shutdownGracefully(timeout: .seconds(5))

        let o = observers.withLock { $0 }
        XCTAssertEqual(o["test.Echo/Unary"]?.kind, .unary)
        XCTAssertEqual(o["test.Echo/Count"]?.kind, .serverStreaming)
        XCTAssertEqual(o["test.Echo/Bidi"]?.kind, .bidiStreaming)
        XCTAssertEqual(o["test.Echo/Unary"]?.value,
                       .init(started: 1, received: 1, sent: 1, receivedBytes: 5, sentBytes: 5, codes: [0]))
        XCTAssertEqual(o["test.Echo/Fail"]?.value.codes, [5])
        XCTAssertEqual(o["test.Echo/Fail"]?.value.sent, 0)
        XCTAssertEqual(o["test.Echo/Count"]?.value,
                       .init(started: 1, received: 1, sent: 3, receivedBytes: 4, sentBytes: 12, codes: [0]))
        XCTAssertEqual(o["test.Echo/Sum"]?.value, .init())
    }
}
