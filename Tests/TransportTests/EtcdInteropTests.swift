import Foundation
import NIOPosix
import Raft
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
        let etcdID = EtcdIDs.memberID(peerURLs: [etcdPeer], clusterToken: token)
        let ourID = EtcdIDs.memberID(peerURLs: [ours], clusterToken: token)
        let clusterID = EtcdIDs.clusterID(memberIDs: [etcdID, ourID])

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

/// Member and cluster ids as etcd computes them (membership/member.go, cluster.go); the same
/// derivation as Server/Identity.swift, repeated here so the test needs only Transport.
enum EtcdIDs {
    static func memberID(peerURLs: [String], clusterToken: String) -> UInt64 {
        firstWord(sha1(Array((peerURLs.sorted().joined() + clusterToken).utf8)))
    }

    static func clusterID(memberIDs: [UInt64]) -> UInt64 {
        var bytes: [UInt8] = []
        for id in memberIDs.sorted() { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: id >> UInt64(s))) } }
        return firstWord(sha1(bytes))
    }

    private static func firstWord(_ d: [UInt8]) -> UInt64 { d.prefix(8).reduce(0) { ($0 << 8) | UInt64($1) } }

    static func sha1(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var data = message
        let bits = UInt64(message.count) * 8
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        for s in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bits >> UInt64(s))) }
        func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
        var w = [UInt32](repeating: 0, count: 80)
        for chunk in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                let b = chunk + i * 4
                w[i] = UInt32(data[b]) << 24 | UInt32(data[b + 1]) << 16 | UInt32(data[b + 2]) << 8 | UInt32(data[b + 3])
            }
            for i in 16..<80 { w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let (f, k): (UInt32, UInt32)
                switch i {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
                }
                let t = rotl(a, 5) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, rotl(b, 30), a, t)
            }
            h = [h[0] &+ a, h[1] &+ b, h[2] &+ c, h[3] &+ d, h[4] &+ e]
        }
        return h.flatMap { v in stride(from: 24, through: 0, by: -8).map { UInt8(truncatingIfNeeded: v >> UInt32($0)) } }
    }
}
