import Foundation
import NIOPosix
import Raft
import Server
import XCTest
@testable import Transport

/// One real etcd 3.4 plus a PeerTransport acting as the second member of a new 2-member
/// cluster. A tiny fake follower behind the transport grants votes and acknowledges appends and
/// heartbeats, so etcd elects itself leader through us and serves writes.
final class EtcdInteropTests: XCTestCase {
    func testRealEtcdTalksToPeerTransport() async throws {
        let etcdBinary = "/usr/bin/etcd"
        guard FileManager.default.isExecutableFile(atPath: etcdBinary) else { throw XCTSkip("no etcd binary") }
        let token = "transport-interop"
        let etcdPeer = "http://127.0.0.1:22380", etcdClient = "http://127.0.0.1:22379", ours = "http://127.0.0.1:22480"
        let etcdID = Identity.memberID(peerURLs: [etcdPeer], clusterToken: token)
        let ourID = Identity.memberID(peerURLs: [ours], clusterToken: token)
        let clusterID = Identity.clusterID(memberIDs: [etcdID, ourID])

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let handler = RecordingHandler()
        handler.state.withLock {
            $0.members = #"[{"id":\#(etcdID),"name":"e1","peerURLs":["\#(etcdPeer)"],"clientURLs":[]},"#
                + #"{"id":\#(ourID),"name":"s2","peerURLs":["\#(ours)"],"clientURLs":[]}]"#
        }
        let dir = tempDir("interop")
        let transport = PeerTransport(localID: ourID, clusterID: clusterID, localPeerURLs: [ours], snapDir: dir,
                                      handler: handler, group: group, logger: testLogger("interop"))
        handler.state.withLock { $0.onMessage = { m in
            if let reply = FakeFollower.reply(to: m) { transport.send([reply]) }
        } }
        try await transport.listen(urls: [ours])
        transport.addPeer(id: etcdID, urls: [etcdPeer])

        let etcd = Process()
        etcd.executableURL = URL(fileURLWithPath: etcdBinary)
        etcd.arguments = [
            "--name", "e1", "--data-dir", dir + "/etcd",
            "--listen-client-urls", etcdClient, "--advertise-client-urls", etcdClient,
            "--listen-peer-urls", etcdPeer, "--initial-advertise-peer-urls", etcdPeer,
            "--initial-cluster", "e1=\(etcdPeer),s2=\(ours)", "--initial-cluster-token", token,
            "--initial-cluster-state", "new",
        ]
        let log = FileHandle(forWritingAtPath: { let p = dir + "/etcd.log"; _ = FileManager.default.createFile(atPath: p, contents: nil); return p }())
        etcd.standardOutput = log
        etcd.standardError = log
        try etcd.run()
        defer {
            kill(etcd.processIdentifier, SIGTERM)
            etcd.waitUntilExit()
        }
        func etcdLog() -> String { (try? String(contentsOfFile: dir + "/etcd.log", encoding: .utf8)) ?? "" }

        // etcd dials both our stream endpoints and we dial its.
        let streams = await eventually(20) { await transport.workingStreams(to: etcdID).count == 2 }
        XCTAssertTrue(streams, etcdLog())
        // It campaigns through us...
        let voted = await eventually(20) { handler.messages.contains { $0.type == .vote || $0.type == .preVote } }
        XCTAssertTrue(voted, etcdLog())
        XCTAssertTrue(handler.messages.allSatisfy { $0.from == etcdID && $0.to == ourID })
        // ...wins with our vote and replicates to us over msgappv2, heartbeats over the message stream.
        let replicating = await eventually(20) {
            let ms = handler.messages
            return ms.contains { $0.type == .app && !$0.entries.isEmpty } && ms.contains { $0.type == .heartbeat }
        }
        XCTAssertTrue(replicating, etcdLog())
        XCTAssertTrue(transport.isActive(etcdID))

        // A write commits only with our acknowledgement (2 voters), and a linearizable read needs
        // our heartbeat answers.
        let put = try await Self.etcdctl(["--endpoints", etcdClient, "put", "interop-key", "hello"])
        XCTAssertEqual(put.status, 0, put.output + etcdLog())
        let get = try await Self.etcdctl(["--endpoints", etcdClient, "get", "interop-key", "--print-value-only"])
        XCTAssertEqual(get.output.trimmingCharacters(in: .whitespacesAndNewlines), "hello", etcdLog())
        let members = try await Self.etcdctl(["--endpoints", etcdClient, "member", "list"])
        XCTAssertTrue(members.output.contains(EtcdID.hex(ourID)), members.output)
        XCTAssertFalse(etcdLog().contains("cluster ID mismatch"))
        await transport.stop()
        try? await group.shutdownGracefully()
    }

    static func etcdctl(_ args: [String]) async throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
        p.arguments = ["--command-timeout", "10s"] + args
        p.environment = ["ETCDCTL_API": "3"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Answers like a follower whose log always matches: enough for a leader to commit.
enum FakeFollower {
    static func reply(to m: Raft.Message) -> Raft.Message? {
        switch m.type {
        case .vote, .preVote:
            return Raft.Message(type: m.type == .vote ? .voteResp : .preVoteResp, to: m.from, from: m.to, term: m.term)
        case .app:
            return Raft.Message(type: .appResp, to: m.from, from: m.to, term: m.term,
                                index: m.entries.last?.index ?? m.index)
        case .heartbeat:
            return Raft.Message(type: .heartbeatResp, to: m.from, from: m.to, term: m.term, context: m.context)
        default:
            return nil
        }
    }
}
