import EtcdProto
import GRPC
import MVCC
import NIOCore
import Server
import Synchronization

/// `etcdserverpb.Watch`: one bidi stream carries many watchers (etcd's serverWatchStream).
struct WatchService {
    let node: ServerNode

    func register(on router: GRPCRouter) {
        let node = self.node
        router.addBidiStreaming("/etcdserverpb.Watch/Watch") { requests, responses, _ in
            try await WatchSession(node: node).run(requests: requests, responses: responses)
        }
    }
}

/// One Watch stream. Responses leave through a single sender in order; a watcher's "created"
/// response always precedes its events because both are queued under `gate`.
private final class WatchSession: Sendable {
    enum Outbound: Sendable {
        case control(Etcdserverpb_WatchResponse)
        case watch(WatchResponse)
    }

    let node: ServerNode
    let stream: WatchStream
    let gate = Mutex<Void>(())
    /// Per watch id: whether it wants prev_kv / fragmented responses.
    let options = Mutex<[Int64: (prevKV: Bool, fragment: Bool)]>([:])
    let outbound: AsyncStream<Outbound>
    let outboundIn: AsyncStream<Outbound>.Continuation
    /// Watch responses in flight between the pump and the sender; bounds memory per stream.
    static let window = 16
    let credits: AsyncStream<Void>
    let creditsIn: AsyncStream<Void>.Continuation

    init(node: ServerNode) {
        self.node = node
        stream = node.watchable.makeStream()
        (outbound, outboundIn) = AsyncStream.makeStream(of: Outbound.self)
        (credits, creditsIn) = AsyncStream.makeStream(of: Void.self)
    }

    func run(requests: RequestStream, responses: ResponseStream) async throws {
        for _ in 0..<Self.window { creditsIn.yield() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.pump() }
            group.addTask { try await self.send(to: responses) }
            defer {
                stream.close()
                outboundIn.finish()
                creditsIn.finish()
                group.cancelAll()
            }
            for try await message in requests {
                let request: Etcdserverpb_WatchRequest = try ProtoCodec.decode(message)
                handle(request)
            }
        }
    }

    private func handle(_ request: Etcdserverpb_WatchRequest) {
        switch request.requestUnion {
        case .createRequest(let create):
            // As etcd: an empty key is "\0", the smallest key; range_end "\0" means "every key >= key",
            // which the store reads from the same "\0" spelling.
            let key = create.key.isEmpty ? [UInt8(0)] : create.key
            gate.withLock { _ in
                let revision = node.currentRevision
                var response = Etcdserverpb_WatchResponse()
                response.header = node.header(revision: revision)
                response.created = true
                do {
                    let id = try stream.watch(
                        id: create.watchID, key: key, end: create.rangeEnd,
                        startRevision: create.startRevision,
                        prevKV: create.prevKv, noPut: create.filters.contains(.noput),
                        noDelete: create.filters.contains(.nodelete), progressNotify: create.progressNotify)
                    options.withLock { $0[id] = (create.prevKv, create.fragment) }
                    response.watchID = id
                } catch {
                    response.watchID = -1
                    response.canceled = true
                    response.cancelReason = "\(error)"
                }
                outboundIn.yield(.control(response))
            }
        case .cancelRequest(let cancel):
            if stream.cancel(id: cancel.watchID) {
                options.withLock { _ = $0.removeValue(forKey: cancel.watchID) }
                var response = Etcdserverpb_WatchResponse()
                response.header = node.header()
                response.watchID = cancel.watchID
                response.canceled = true
                outboundIn.yield(.control(response))
            }
        case .progressRequest:
            // etcd 3.4 answers at once, for every watcher of the stream (watch id -1).
            var response = Etcdserverpb_WatchResponse()
            response.header = node.header()
            response.watchID = -1
            outboundIn.yield(.control(response))
        case nil:
            break
        }
    }

    /// Moves the store's responses to the sender, at most `window` at a time.
    private func pump() async {
        var credit = credits.makeAsyncIterator()
        for await response in stream.responses {
            guard await credit.next() != nil else { return }
            gate.withLock { _ in outboundIn.yield(.watch(response)) }
        }
    }

    private func send(to responses: ResponseStream) async throws {
        for await item in outbound {
            switch item {
            case .control(let response):
                try await responses.send(ProtoCodec.encode(response))
            case .watch(let w):
                let wanted = options.withLock { $0[w.watchID] } ?? (prevKV: false, fragment: false)
                var response = Etcdserverpb_WatchResponse()
                response.header = node.header(revision: w.revision)
                response.watchID = w.watchID
                response.compactRevision = w.compactRevision
                response.canceled = w.canceled || w.compactRevision != 0
                response.cancelReason = w.cancelReason
                response.events = w.events.map { $0.proto(withPrevKV: wanted.prevKV) }
                for part in Self.fragments(response, limit: node.options.maxRequestBytes, enabled: wanted.fragment) {
                    try await responses.send(ProtoCodec.encode(part))
                }
                creditsIn.yield()
            }
        }
    }

    /// etcd's sendFragments: split a large response's events over several responses marked
    /// `fragment`, the last one unmarked; one event is never split.
    static func fragments(_ response: Etcdserverpb_WatchResponse, limit: Int, enabled: Bool)
        -> [Etcdserverpb_WatchResponse]
    {
        guard enabled, response.events.count > 1, response.serializedSize() >= limit else { return [response] }
        var parts: [Etcdserverpb_WatchResponse] = []
        var current = response
        current.events = []
        current.fragment = true
        var size = current.serializedSize()
        for event in response.events {
            let eventSize = event.serializedSize() + 8
            if !current.events.isEmpty && size + eventSize >= limit {
                parts.append(current)
                current.events = []
                size = current.serializedSize()
            }
            current.events.append(event)
            size += eventSize
        }
        current.fragment = false
        parts.append(current)
        return parts
    }
}

extension Event {
    func proto(withPrevKV: Bool) -> Mvccpb_Event {
        var event = Mvccpb_Event()
        event.type = kind == .put ? .put : .delete
        event.kv = kv.proto
        if withPrevKV, let prevKV { event.prevKv = prevKV.proto }
        return event
    }
}
