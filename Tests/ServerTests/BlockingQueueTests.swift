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
}

private final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
