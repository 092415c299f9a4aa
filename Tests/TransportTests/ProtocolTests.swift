import EtcdProto
import NIOHTTP1
import Raft
import XCTest
@testable import Transport

final class ProtocolTests: XCTestCase {
    let v34 = SemVer(major: 3, minor: 4, patch: 23)
    let v30 = SemVer(major: 3, minor: 0, patch: 0)

    func headers(cid: String = "abc", version: String? = "3.4.23", min: String? = "3.0.0",
                 to: String? = "2", urls: String? = nil) -> HTTPHeaders {
        var h = HTTPHeaders([("X-Etcd-Cluster-ID", cid), ("X-Server-From", "1")])
        if let version { h.add(name: "X-Server-Version", value: version) }
        if let min { h.add(name: "X-Min-Cluster-Version", value: min) }
        if let to { h.add(name: "X-Raft-To", value: to) }
        if let urls { h.add(name: "X-PeerURLs", value: urls) }
        return h
    }

    func testCompatibility() {
        XCTAssertNil(PeerProtocol.checkCompatibility(headers(), clusterID: 0xabc, serverVersion: v34, minClusterVersion: v30))
        XCTAssertEqual(PeerProtocol.checkCompatibility(headers(cid: "abd"), clusterID: 0xabc, serverVersion: v34,
                                                       minClusterVersion: v30), .clusterIDMismatch)
        // Go compares the id as a string: padding or upper case is a mismatch.
        XCTAssertEqual(PeerProtocol.checkCompatibility(headers(cid: "0abc"), clusterID: 0xabc, serverVersion: v34,
                                                       minClusterVersion: v30), .clusterIDMismatch)
        // A 2.x server (or no header: 2.0.0) is below our minimum cluster version 3.0.
        XCTAssertEqual(PeerProtocol.checkCompatibility(headers(version: "2.3.8"), clusterID: 0xabc, serverVersion: v34,
                                                       minClusterVersion: v30), .incompatibleVersion)
        XCTAssertEqual(PeerProtocol.checkCompatibility(headers(version: nil), clusterID: 0xabc, serverVersion: v34,
                                                       minClusterVersion: v30), .incompatibleVersion)
        // A peer that needs at least 3.5 refuses us; 3.5 servers with min 3.0 are fine.
        XCTAssertEqual(PeerProtocol.checkCompatibility(headers(min: "3.5.0"), clusterID: 0xabc, serverVersion: v34,
                                                       minClusterVersion: v30), .incompatibleVersion)
        XCTAssertNil(PeerProtocol.checkCompatibility(headers(version: "3.5.9"), clusterID: 0xabc, serverVersion: v34,
                                                     minClusterVersion: v30))
        XCTAssertEqual(PeerProtocol.checkCompatibility(headers(version: "garbage"), clusterID: 0xabc, serverVersion: v34,
                                                       minClusterVersion: v30), .incompatibleVersion)
    }

    func decide(_ path: String, _ h: HTTPHeaders, method: HTTPMethod = .GET, removed: Set<UInt64> = [],
                peers: Set<UInt64> = [1]) -> PeerProtocol.StreamDecision {
        PeerProtocol.decideStream(method: method, path: Substring(path), headers: h, localID: 2, clusterID: 0xabc,
                                  serverVersion: v34, minClusterVersion: v30,
                                  isRemoved: { removed.contains($0) }, isPeer: { peers.contains($0) })
    }

    func testStreamDecisions() {
        XCTAssertEqual(decide("/raft/stream/msgapp/1", headers()), .accept(.msgAppV2, from: 1))
        XCTAssertEqual(decide("/raft/stream/message/1", headers()), .accept(.message, from: 1))
        func status(_ d: PeerProtocol.StreamDecision) -> (Int, String)? {
            if case .reject(let a, _, _) = d { return (a.status, String(decoding: a.body, as: UTF8.self)) }
            return nil
        }
        XCTAssertEqual(status(decide("/raft/stream/message/1", headers(), method: .POST))?.0, 405)
        XCTAssertEqual(status(decide("/raft/stream/msgappv2/1", headers()))?.1, "invalid path\n")
        XCTAssertEqual(status(decide("/raft/stream/message/xyz", headers()))?.1, "invalid from\n")
        XCTAssertEqual(status(decide("/raft/stream/message/1", headers(cid: "1")))?.1, "cluster ID mismatch\n")
        XCTAssertEqual(status(decide("/raft/stream/message/1", headers(version: "2.0.0")))?.1, "incompatible version\n")
        XCTAssertEqual(status(decide("/raft/stream/message/1", headers(), removed: [1]))?.0, 410)
        XCTAssertEqual(status(decide("/raft/stream/message/1", headers(to: "3")))?.1, "to field mismatch\n")
        XCTAssertEqual(status(decide("/raft/stream/message/1", headers(to: nil)))?.0, 412)
        let unknown = decide("/raft/stream/message/7", headers(urls: "http://10.0.0.7:2380,http://10.0.0.8:2380"))
        XCTAssertEqual(unknown, .reject(.error(404, "error sender not found"), addRemote: 7,
                                        urls: ["http://10.0.0.7:2380", "http://10.0.0.8:2380"]))
    }

    func testRoutesAndAnswers() {
        XCTAssertEqual(PeerRoute(path: PeerRoute.path(of: "/raft?x=1")), .pipeline)
        XCTAssertEqual(PeerRoute(path: "/raft/snapshot"), .snapshot)
        XCTAssertEqual(PeerRoute(path: "/raft/stream/msgapp/1"), .stream)
        XCTAssertEqual(PeerRoute(path: "/raft/other"), .notFound)
        XCTAssertEqual(PeerRoute(path: "/members"), .members)
        XCTAssertEqual(PeerRoute(path: "/leases/internal"), .leasesInternal)
        XCTAssertEqual(PeerProtocol.postOutcome(status: 204, body: [], url: "u"), .ok)
        XCTAssertEqual(PeerProtocol.postOutcome(status: 403, body: [], url: "u"), .memberRemoved)
        XCTAssertEqual(PeerProtocol.postOutcome(status: 412, body: Array("cluster ID mismatch\n".utf8), url: "u"),
                       .incompatible(.clusterIDMismatch))
        XCTAssertEqual(String(decoding: PeerProtocol.versionJSON(server: "3.4.23", cluster: nil), as: UTF8.self),
                       #"{"etcdserver":"3.4.23","etcdcluster":"not_decided"}"#)
        let probe = String(decoding: PeerServerHandler.probingJSON(), as: UTF8.self)
        XCTAssertTrue(probe.hasPrefix(#"{"OK":true,"Now":"20"#) && probe.hasSuffix("Z\"}\n"), probe)
        XCTAssertFalse(PeerProtocol.supportsStreams(remoteVersion: nil))
        XCTAssertTrue(PeerProtocol.supportsStreams(remoteVersion: "3.4.23"))
    }

    func testIDsAndURLs() {
        XCTAssertEqual(EtcdID.hex(0x8e9e05c52164694d), "8e9e05c52164694d")
        XCTAssertEqual(EtcdID.hex(0xabc), "abc")
        XCTAssertEqual(EtcdID.parse("8E9E05C52164694D"), 0x8e9e05c52164694d)
        XCTAssertNil(EtcdID.parse("0x12"))
        XCTAssertNil(EtcdID.parse("+12"))
        XCTAssertNil(EtcdID.parse("1_2"))
        XCTAssertNil(EtcdID.parse("1ffffffffffffffff"))
        XCTAssertEqual(PeerURL("http://127.0.0.1:2380")?.port, 2380)
        XCTAssertEqual(PeerURL("http://[::1]:2380/")?.host, "::1")
        XCTAssertEqual(PeerURL("http://[::1]:2380")?.authority, "[::1]:2380")
        XCTAssertEqual(PeerURL("http://example.com")?.port, 80)
        XCTAssertNil(PeerURL("ftp://x"))
        // A unix URL's host part is the socket file, as etcd listens on and dials it.
        XCTAssertEqual(PeerURL("unix://localhost:20001")?.socketPath, "localhost:20001")
        XCTAssertEqual(PeerURL("unix://localhost:20001")?.authority, "localhost:20001")
        XCTAssertEqual(PeerURL("unixs://x")?.isSecure, true)
        XCTAssertEqual(PeerURL("unix://x")?.isSecure, false)
        XCTAssertNil(PeerURL("http://127.0.0.1:2380")?.socketPath)
        XCTAssertNil(PeerURL("http://h:99999"))
        var picker = URLPicker([PeerURL("http://a:1")!, PeerURL("http://b:2")!])
        picker.unreachable(PeerURL("http://a:1")!)
        XCTAssertEqual(picker.pick()?.host, "b")
        picker.unreachable(PeerURL("http://a:1")!)  // not the picked one: no change
        XCTAssertEqual(picker.pick()?.host, "b")
    }

    func testValidation() {
        let v = InboundValidator(localID: 2)
        func check(_ m: Raft.Message, path: InboundPath = .stream, from: UInt64 = 1, known: Bool = true,
                   removed: Bool = false) -> InboundRejection? {
            do {
                _ = try v.validate(Raftpb_Message(m), path: path, expectedFrom: from, isKnown: { _ in known },
                                   isRemoved: { _ in removed })
                return nil
            } catch { return error }
        }
        XCTAssertNil(check(CodecTests.sampleApp()))
        XCTAssertEqual(check(Raft.Message(type: .hup, to: 2, from: 1)), .localMessageType(.hup))
        // Raft takes a term-0 message for a local one and traps answering a term-0 vote (found by
        // fuzzing): such votes are dropped; other messages may omit the term (proposals do).
        XCTAssertEqual(check(Raft.Message(type: .vote, to: 2, from: 1, term: 0)), .missingTerm(.vote))
        XCTAssertEqual(check(Raft.Message(type: .preVote, to: 2, from: 1, term: 0)), .missingTerm(.preVote))
        XCTAssertNil(check(Raft.Message(type: .vote, to: 2, from: 1, term: 3)))
        XCTAssertNil(check(Raft.Message(type: .prop, to: 2, from: 1, term: 0, entries: [Raft.Entry(data: [1])])))
        XCTAssertEqual(check(Raft.Message(type: .prop, to: 2, from: 1)), .emptyProposal)
        XCTAssertEqual(check(Raft.Message(type: .prop, to: 2, from: 1, term: 3, entries: [Raft.Entry(data: [1])])),
                       .unexpectedTerm(.prop))
        XCTAssertEqual(check(Raft.Message(type: .readIndex, to: 2, from: 1, term: 3, entries: [Raft.Entry(data: [1])])),
                       .unexpectedTerm(.readIndex))
        XCTAssertEqual(check(Raft.Message(type: .vote, to: 3, from: 1, term: 1)), .wrongRecipient(3))
        XCTAssertEqual(check(Raft.Message(type: .vote, to: 2, from: 4, term: 1)), .senderMismatch(got: 4, expected: 1))
        XCTAssertEqual(check(Raft.Message(type: .vote, to: 2, from: 1, term: 1), known: false), .unknownSender(1))
        XCTAssertEqual(check(Raft.Message(type: .vote, to: 2, from: 1, term: 1), removed: true), .removedSender(1))
        let snap = Raft.Message(type: .snap, to: 2, from: 1, snapshot: Raft.Snapshot(metadata: .init(index: 5)))
        XCTAssertEqual(check(snap, path: .pipeline), .snapshotOutsideSnapshotPath)
        XCTAssertNil(check(snap, path: .snapshot))
        XCTAssertEqual(check(Raft.Message(type: .vote, to: 2, from: 1, term: 1), path: .snapshot), .notASnapshot(.vote))
        XCTAssertEqual(check(Raft.Message(type: .snap, to: 2, from: 1, snapshot: Raft.Snapshot()), path: .snapshot), .emptySnapshot)
        var gap = CodecTests.sampleApp()
        gap.entries[1].index += 1
        XCTAssertEqual(check(gap), .inconsistentEntries)
        var future = CodecTests.sampleApp()
        future.entries[0].term = 99
        XCTAssertEqual(check(future), .inconsistentEntries)
    }
}
