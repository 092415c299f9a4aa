import GRPC
import NIOCore
import NIOPosix
import Synchronization
import XCTest

/// One event loop group for the whole test target.
let testGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

/// Events reported by test handlers ("started Sleep", "cancelled Sleep"), awaited by tests.
final class EventLog: Sendable {
    private struct State {
        var events: [String] = []
        var waiters: [(String, CheckedContinuation<Void, Never>)] = []
    }
    private let state = Mutex(State())

    func record(_ event: String) {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.events.append(event)
            let (hit, keep) = (s.waiters.filter { $0.0 == event }, s.waiters.filter { $0.0 != event })
            s.waiters = keep
            return hit.map(\.1)
        }
        for c in ready { c.resume() }
    }

    var events: [String] { state.withLock { $0.events } }

    /// Waits until `event` has been recorded (at most `seconds`, then fails the test).
    func wait(for event: String, seconds: Int64 = 10, file: StaticString = #filePath, line: UInt = #line) async {
        let got = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let done = self.state.withLock { s -> Bool in
                        if s.events.contains(event) { return true }
                        s.waiters.append((event, c))
                        return false
                    }
                    if done { c.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return false
            }
            let first = await group.next()!
            if !first { self.record(event) }  // release the waiter
            group.cancelAll()
            return first
        }
        XCTAssertTrue(got, "timed out waiting for \(event)", file: file, line: line)
    }
}

func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

/// The handlers every test server carries.
func makeTestRouter(events: EventLog) -> GRPCRouter {
    let router = GRPCRouter()
    router.addUnary("/test.Echo/Unary") { request, context in
        if let initial = context.requestMetadata["x-echo-initial"] {
            context.setResponseHeaders(Metadata([("x-echo-initial", initial)]))
        }
        if case .binary(let bytes)? = context.requestMetadata.first("x-echo-trailing-bin") {
            var trailers = Metadata()
            trailers.add("x-echo-trailing-bin", binary: bytes)
            context.setTrailers(trailers)
        }
        return request
    }
    router.addUnary("/test.Echo/Fail") { request, _ in
        var request = request
        let code = Int(request.readInteger(as: UInt8.self) ?? 2)
        throw GRPCStatus(code: .init(rawValue: code), message: request.readString(length: request.readableBytes) ?? "")
    }
    router.addUnary("/test.Echo/Size") { request, _ in
        var request = request
        let n = Int(request.readInteger(as: UInt32.self) ?? 0)
        return ByteBuffer(repeating: 0x5A, count: n)
    }
    router.addUnary("/test.Echo/Sleep") { request, _ in
        let name = text(request)
        events.record("started \(name)")
        do {
            try await Task.sleep(for: .seconds(60))
        } catch {
            events.record("cancelled \(name)")
            throw error
        }
        return request
    }
    router.addUnary("/test.Echo/Slow") { request, _ in
        events.record("started slow")
        try? await Task.sleep(for: .milliseconds(300))
        return request
    }
    router.addServerStreaming("/test.Echo/Count") { request, responses, _ in
        var request = request
        let n = request.readInteger(as: UInt32.self) ?? 0
        for i in 0..<n {
            var b = ByteBuffer()
            b.writeInteger(i)
            try await responses.send(b)
        }
    }
    router.addClientStreaming("/test.Echo/Sum") { requests, responses, _ in
        var total = 0
        var count = 0
        for try await m in requests {
            total += m.readableBytes
            count += 1
        }
        var b = ByteBuffer()
        b.writeInteger(UInt32(count))
        b.writeInteger(UInt32(total))
        try await responses.send(b)
    }
    router.addClientStreaming("/test.Echo/GatedSum") { requests, responses, _ in
        events.record("gated started")
        await events.wait(for: "open gate", seconds: 60)
        var total = 0
        for try await m in requests { total += m.readableBytes }
        var b = ByteBuffer()
        b.writeInteger(UInt64(total))
        try await responses.send(b)
    }
    router.addBidiStreaming("/test.Echo/Bidi") { requests, responses, context in
        responses.setHeaders(Metadata([("x-bidi", "yes")]))
        for try await m in requests {
            try await responses.send(m)
        }
        responses.setTrailers(Metadata([("x-done", "true")]))
    }
    return router
}

/// A server on 127.0.0.1 with a free port.
struct TestServer {
    let server: GRPCServer
    let port: Int
    let events: EventLog

    static func start(
        configuration: GRPCServerConfiguration = GRPCServerConfiguration(),
        http1Fallback: (@Sendable (Channel) -> EventLoopFuture<Void>)? = nil
    ) async throws -> TestServer {
        let events = EventLog()
        let server = GRPCServer(router: makeTestRouter(events: events), configuration: configuration,
                                http1Fallback: http1Fallback)
        let channel = try await server.bind(host: "127.0.0.1", port: 0, group: testGroup)
        return TestServer(server: server, port: channel.localAddress!.port!, events: events)
    }

    func client() async throws -> GRPCClient {
        try await GRPCClient.connect(host: "127.0.0.1", port: port, group: testGroup)
    }

    func stop() async {
        await server.shutdownGracefully(timeout: .seconds(5))
    }

    /// Checks that a fresh client still gets served.
    func assertHealthy(file: StaticString = #filePath, line: UInt = #line) async throws {
        let client = try await client()
        let (response, _) = try await client.unary("/test.Echo/Unary", buffer("still alive"), timeout: .seconds(10))
        XCTAssertEqual(text(response), "still alive", file: file, line: line)
        await client.close()
    }
}
