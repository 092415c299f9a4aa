import EtcdMetrics
import EtcdProto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Raft
import XCTest
@testable import Transport

final class TransportTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 2) }
    override func tearDown() { try? group.syncShutdownGracefully() }

    private func connected(_ a: Node, _ b: Node) async -> Bool {
        await eventually {
            let ab = await a.transport.workingStreams(to: b.id)
            let ba = await b.transport.workingStreams(to: a.id)
            return ab.count == 2 && ba.count == 2
        }
    }

    func testStreamsCarryMessagesBothWays() async throws {
        let a = try await Node.start(id: 1, port: 22101, group: group)
        let b = try await Node.start(id: 2, port: 22102, group: group)
        a.transport.addPeer(id: 2, urls: [b.url])
        b.transport.addPeer(id: 1, urls: [a.url])
        let up = await connected(a, b)
        XCTAssertTrue(up)
        XCTAssertTrue(a.transport.isActive(2) && b.transport.isActive(1))
        XCTAssertNotNil(a.transport.activeSince(2))

        // 300 appends in one term (msgappv2 AppEntries after the first), interleaved with votes.
        var sent: [Raft.Message] = []
        var index: UInt64 = 0
        for i in 0..<300 {
            let app = Raft.Message(type: .app, to: 2, from: 1, term: 4, logTerm: 4, index: index,
                                   entries: [Raft.Entry(term: 4, index: index + 1, data: Array("v\(i)".utf8))], commit: index)
            index += 1
            sent.append(app)
            if i % 50 == 0 { sent.append(Raft.Message(type: .heartbeat, to: 2, from: 1, term: 4, commit: index)) }
        }
        a.transport.send(sent)
        let arrived = await eventually { b.handler.messages.count == sent.count }
        XCTAssertTrue(arrived, "got \(b.handler.messages.count) of \(sent.count)")
        XCTAssertEqual(b.handler.messages.filter { $0.type == .app }, sent.filter { $0.type == .app })
        XCTAssertEqual(b.handler.messages.filter { $0.type == .heartbeat }, sent.filter { $0.type == .heartbeat })

        b.transport.send([Raft.Message(type: .appResp, to: 1, from: 2, term: 4, index: 300)])
        let back = await eventually { a.handler.messages.count == 1 }
        XCTAssertTrue(back)
        XCTAssertEqual(a.handler.messages.first?.index, 300)
        // Messages to unknown members and to 0 are ignored.
        a.transport.send([Raft.Message(type: .vote, to: 9, from: 1), Raft.Message(type: .vote, to: 0, from: 1)])
        await a.transport.stop()
        await b.transport.stop()
    }

    /// unix:// peer URLs (etcd's e2e TestReleaseUpgradeWithRestart uses them): each member listens
    /// on the socket file its URL's host part names, relative to the working directory.
    func testStreamsAndPipelineOverUnixSockets() async throws {
        let dir = tempDir("unix")
        let saved = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(saved) }
        // A file left behind by an earlier run is replaced.
        FileManager.default.createFile(atPath: dir + "/localhost:22111", contents: Data("stale".utf8))
        let a = try await Node.start(id: 1, port: 22111, group: group, scheme: "unix", host: "localhost")
        let b = try await Node.start(id: 2, port: 22112, group: group, scheme: "unix", host: "localhost")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/localhost:22112"))
        a.transport.addPeer(id: 2, urls: [b.url])
        b.transport.addPeer(id: 1, urls: [a.url])
        let up = await connected(a, b)
        XCTAssertTrue(up)
        let sent = [Raft.Message(type: .app, to: 2, from: 1, term: 2, logTerm: 2, index: 0,
                                 entries: [Raft.Entry(term: 2, index: 1, data: Array("v".utf8))], commit: 0)]
        a.transport.send(sent)
        let arrived = await eventually { b.handler.messages.count == 1 }
        XCTAssertTrue(arrived)
        XCTAssertEqual(b.handler.messages, sent)
        await a.transport.stop()
        await b.transport.stop()
    }

    func testPipelineWhenStreamsAreDownAndRemotesAnswer() async throws {
        let a = try await Node.start(id: 1, port: 22111, group: group)
        let b = try await Node.start(id: 2, port: 22112, group: group)
        // Only A knows B: B never dials A, so A has no stream writers and uses POST /raft. B learns
        // A's URL from X-PeerURLs (a remote) and answers through its own pipeline.
        a.transport.addPeer(id: 2, urls: [b.url])
        a.transport.send([Raft.Message(type: .vote, to: 2, from: 1, term: 7, logTerm: 3, index: 9)])
        let got = await eventually { b.handler.messages.count == 1 }
        XCTAssertTrue(got)
        XCTAssertEqual(b.handler.messages.first?.type, .vote)
        XCTAssertTrue(b.transport.isKnown(1))
        XCTAssertFalse(b.transport.hasPeer(1))
        b.transport.send([Raft.Message(type: .voteResp, to: 1, from: 2, term: 7)])
        let answered = await eventually { a.handler.messages.count == 1 }
        XCTAssertTrue(answered)
        let streams = await a.transport.workingStreams(to: 2)
        XCTAssertEqual(streams, [])
        await a.transport.stop()
        await b.transport.stop()
    }

    func testSnapshotTransfer() async throws {
        let a = try await Node.start(id: 1, port: 22121, group: group)
        let b = try await Node.start(id: 2, port: 22122, group: group)
        a.transport.addPeer(id: 2, urls: [b.url])
        b.transport.addPeer(id: 1, urls: [a.url])
        let db = (0..<(3 << 20 + 12345)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let dbPath = a.snapDir + "/outgoing.db"
        _ = FileManager.default.createFile(atPath: dbPath, contents: Data(db))
        let snap = Raft.Snapshot(data: Array("v2 store".utf8), metadata: SnapshotMetadata(
            confState: ConfState(voters: [1, 2]), index: 100, term: 3))
        let m = Raft.Message(type: .snap, to: 2, from: 1, term: 3, snapshot: snap)
        a.transport.sendSnapshot(m, dbPath: dbPath)
        let done = await eventually(20) { a.handler.state.withLock { !$0.snapshotReports.isEmpty } }
        XCTAssertTrue(done)
        XCTAssertEqual(a.handler.state.withLock { $0.snapshotReports.map { "\($0.0):\($0.1)" } }, ["2:false"])
        let received = b.handler.state.withLock { $0.snapshots }
        XCTAssertEqual(received.count, 1)
        XCTAssertEqual(received.first?.0, m)
        XCTAssertEqual(received.first?.1, b.snapDir + "/0000000000000064.snap.db")
        XCTAssertEqual(FileManager.default.contents(atPath: b.snapDir + "/0000000000000064.snap.db"), Data(db))
        // No temporary files left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: b.snapDir), ["0000000000000064.snap.db"])
        // rafthttp's snapshot series, by peer id, none left in flight.
        let page = Meters.render {}
        for series in [#"etcd_network_snapshot_send_success{To="2"} 1"#, #"etcd_network_snapshot_receive_success{From="1"} 1"#,
                       #"etcd_network_snapshot_send_inflights_total{To="2"} 0"#,
                       #"etcd_network_snapshot_receive_inflights_total{From="1"} 0"#,
                       #"etcd_network_snapshot_send_total_duration_seconds_count{To="2"} 1"#] {
            XCTAssertTrue(page.contains(series), "no \(series) on the page")
        }

        // A missing file fails at once.
        a.transport.sendSnapshot(m, dbPath: a.snapDir + "/missing.db")
        let failed = await eventually { a.handler.state.withLock { $0.snapshotReports.count == 2 } }
        XCTAssertTrue(failed)
        XCTAssertEqual(a.handler.state.withLock { $0.snapshotReports.last?.1 }, true)
        await a.transport.stop()
        await b.transport.stop()
    }

    func testReconnectAfterRemoteRestart() async throws {
        var limits = TransportLimits()
        limits.redialMax = 200
        let a = try await Node.start(id: 1, port: 22131, group: group, limits: limits)
        var b = try await Node.start(id: 2, port: 22132, group: group, limits: limits)
        a.transport.addPeer(id: 2, urls: [b.url])
        b.transport.addPeer(id: 1, urls: [a.url])
        var up = await connected(a, b)
        XCTAssertTrue(up)
        await b.transport.stop()
        let down = await eventually { !a.transport.isActive(2) }
        XCTAssertTrue(down)
        // While B is away, sends go to the pipeline and fail: raft hears B is unreachable.
        a.transport.send([Raft.Message(type: .heartbeat, to: 2, from: 1, term: 2)])
        let unreachable = await eventually { a.handler.state.withLock { $0.unreachable.contains(2) } }
        XCTAssertTrue(unreachable)

        b = try await Node.start(id: 2, port: 22132, group: group, limits: limits)
        b.transport.addPeer(id: 1, urls: [a.url])
        up = await connected(a, b)
        XCTAssertTrue(up)
        a.transport.send([Raft.Message(type: .heartbeat, to: 2, from: 1, term: 2, commit: 1)])
        let got = await eventually { b.handler.messages.count == 1 }
        XCTAssertTrue(got)
        await a.transport.stop()
        await b.transport.stop()
    }

    /// With a 600 ms read timeout, idle streams survive only thanks to link heartbeats (every 200 ms).
    func testLinkHeartbeatsKeepIdleStreamsUp() async throws {
        var limits = TransportLimits()
        limits.connTimeout = 600
        let a = try await Node.start(id: 1, port: 22161, group: group, limits: limits)
        let b = try await Node.start(id: 2, port: 22162, group: group, limits: limits)
        a.transport.addPeer(id: 2, urls: [b.url])
        b.transport.addPeer(id: 1, urls: [a.url])
        let up = await connected(a, b)
        XCTAssertTrue(up)
        let since = (a.transport.activeSince(2), b.transport.activeSince(1))
        try await Task.sleep(nanoseconds: 2_000_000_000)
        XCTAssertEqual(a.transport.activeSince(2), since.0)
        XCTAssertEqual(b.transport.activeSince(1), since.1)
        let still = await connected(a, b)
        XCTAssertTrue(still)
        a.transport.send([Raft.Message(type: .app, to: 2, from: 1, term: 1, logTerm: 1, index: 0, commit: 0)])
        let got = await eventually { b.handler.messages.count == 1 }
        XCTAssertTrue(got)
        await a.transport.stop()
        await b.transport.stop()
    }

    func testFullPipelineBufferDropsAndReportsUnreachable() async throws {
        var limits = TransportLimits()
        limits.pipelineBuffer = 2
        limits.pipelineConnections = 1
        let a = try await Node.start(id: 1, port: 22151, group: group, limits: limits)
        a.transport.addPeer(id: 2, urls: ["http://127.0.0.1:22152"])  // nobody listens there
        a.transport.send((0..<10).map { Raft.Message(type: .heartbeat, to: 2, from: 1, term: UInt64($0)) })
        let reported = await eventually { a.handler.state.withLock { $0.unreachable.count >= 10 } }
        XCTAssertTrue(reported)
        await a.transport.stop()
    }

    // MARK: HTTP answers, checked on the wire

    private func call(_ node: Node, _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [],
                      body: [UInt8]? = nil) async throws -> HTTPClientResponse {
        try await PeerHTTPClient.request(on: group.next(), url: PeerURL(node.url)!, tls: nil, method: method, path: path,
                                         headers: headers, body: body.map { .bytes(ByteBuffer(bytes: $0)) } ?? .none,
                                         connectTimeout: .seconds(1), timeout: .seconds(3)).get()
    }

    private func peerHeaders(from: UInt64 = 1, cid: String = "1000", to: String? = nil) -> [(String, String)] {
        var h = [("X-Server-From", EtcdID.hex(from)), ("X-Server-Version", "3.4.23"), ("X-Min-Cluster-Version", "3.0.0"),
                 ("X-Etcd-Cluster-ID", cid)]
        if let to { h.append(("X-Raft-To", to)) }
        return h
    }

    func testHTTPAnswersMatchEtcd() async throws {
        var limits = TransportLimits()
        limits.maxMessageBytes = 4096
        let b = try await Node.start(id: 2, port: 22142, group: group, limits: limits)
        b.transport.addPeer(id: 1, urls: ["http://127.0.0.1:22141"])
        b.handler.state.withLock { $0.members = #"[{"id":2,"peerURLs":["http://127.0.0.1:22142"],"name":"b"}]"# }
        func text(_ r: HTTPClientResponse) -> String { String(decoding: r.body, as: UTF8.self) }
        let vote = Raft.Message(type: .vote, to: 2, from: 1, term: 2).raftpbBytes()

        var r = try await call(b, .POST, "/raft", headers: peerHeaders(cid: "99"), body: vote)
        XCTAssertEqual(r.status, 412)
        XCTAssertEqual(text(r), "cluster ID mismatch\n")
        XCTAssertEqual(r.headers.first(name: "X-Etcd-Cluster-ID"), "1000")
        r = try await call(b, .GET, "/raft")
        XCTAssertEqual(r.status, 405)
        XCTAssertEqual(r.headers.first(name: "Allow"), "POST")
        r = try await call(b, .POST, "/raft", headers: peerHeaders(), body: [0xff, 0x01])
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(text(r), "error unmarshalling raft message\n")
        // Counted as etcd counts it: labelled with the sender's address, not its id.
        XCTAssertTrue(Meters.render {}.contains(#"etcd_network_peer_received_failures_total{From="127.0.0.1:"#))
        r = try await call(b, .POST, "/raft", headers: peerHeaders(), body: Raft.Message(type: .vote, to: 5, from: 1).raftpbBytes())
        XCTAssertEqual(r.status, 400)
        r = try await call(b, .POST, "/raft", headers: peerHeaders(), body: [UInt8](repeating: 0, count: 5000))
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(text(r), "error reading raft message\n")
        r = try await call(b, .POST, "/raft", headers: peerHeaders(), body: vote)
        XCTAssertEqual(r.status, 204)
        XCTAssertEqual(b.handler.messages.count, 1)

        r = try await call(b, .GET, "/raft/stream/message/1", headers: peerHeaders(to: "3"))
        XCTAssertEqual(r.status, 412)
        XCTAssertEqual(text(r), "to field mismatch\n")
        XCTAssertEqual(r.headers.first(name: "X-Server-Version"), "3.4.23")
        r = try await call(b, .GET, "/raft/stream/message/7", headers: peerHeaders(from: 7, to: "2"))
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(text(r), "error sender not found\n")

        _ = b.handler.state.withLock { $0.removed.insert(1) }
        r = try await call(b, .GET, "/raft/stream/msgapp/1", headers: peerHeaders(to: "2"))
        XCTAssertEqual(r.status, 410)
        XCTAssertEqual(text(r), "removed member\n")
        r = try await call(b, .POST, "/raft", headers: peerHeaders(), body: vote)
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(text(r), #"{"message":"cannot process message from removed member"}"#)

        r = try await call(b, .GET, "/version")
        XCTAssertEqual(text(r), #"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#)
        r = try await call(b, .GET, "/members")
        XCTAssertEqual(r.headers.first(name: "Content-Type"), "application/json")
        XCTAssertEqual(r.headers.first(name: "X-Etcd-Cluster-ID"), "1000")
        XCTAssertEqual(text(r), #"[{"id":2,"peerURLs":["http://127.0.0.1:22142"],"name":"b"}]"# + "\n")
        r = try await call(b, .GET, "/nope")
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(text(r), "404 page not found\n")
        r = try await call(b, .GET, "/raft/probing")
        XCTAssertEqual(r.status, 200)

        // Lease forwarding client against our own lease handler.
        let a = try await Node.start(id: 1, port: 22141, group: group)
        let body = try await a.transport.forwardLease(to: ["http://127.0.0.1:22149", b.url], path: "/leases",
                                                      body: [8, 1], timeout: .seconds(3))
        XCTAssertEqual(body, [8, 1])
        b.handler.state.withLock { $0.leaseAnswer = (LeaseAnswer.notFound.status, LeaseAnswer.notFound.body) }
        do {
            _ = try await a.transport.forwardLease(to: [b.url], path: "/leases/internal", body: [], timeout: .seconds(3))
            XCTFail("expected 404")
        } catch TransportError.http(let status, let text) {
            XCTAssertEqual(status, 404)
            XCTAssertEqual(text, "lease not found")
        }
        r = try await call(b, .GET, "/leases")
        XCTAssertEqual(r.status, 405)
        await a.transport.stop()
        await b.transport.stop()
    }
}
