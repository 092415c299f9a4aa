import Foundation
import XCTest
@testable import Server

/// The claim lets a producer do the consumer's work itself, never beside it or out of order.
final class BlockingQueueTests: XCTestCase {
    func testClaimIfIdleOnlyWhenNothingIsQueuedAndNobodyHoldsTheClaim() {
        let q = BlockingQueue<Int>()
        XCTAssertTrue(q.claimIfIdle())
        XCTAssertFalse(q.claimIfIdle(), "a second claimer must not work beside the first")
        q.release()
        q.push(1)
        XCTAssertFalse(q.claimIfIdle(), "queued work goes first: the caller must queue behind it")
        XCTAssertEqual(q.claimAll(), [1])
        XCTAssertFalse(q.claimIfIdle(), "the consumer holds the claim while it works")
        q.release()
        XCTAssertTrue(q.claimIfIdle())
        q.release()
    }

    func testConsumerWaitsForTheClaimBeforeTakingWorkQueuedMeanwhile() {
        let q = BlockingQueue<Int>()
        XCTAssertTrue(q.claimIfIdle())
        q.push(7)
        let taken = expectation(description: "consumer took the item")
        let order = Recorder()
        Thread {
            let batch = q.claimAll()
            order.append("consumer \(batch ?? [])")
            q.release()
            taken.fulfill()
        }.start()
        // The consumer must not take 7 while the claim is held here.
        Thread.sleep(forTimeInterval: 0.1)
        order.append("claimer done")
        q.release()
        wait(for: [taken], timeout: 5)
        XCTAssertEqual(order.items, ["claimer done", "consumer [7]"])
        q.close()
        XCTAssertNil(q.claimAll())
    }

    /// An inline apply (claim, work, release with nothing queued) must not wake the consumer
    /// thread: it would find nothing and sleep again, a context switch per write.
    func testReleaseWithNothingQueuedSignalsNobody() {
        let q = BlockingQueue<Int>()
        let done = expectation(description: "consumer finished")
        Thread {
            while let batch = q.claimAll() { _ = batch; q.release() }
            done.fulfill()
        }.start()
        Thread.sleep(forTimeInterval: 0.05)
        let before = q.signalCount
        for _ in 0..<100 {
            XCTAssertTrue(q.claimIfIdle())
            q.release()
        }
        XCTAssertEqual(q.signalCount, before, "releases with nothing queued woke the consumer")
        XCTAssertTrue(q.claimIfIdle())
        q.push(1)
        q.release()
        XCTAssertEqual(q.signalCount, before + 2, "a push, then a release with work queued, each signal once")
        q.close()
        wait(for: [done], timeout: 5)
    }
}

private final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
