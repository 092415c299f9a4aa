import EtcdProto
import Foundation
import Synchronization
import XCTest

@testable import Server

/// Acknowledged means durable: no proposer hears back before the fsync of the batch that holds
/// its entry, and many concurrent proposals share fsyncs (group commit).
final class RequestPipelineTests: XCTestCase {
    /// Records the order of log operations; `synced` is the highest index made durable.
    final class RecordingLog: EntryLog, @unchecked Sendable {
        let state = Mutex<(appended: UInt64, synced: UInt64, syncs: Int)>((0, 0, 0))
        func append(_ entries: [LogEntry]) throws {
            state.withLock { $0.appended = entries.last?.index ?? $0.appended }
        }
        func sync() throws {
            Thread.sleep(forTimeInterval: 0.002)  // a slow disk lets proposals pile up
            state.withLock {
                $0.synced = $0.appended
                $0.syncs += 1
            }
        }
        func release(through index: UInt64, term: UInt64) throws {}
    }

    func testNoAcknowledgementBeforeItsBatchIsSynced() async throws {
        let log = RecordingLog()
        let violations = Mutex(0)
        let pipeline = RequestPipeline(log: log, term: 2, lastIndex: 0) { batch in
            for (entry, proposal) in batch {
                if log.state.withLock({ $0.synced }) < entry.index { violations.withLock { $0 += 1 } }
                proposal?.completion?(.none)
            }
        }
        pipeline.start()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<500 {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        _ = pipeline.propose(Proposal(data: [1, 2, 3]) { _ in done.resume() })
                    }
                }
            }
        }
        pipeline.stop()
        XCTAssertEqual(violations.withLock { $0 }, 0, "an entry was applied and answered before it was synced")
        let syncs = log.state.withLock { $0.syncs }
        XCTAssertLessThan(syncs, 500, "500 concurrent proposals must share fsyncs")
        XCTAssertEqual(log.state.withLock { $0.synced }, 500)
    }
}
