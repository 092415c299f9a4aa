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
        router.addBidiStreaming("/etcdserverpb.Watch/Watch") { requests, responses, context in
            try await RequestCredentials.$current.withValue(RequestCredentials.from(context)) {
                try await WatchSession(node: node).run(requests: requests, responses: responses)
            }
        }
    }
}

/// One Watch stream. Requests are handled as they arrive; every response (created, canceled,
/// progress and events) leaves through the watch stream's one queue, whose control responses go
/// ahead of events, so a watcher's "created" always precedes its events. The sender takes what is
/// queued in bursts and writes a burst with one hop to the connection.
private final class WatchSession: Sendable {
    let node: ServerNode
    let stream: WatchStream
    /// Per watch id: whether it wants fragmented responses.
    let fragmented = Mutex<Set<Int64>>([])

    init(node: ServerNode) {
        self.node = node
        stream = node.watchable.makeStream()
    }

    func run(requests: RequestStream, responses: ResponseStream) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.send(to: responses) }
            defer {
                stream.close()
                group.cancelAll()
            }
            for try await message in requests {
                let request: Etcdserverpb_WatchRequest = try ProtoCodec.decode(message)
                if case .createRequest(let create) = request.requestUnion, let reason = await denial(create) {
                    var refused = WatchResponse(watchID: -1, revision: node.currentRevision, canceled: true, cancelReason: reason)
                    refused.created = true
                    stream.sendControl(refused)
                    continue
                }
                handle(request)
            }
            // As etcd's watch server: the client closing its side ends nothing; the watchers keep
            // sending until the call is cancelled (the JSON gateway half-closes after the body).
            try await group.next()
        }
    }

    /// Why a watch may not be created for the stream's user (etcd's isWatchPermitted), or nil. As
    /// etcd 3.4 does, a range end of "\0" is checked as the single key.
    private func denial(_ create: Etcdserverpb_WatchCreateRequest) async -> String? {
        let end = create.rangeEnd == [0] ? [] : create.rangeEnd
        do throws(ServerError) {
            try await node.checkWatch(key: create.key, rangeEnd: end)
            return nil
        } catch {
            return error.watchCancelReason
        }
    }

    private func handle(_ request: Etcdserverpb_WatchRequest) {
        switch request.requestUnion {
        case .createRequest(let create):
            // As etcd: an empty key is "\0", the smallest key; range_end "\0" means "every key >= key",
            // which the store reads from the same "\0" spelling.
            let key = create.key.isEmpty ? [UInt8(0)] : create.key
            let revision = node.currentRevision
            do {
                let id = try stream.watch(
                    id: create.watchID, key: key, end: create.rangeEnd, startRevision: create.startRevision,
                    prevKV: create.prevKv, noPut: create.filters.contains(.noput),
                    noDelete: create.filters.contains(.nodelete), progressNotify: create.progressNotify
                ) { id in
                    if create.fragment { self.fragmented.withLock { _ = $0.insert(id) } }
                    var created = WatchResponse(watchID: id, revision: revision)
                    created.created = true
                    return created
                }
                _ = id
            } catch {
                var refused = WatchResponse(watchID: -1, revision: revision, canceled: true, cancelReason: "\(error)")
                refused.created = true
                stream.sendControl(refused)
            }
        case .cancelRequest(let cancel):
            if stream.cancel(id: cancel.watchID) {
                fragmented.withLock { _ = $0.remove(cancel.watchID) }
                stream.sendControl(WatchResponse(watchID: cancel.watchID, revision: node.currentRevision, canceled: true))
            }
        case .progressRequest:
            // etcd 3.4 answers at once, for every watcher of the stream (watch id -1).
            stream.sendControl(WatchResponse(watchID: -1, revision: node.currentRevision))
        case nil:
            break
        }
    }

    private func send(to responses: ResponseStream) async throws {
        let limit = node.options.maxRequestBytes
        while let batch = await stream.nextBatch(max: 256) {
            var messages: [ByteBuffer] = []
            messages.reserveCapacity(batch.count)
            let fragmenting = fragmented.withLock { $0 }
            var encoder = WatchResponseEncoder(header: { [node] in node.header(revision: $0) })
            for w in batch {
                if !fragmenting.contains(w.watchID), let bytes = encoder.encode(w) {
                    messages.append(bytes)
                    continue
                }
                var response = Etcdserverpb_WatchResponse()
                response.header = node.header(revision: w.revision)
                // etcd's answer to a watch from a compacted revision names no revision.
                if w.compactRevision != 0 { response.header?.revision = 0 }
                response.watchID = w.watchID
                response.created = w.created
                response.compactRevision = w.compactRevision
                response.canceled = w.canceled || w.compactRevision != 0
                response.cancelReason = w.cancelReason
                response.events = w.events.map(\.proto)
                for part in Self.fragments(response, limit: limit, enabled: fragmenting.contains(w.watchID)) {
                    messages.append(ProtoCodec.encode(part))
                }
            }
            try await responses.send(contentsOf: messages)
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
    /// prevKV is present only when the watcher asked for it (the store fills it then).
    var proto: Mvccpb_Event {
        var event = Mvccpb_Event()
        event.type = kind == .put ? .put : .delete
        event.kv = kv.proto
        if let prevKV { event.prevKv = prevKV.proto }
        return event
    }
}
