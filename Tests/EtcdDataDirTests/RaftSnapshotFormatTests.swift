import Bbolt
import Foundation
import Storage
import XCTest

@testable import EtcdDataDir

/// etcd 3.4's raft snapshot format between members: the v2 store JSON in `Snapshot.Data`, the
/// bbolt database as the body, and its import into an etcd-swift backend copy.
final class RaftSnapshotFormatTests: XCTestCase {
    static let bboltFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("BboltTests/Fixtures")

    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "raft-snapshot-format-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    let sample = RaftSnapshotFormat.Membership(
        members: [
            .init(id: 0x8e9e05c52164694d, peerURLs: ["http://127.0.0.1:2380"], isLearner: false, name: "m1", clientURLs: ["http://127.0.0.1:2379"]),
            .init(id: 0x1a, peerURLs: ["https://10.0.0.2:2380", "https://h<2>:2380"], isLearner: true, name: "", clientURLs: []),
        ],
        removed: [0x77, 0x5], clusterVersion: "3.4.0")

    func testV2StoreJSONRoundTrips() throws {
        let json = RaftSnapshotFormat.v2StoreJSON(sample, index: 42)
        let back = try RaftSnapshotFormat.membership(v2StoreJSON: json)
        XCTAssertEqual(back.members, sample.members.sorted { $0.id < $1.id })
        XCTAssertEqual(back.removed, [0x5, 0x77])
        XCTAssertEqual(back.clusterVersion, "3.4.0")
    }

    /// The nodes as etcd's store.Recovery and membersFromStore need them: every node has its
    /// Path, directories have a Children object, files a null one, member values are etcd's
    /// RaftAttributes and Attributes JSON.
    func testV2StoreJSONHasEtcdsNodeShape() throws {
        let json = RaftSnapshotFormat.v2StoreJSON(sample, index: 7)
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        XCTAssertEqual(root["CurrentIndex"] as? Int, 7)
        func node(_ n: Any?, _ path: String) throws -> [String: Any] {
            let o = try XCTUnwrap(n as? [String: Any], path)
            XCTAssertEqual(o["Path"] as? String, path)
            XCTAssertEqual(o["ExpireTime"] as? String, "0001-01-01T00:00:00Z")
            return o
        }
        func children(_ o: [String: Any]) -> [String: Any] { o["Children"] as? [String: Any] ?? [:] }
        let top = try node(root["Root"], "/")
        XCTAssertEqual(Set(children(top).keys), ["0", "1"])
        XCTAssertEqual(children(try node(children(top)["1"], "/1")).count, 0)
        let zero = try node(children(top)["0"], "/0")
        let members = try node(children(zero)["members"], "/0/members")
        XCTAssertEqual(Set(children(members).keys), ["8e9e05c52164694d", "1a"])
        let m1 = try node(children(members)["8e9e05c52164694d"], "/0/members/8e9e05c52164694d")
        let raft = try node(children(m1)["raftAttributes"], "/0/members/8e9e05c52164694d/raftAttributes")
        XCTAssertTrue(raft["Children"] is NSNull)
        XCTAssertEqual(raft["Value"] as? String, #"{"peerURLs":["http://127.0.0.1:2380"]}"#)
        let attrs = try node(children(m1)["attributes"], "/0/members/8e9e05c52164694d/attributes")
        XCTAssertEqual(attrs["Value"] as? String, #"{"name":"m1","clientURLs":["http://127.0.0.1:2379"]}"#)
        let learner = try node(children(members)["1a"], "/0/members/1a")
        XCTAssertNil(children(learner)["attributes"], "a member that never published has no attributes node")
        let learnerRaft = try node(children(learner)["raftAttributes"], "/0/members/1a/raftAttributes")
        XCTAssertEqual(learnerRaft["Value"] as? String, #"{"peerURLs":["https://10.0.0.2:2380","https://h\u003c2\u003e:2380"],"isLearner":true}"#)
        let removed = try node(children(zero)["removed_members"], "/0/removed_members")
        XCTAssertNotNil(try node(children(removed)["77"], "/0/removed_members/77"))
        XCTAssertEqual(try node(children(zero)["version"], "/0/version")["Value"] as? String, "3.4.0")
    }

    func testNoRemovedMembersDirectoryUntilARemoval() throws {
        var m = sample
        m.removed = []
        m.clusterVersion = nil
        let json = String(decoding: RaftSnapshotFormat.v2StoreJSON(m, index: 1), as: UTF8.self)
        XCTAssertFalse(json.contains("removed_members"))
        XCTAssertFalse(json.contains("/0/version"))
    }

    /// The v2 store real etcd wrote into a .snap file reads through the same decoder.
    func testReadsRealEtcdsV2Store() throws {
        let marks = try EtcdWAL.validSnapshotMarks(dir: EtcdWALTests.basic + "/wal")
        let loaded = try XCTUnwrap(EtcdSnap.loadNewestAvailable(dir: EtcdWALTests.basic + "/snap", marks: marks))
        let m = try RaftSnapshotFormat.membership(v2StoreJSON: loaded.snapshot.data ?? [])
        XCTAssertEqual(m.members.map(\.name), ["fx"])
        XCTAssertEqual(m.clusterVersion, "3.4.0")
    }

    func testRejectsDataThatIsNotTheV2Store() {
        for bad in ["", "null", "{}", "[1,2]", "{\"Root\":3}", "\u{0}\u{1}garbage"] {
            XCTAssertThrowsError(try RaftSnapshotFormat.membership(v2StoreJSON: Array(bad.utf8)), bad)
        }
    }

    /// A real etcd backend becomes a backend copy holding every bucket's records, with the
    /// members of the v2 store in place of the db's.
    func testImportsRealEtcdsDatabase() throws {
        let source = Self.bboltFixtures.appendingPathComponent("etcd-member.db").path
        let bolt = try BboltFile(path: source)
        let copy = dir + "/copy.db"
        try RaftSnapshotFormat.importBbolt(at: source, membership: sample, toCopyAt: copy)
        XCTAssertTrue(Backend.isValidCopy(at: copy))
        let backend = try Backend(path: dir + "/live.db")
        try backend.replaceContents(withCopyAt: copy)
        let tx = try backend.read()
        defer { tx.end() }
        for bucket in Bucket.allCases where bucket != .members && bucket != .membersRemoved && bucket != .cluster {
            var want = 0
            if try bolt.bucketNames.contains(bucket.name) { try bolt.forEach(bucket: bucket.name) { _, _ in want += 1 } }
            var got = 0
            try tx.forEach(bucket) { _, _ in
                got += 1
                return true
            }
            XCTAssertEqual(got, want, bucket.name)
        }
        var members: [String] = []
        try tx.forEach(.members) { _, v in
            members.append(String(decoding: v, as: UTF8.self))
            return true
        }
        XCTAssertEqual(members.count, 2)
        XCTAssertTrue(members.contains(#"{"id":10276657743932975437,"peerURLs":["http://127.0.0.1:2380"],"name":"m1","clientURLs":["http://127.0.0.1:2379"]}"#), "\(members)")
        XCTAssertEqual(try tx.get(.cluster, Array("clusterVersion".utf8)).map { String(decoding: $0, as: UTF8.self) }, "3.4.0")
        XCTAssertFalse(FileManager.default.fileExists(atPath: copy + ".import"))
    }

    /// Without a v2 store (no data) the db's own members buckets stand.
    func testImportKeepsTheDatabasesMembersWithoutAV2Store() throws {
        let source = Self.bboltFixtures.appendingPathComponent("etcd-member.db").path
        let bolt = try BboltFile(path: source)
        var want = 0
        if try bolt.bucketNames.contains("members") { try bolt.forEach(bucket: "members") { _, _ in want += 1 } }
        let copy = dir + "/copy.db"
        try RaftSnapshotFormat.importBbolt(at: source, membership: nil, toCopyAt: copy)
        let backend = try Backend(path: dir + "/live.db")
        try backend.replaceContents(withCopyAt: copy)
        let tx = try backend.read()
        defer { tx.end() }
        var got = 0
        try tx.forEach(.members) { _, _ in
            got += 1
            return true
        }
        XCTAssertEqual(got, want)
    }

    /// etcd-swift's own export (what it sends) imports back to the same records.
    func testExportThenImportRoundTrips() throws {
        let a = try Backend(path: dir + "/a.db")
        try a.update { tx in
            for i in 0..<2500 {
                var key = withUnsafeBytes(of: UInt64(i + 2).bigEndian) { Array($0) } + [0x5f] + Array(repeating: 0, count: 8)
                if i % 100 == 99 { key.append(0x74) }
                try tx.put(.key, key, Array("value-\(i)".utf8))
            }
            try tx.put(.meta, Array("consistent_index".utf8), withUnsafeBytes(of: UInt64(4321).bigEndian) { Array($0) })
            try tx.put(.lease, withUnsafeBytes(of: UInt64(7).bigEndian) { Array($0) }, [1, 2, 3])
            try tx.put(.auth, Array("authEnabled".utf8), [1])
            try tx.put(.alarm, [9, 9], [])
        }
        let bolt = dir + "/a.bbolt"
        try a.exportBbolt(to: bolt)
        let copy = dir + "/copy.db"
        let ci = try RaftSnapshotFormat.importBbolt(at: bolt, membership: nil, toCopyAt: copy)
        XCTAssertEqual(ci, 4321)
        let b = try Backend(path: dir + "/b.db")
        try b.replaceContents(withCopyAt: copy)
        let ta = try a.read(), tb = try b.read()
        defer {
            ta.end()
            tb.end()
        }
        for bucket in Bucket.allCases {
            var ra: [[UInt8]] = [], rb: [[UInt8]] = []
            try ta.forEach(bucket) { k, v in
                ra.append(Array(k) + [0xff] + Array(v))
                return true
            }
            try tb.forEach(bucket) { k, v in
                rb.append(Array(k) + [0xff] + Array(v))
                return true
            }
            XCTAssertEqual(ra, rb, bucket.name)
        }
    }

    // MARK: refusals

    func testRefusesWhatIsNotBbolt() throws {
        let path = dir + "/junk.db"
        FileManager.default.createFile(atPath: path, contents: Data((0..<20000).map { _ in UInt8.random(in: 0...255) }))
        XCTAssertFalse(RaftSnapshotFormat.isBbolt(at: path))
        XCTAssertThrowsError(try RaftSnapshotFormat.importBbolt(at: path, membership: nil, toCopyAt: dir + "/copy.db"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/copy.db"))
        FileManager.default.createFile(atPath: path, contents: Data())
        XCTAssertThrowsError(try RaftSnapshotFormat.importBbolt(at: path, membership: nil, toCopyAt: dir + "/copy.db"))
    }

    func testRefusesATruncatedDatabase() throws {
        let source = Self.bboltFixtures.appendingPathComponent("etcd-member.db").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let path = dir + "/short.db"
        try bytes.prefix(3 * 4096 + 100).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try RaftSnapshotFormat.importBbolt(at: path, membership: nil, toCopyAt: dir + "/copy.db"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/copy.db"))
    }

    func testRefusesAnUnknownBucketAndBadRevisionKeys() throws {
        let unknown = dir + "/unknown.db"
        let w = try BboltWriter(path: unknown)
        try w.beginBucket("key")
        try w.endBucket()
        try w.beginBucket("zzz")
        try w.put([1], [2])
        try w.endBucket()
        try w.finish()
        XCTAssertThrowsError(try RaftSnapshotFormat.importBbolt(at: unknown, membership: nil, toCopyAt: dir + "/copy.db")) {
            XCTAssertEqual($0 as? RaftSnapshotFormat.Failure, .badDatabase("unknown bucket zzz"))
        }
        let badKey = dir + "/badkey.db"
        let w2 = try BboltWriter(path: badKey)
        try w2.beginBucket("key")
        try w2.put([1, 2, 3], [4])
        try w2.endBucket()
        try w2.finish()
        XCTAssertThrowsError(try RaftSnapshotFormat.importBbolt(at: badKey, membership: nil, toCopyAt: dir + "/copy.db"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/copy.db"))
    }

    /// Random damage to a real database: refused or imported, never a crash.
    func testRandomDamageNeverCrashes() throws {
        let source = Self.bboltFixtures.appendingPathComponent("etcd-member.db").path
        let clean = try [UInt8](Data(contentsOf: URL(fileURLWithPath: source)))
        var rng = SystemRandomNumberGenerator()
        for round in 0..<40 {
            var bytes = clean
            for _ in 0..<(1 + round % 8) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let path = dir + "/damaged.db"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            _ = try? RaftSnapshotFormat.importBbolt(at: path, membership: nil, toCopyAt: dir + "/copy-\(round).db")
        }
    }
    /// A measurement, not a check: SNAPSHOT_COST_KEYS=10000 times the LMDB copy members sent
    /// before against the bbolt export (sender) and its import (receiver) now.
    func testMeasureSnapshotCost() throws {
        guard let n = ProcessInfo.processInfo.environment["SNAPSHOT_COST_KEYS"].flatMap(Int.init) else {
            throw XCTSkip("set SNAPSHOT_COST_KEYS to measure")
        }
        let a = try Backend(path: dir + "/a.db")
        try a.update { tx in
            for i in 0..<n {
                let key = withUnsafeBytes(of: UInt64(i + 2).bigEndian) { Array($0) } + [0x5f] + Array(repeating: 0, count: 8)
                try tx.put(.key, key, Array(repeating: UInt8(i & 0x7f), count: 100))
            }
        }
        func time(_ body: () throws -> Void) rethrows -> Duration {
            let t = ContinuousClock.now
            try body()
            return ContinuousClock.now - t
        }
        let copy = try time { try a.copy(to: dir + "/lmdb.copy") }
        let export = try time { try a.exportBbolt(to: dir + "/a.bbolt") }
        let imported = try time { try RaftSnapshotFormat.importBbolt(at: dir + "/a.bbolt", membership: nil, toCopyAt: dir + "/b.copy") }
        let size = { (p: String) in (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        print("snapshot cost for \(n) keys: LMDB copy \(copy) (\(size(dir + "/lmdb.copy")) bytes); bbolt export \(export) (\(size(dir + "/a.bbolt")) bytes) + import \(imported)")
    }
}
