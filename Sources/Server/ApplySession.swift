import Foundation
import Lease
import MVCC
import Storage

/// The writes of one run of applied entries, sharing one LMDB commit: nothing is visible to readers
/// (and no proposer may be answered) before `finish`. Apply thread only; not Sendable.
///
/// Every commit stores the consistent index of the last entry whose effects it holds in full
/// (`markApplied`), so a crash between two commits of one run replays exactly the entries not
/// yet committed. The lessor's, alarms' and members' bucket writes go through `update` into the
/// same LMDB transaction as the MVCC writes of their entry.
final class ApplySession {
    private let store: KVStore
    private let lessor: Lessor
    private var batch: WriteBatch?
    /// The last entry applied in full so far in this run.
    private(set) var appliedThrough: UInt64
    /// What each committed write changed, in order, for watchers.
    private(set) var changes: [(events: [Event], revision: Int64)] = []

    init(store: KVStore, lessor: Lessor) {
        self.store = store
        self.lessor = lessor
        appliedThrough = store.consistentIndex
    }

    var currentRevision: Int64 { batch?.rev ?? store.currentRevision }

    private func openBatch() throws(ServerError) -> WriteBatch {
        if let batch { return batch }
        do {
            let b = try store.beginBatch()
            batch = b
            return b
        } catch { throw ServerError(error) }
    }

    /// Runs `body` in the next write txn of the batch; a failing body leaves no change behind.
    func write<R>(_ body: (StoreWriter) throws(ServerError) -> R) throws(ServerError) -> R {
        let b = try openBatch()
        do {
            let txn = try b.write()
            let result: R
            do {
                result = try body(StoreWriter(txn: txn, firstRevision: store.compactedRevision + 1, lessor: lessor))
            } catch {
                txn.rollback()
                throw error
            }
            let events = try txn.end()
            if !events.isEmpty { changes.append((events, txn.rev)) }
            return result
        } catch {
            throw ServerError(error)
        }
    }

    /// Writes outside MVCC (lease, alarm, members buckets) in the run's LMDB transaction.
    func update<R>(_ body: (BatchTx) throws -> R) throws(ServerError) -> R {
        let b = try openBatch()
        do { return try b.update(body) } catch { throw ServerError(error) }
    }

    /// The entry at `index` is applied in full: the next commit may record it.
    func markApplied(_ index: UInt64) { appliedThrough = max(appliedThrough, index) }

    /// Commits what is pending, with the consistent index of the entries it holds in full, for
    /// work that needs transactions of its own (compaction).
    func flush() throws(ServerError) {
        try commit()
        if let hook = FailPoint.afterApplyFlush { hook() }
    }

    func compact(_ revision: Int64) throws(ServerError) {
        try flush()
        do { try store.compact(revision) } catch { throw ServerError(error) }
    }

    /// Records `appliedThrough` as the consistent index and commits everything.
    func finish() throws(ServerError) { try commit() }

    private func commit() throws(ServerError) {
        let index = appliedThrough
        if batch == nil && index == store.consistentIndex { return }
        let b = try openBatch()
        batch = nil
        do {
            let txn = try b.write()
            txn.setConsistentIndex(index)
            try txn.end()
            try b.commit()
        } catch {
            b.abort()
            throw ServerError(error)
        }
    }
}

/// Points where tests make the member die as a crash would, to check what a restart replays.
/// Set from `ETCD_SWIFT_FAILPOINT` at start-up (before any thread reads them).
enum FailPoint {
    nonisolated(unsafe) static var afterApplyFlush: (() -> Void)? = {
        guard ProcessInfo.processInfo.environment["ETCD_SWIFT_FAILPOINT"] == "apply-after-flush" else { return nil }
        return { _exit(3) }
    }()
}
