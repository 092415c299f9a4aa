import EtcdProto
import Foundation
import Logging
import Raft
import Synchronization
import XCTest

@testable import Server

/// The write path's safety rules: nothing acknowledged before its fsync, a WAL that cannot be
/// written stops the member, an entry that cannot be applied is never skipped, and every LMDB
/// commit records the consistent index of what it holds.
final class WritePathTests: XCTestCase {
    private var dir = ""

    override func setUp() { dir = NSTemporaryDirectory() + "write-path-\(UUID().uuidString)" }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Wraps the WAL: records the highest index made durable, can fail from a given save on.
    final class ObservedLog: DurableLog, @unchecked Sendable {
        let base: DurableLog
        let state = Mutex<(appended: UInt64, synced: UInt64, syncs: Int, failFrom: Int?)>((0, 0, 0, nil))
        init(_ base: DurableLog) { self.base = base }

        func save(hardState: HardState?, entries: [Entry], sync: Bool) throws {
            let fail = state.withLock { s -> Bool in
                if let n = s.failFrom, s.syncs >= n { return true }
                return false
            }
            if fail { throw POSIXError(.EIO) }
            try base.save(hardState: hardState, entries: entries, sync: sync)
            Thread.sleep(forTimeInterval: 0.001)  // a slow disk lets proposals pile up
            state.withLock {
                if let last = entries.last?.index { $0.appended = last }
                if sync {
                    $0.synced = $0.appended
                    $0.syncs += 1
                }
            }
        }

        func release(through index: UInt64, term: UInt64) throws { try base.release(through: index, term: term) }
        func saveSnapshot(index: UInt64, term: UInt64) throws { try base.saveSnapshot(index: index, term: term) }
    }

    /// A fatal handler for tests: records the message and parks the calling thread for good, as
    /// a stopped member would leave it.
    final class FatalRecorder: Sendable {
        let messages = Mutex<[String]>([])
        var handler: @Sendable (String) -> Never {
            { [self] message in
                messages.withLock { $0.append(message) }
                while true { sleep(1000) }
            }
        }

        func wait(seconds: Double = 5) -> [String] {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                let m = messages.withLock { $0 }
                if !m.isEmpty { return m }
                Thread.sleep(forTimeInterval: 0.01)
            }
            return []
        }
    }

    private func options() -> ServerOptions {
        var o = ServerOptions()
        o.dataDir = dir
        return o
    }

    private static func put(_ node: ServerNode, _ key: String) async throws -> Etcdserverpb_PutResponse {
        var r = Etcdserverpb_PutRequest()
        r.key = Array(key.utf8)
        r.value = Array("v".utf8)
        return try await node.put(r)
    }

    func testNoAcknowledgementBeforeItsEntryIsSynced() async throws {
        var observed: ObservedLog?
        let node = try ServerNode(options: options(), logger: Logger(label: "test"), fatal: nil) { base in
            let log = ObservedLog(base)
            observed = log
            return log
        }
        node.start()
        defer { node.stop() }
        let log = try XCTUnwrap(observed)
        await node.waitPublished()
        let violations = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<300 {
                group.addTask {
                    _ = try await Self.put(node, "k\(i)")
                    // Answered means applied; nothing may be applied beyond what is durable.
                    if node.applier.appliedIndex > log.state.withLock({ $0.synced }) { violations.add() }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(violations.value, 0)
        let syncs = log.state.withLock { $0.syncs }
        XCTAssertLessThan(syncs, 300, "concurrent proposals share fsyncs (group commit): \(syncs) syncs")
    }

    func testWALWriteFailureStopsTheMember() async throws {
        var observed: ObservedLog?
        let fatal = FatalRecorder()
        let node = try ServerNode(options: options(), logger: Logger(label: "test"), fatal: fatal.handler) { base in
            let log = ObservedLog(base)
            observed = log
            return log
        }
        node.start()
        await node.waitPublished()
        let log = try XCTUnwrap(observed)
        log.state.withLock { $0.failFrom = $0.syncs }
        let answered = Counter()
        let task = Task.detached { [node, answered] in
            _ = try? await WritePathTests.put(node, "after-failure")
            answered.add()
        }
        let messages = fatal.wait()
        XCTAssertTrue(messages.first?.contains("failed to write the WAL") ?? false, "got \(messages)")
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(answered.value, 0, "a write whose WAL append failed is never acknowledged")
        let applied = node.applier.appliedIndex
        XCTAssertLessThanOrEqual(applied, log.state.withLock { $0.synced })
        task.cancel()
        // The member is stopped for good (its raft thread is parked); the node is left behind.
    }

    func testUndecodableEntryStopsTheMemberInsteadOfBeingSkipped() async throws {
        let fatal = FatalRecorder()
        let node = try ServerNode(options: options(), logger: Logger(label: "test"), fatal: fatal.handler, wrapLog: nil)
        node.start()
        await node.waitPublished()
        node.driver.submit(.propose([0xff, 0xff, 0xff, 0x07]))
        let messages = fatal.wait()
        XCTAssertTrue(messages.first?.contains("undecodable entry") ?? false, "got \(messages)")
        let committed = node.driver.status.withLock { $0.committed }
        XCTAssertLessThan(node.applier.appliedIndex, committed, "the bad entry is committed but never recorded as applied")
    }

    /// A compaction commits the entries before it on its own (it needs transactions of its own):
    /// that commit must record the index of the last entry it holds, or a crash before the run's
    /// final commit would apply them again on restart.
    func testFlushBeforeCompactionRecordsTheConsistentIndexOfWhatItHolds() async throws {
        let node = try ServerNode(options: options(), logger: Logger(label: "test"))
        node.start()
        defer {
            FailPoint.afterApplyFlush = nil
            node.stop()
        }
        await node.waitPublished()
        _ = try await Self.put(node, "a")
        let seen = Mutex<UInt64?>(nil)
        let storage = node.storage
        FailPoint.afterApplyFlush = {
            // What a crash here would leave on disk.
            let stored = (try? storage.backend.read()).flatMap { tx -> UInt64? in
                defer { tx.end() }
                guard let b = try? tx.get(.meta, Array("consistent_index".utf8)), b.count == 8 else { return nil }
                return b.reduce(0) { $0 << 8 | UInt64($1) }
            } ?? 0
            seen.withLock { $0 = stored }
        }
        // A put, then a compaction: the flush before the compaction commits the put.
        var put = Etcdserverpb_InternalRaftRequest()
        put.id = 1
        var p = Etcdserverpb_PutRequest()
        p.key = Array("b".utf8)
        put.put = p
        var compact = Etcdserverpb_InternalRaftRequest()
        compact.id = 2
        var c = Etcdserverpb_CompactionRequest()
        c.revision = 2
        compact.compaction = c
        let compactBytes = compact.serializedBytes()
        node.driver.submit(.propose(put.serializedBytes()))
        node.driver.submit(.propose(compactBytes))
        let end = Date().addingTimeInterval(5)
        while seen.withLock({ $0 }) == nil && Date() < end { try await Task.sleep(for: .milliseconds(10)) }
        let stored = try XCTUnwrap(seen.withLock { $0 })
        try await Task.sleep(for: .milliseconds(100))
        let raft = node.driver.raftStorage
        let entries = try raft.entries(try raft.firstIndex(), try raft.lastIndex() + 1, maxSize: .max)
        let compactIndex = try XCTUnwrap(entries.first { $0.data == compactBytes }?.index)
        XCTAssertEqual(stored, compactIndex - 1,
                       "the flush records every entry before the compaction, so a restart applies none of them twice")
    }

    /// A client that creates a watch after its put was answered must not see that put: the
    /// watchers learn of a revision before its proposer hears of it (etcd notifies them as the
    /// write transaction ends, before the apply returns).
    func testWatchersLearnOfAWriteBeforeItsProposerIsAnswered() async throws {
        let node = try ServerNode(options: options(), logger: Logger(label: "test"))
        node.start()
        defer { node.stop() }
        await node.waitPublished()
        let seen = Mutex<[(written: Int64, notified: Int64)]>([])
        for i in 0..<20 {
            var request = Etcdserverpb_InternalRaftRequest()
            let id = node.nextID()
            request.id = id
            var p = Etcdserverpb_PutRequest()
            p.key = Array("w\(i)".utf8)
            request.put = p
            let watchable = node.watchable
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                node.registry.register(id: id, .init(request: request, deadline: .now + .seconds(5)) { result in
                    // Runs where the proposer's answer is made, as the put's await resumes.
                    if case .put(let r) = result {
                        seen.withLock { $0.append((r.header?.revision ?? 0, watchable.notifiedRevision)) }
                    }
                    done.resume()
                })
                node.driver.submit(.propose(request.serializedBytes()))
            }
        }
        let pairs = seen.withLock { $0 }
        XCTAssertEqual(pairs.count, 20)
        for (written, notified) in pairs {
            XCTAssertGreaterThanOrEqual(notified, written, "a watch created now would replay revision \(written)")
        }
    }
}

/// A counter shared with tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
