import EtcdMetrics
import EtcdProto
import XCTest

@testable import Server

/// The applier finds a proposal's waiter by the request id at the front of the entry's bytes.
final class ProposalRegistryTests: XCTestCase {
    func testRequestIDIsReadFromTheEntryBytes() {
        for id: UInt64 in [1, 127, 128, 0x7c9a_1234_5678_9abc, .max] {
            var request = Etcdserverpb_InternalRaftRequest()
            request.id = id
            var put = Etcdserverpb_PutRequest()
            put.key = Array("k".utf8)
            put.value = [UInt8](repeating: 1, count: 300)
            request.put = put
            var header = Etcdserverpb_RequestHeader()
            header.id = 99
            request.header = header
            XCTAssertEqual(ProposalRegistry.peekID(request.serializedBytes()), id, "ID \(id) is field 1, serialized first")
        }
        // Entries without the field (etcd's own, which carry the id in the header) are decoded.
        var request = Etcdserverpb_InternalRaftRequest()
        var header = Etcdserverpb_RequestHeader()
        header.id = 7
        request.header = header
        XCTAssertEqual(ProposalRegistry.peekID(request.serializedBytes()), 0)
        XCTAssertEqual(ProposalRegistry.peekID([]), 0)
        XCTAssertEqual(ProposalRegistry.peekID([0x08, 0xff]), 0, "a truncated varint is no id")
    }

    func testWaitersExpireAtTheirDeadline() {
        let registry = ProposalRegistry()
        let now = ContinuousClock.now
        let answered = Counter()
        for (id, offset) in [(UInt64(1), -1), (2, 5)] {
            registry.register(id: id, .init(request: Etcdserverpb_InternalRaftRequest(), deadline: now + .seconds(offset)) {
                if case .failure(.timeout) = $0 { answered.add() }
            })
        }
        registry.expire(now: now) { _ in .timeout }
        XCTAssertEqual(answered.value, 1)
        XCTAssertNil(registry.take(1))
        XCTAssertNotNil(registry.take(2))
    }
}

/// ReadIndex rounds: contexts never collide across members (the leader keeps one pending read
/// per context), and one round serves every read queued before it started.
final class LinearizableReadsTests: XCTestCase {
    func testContextsAreUniqueAcrossMembers() async throws {
        var seen: Set<[UInt8]> = []
        for member: UInt64 in [0x1111, 0x2222] {
            let reads = LinearizableReads(timeout: .seconds(5), memberID: member)
            for _ in 0..<3 {
                let task = Task { try await reads.readIndex { true } }
                var context: [UInt8]?
                while context == nil {
                    reads.startRound { context = $0 }
                    if context == nil { try await Task.sleep(for: .milliseconds(1)) }
                }
                XCTAssertTrue(seen.insert(context!).inserted, "context \(context!) used twice")
                reads.failAll(.stopped)
                _ = try? await task.value
            }
        }
        XCTAssertEqual(seen.count, 6)
    }

    /// The value of an unlabelled counter on the /metrics page.
    private func counter(_ name: String) -> Double {
        let page = Meters.render {}
        for line in page.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ")[1]) ?? -1
        }
        return -1
    }

    func testTimeoutsAndLeaderChangesAreCounted() async throws {
        let reads = LinearizableReads(timeout: .milliseconds(50), memberID: 7)
        let slow0 = counter("etcd_server_slow_read_indexes_total")
        let failed0 = counter("etcd_server_read_indexes_failed_total")
        // Two readers time out in one round: one slow read index, as etcd counts a round.
        let t1 = Task { try await reads.readIndex { true } }
        let t2 = Task { try await reads.readIndex { true } }
        var context: [UInt8]?
        while context == nil {
            reads.startRound { context = $0 }
            if context == nil { try await Task.sleep(for: .milliseconds(1)) }
        }
        try await Task.sleep(for: .milliseconds(80))
        reads.tick(now: .now) { _ in }
        for t in [t1, t2] {
            do { _ = try await t.value; XCTFail("read did not time out") } catch {}
        }
        XCTAssertEqual(counter("etcd_server_slow_read_indexes_total"), slow0 + 1)
        // A round lost to a leader change.
        let t3 = Task { try await reads.readIndex { true } }
        context = nil
        while context == nil {
            reads.startRound { context = $0 }
            if context == nil { try await Task.sleep(for: .milliseconds(1)) }
        }
        reads.failRound(.leaderChanged)
        do { _ = try await t3.value; XCTFail("read survived a leader change") } catch {}
        XCTAssertEqual(counter("etcd_server_read_indexes_failed_total"), failed0 + 1)
    }
}
