import XCTest
@testable import Raft
@testable import RaftTestKit

/// The seeded simulation with every node persisting into a real WAL (`SimOptions.wal`, see
/// `SimDisk`): entries and hard state appended per `Ready` and synced when `mustSync`, received
/// snapshots recorded before the entries after them, log snapshots as a snapshot record plus
/// `releaseTo`; a crash loses what was not synced (or lets a prefix of it reach the disk, with a
/// torn record after it) and the node's `MemoryStorage` is rebuilt from `WAL.open` as the
/// server's restart does, then checked against the storage before the crash. Every safety
/// invariant holds under crashes, partitions, loss and membership changes. Replay a failure with
/// `raft-sim --seed N --nodes K --steps S --wal`.
final class WALSimulationTests: XCTestCase {
    static let seeds: ClosedRange<UInt64> = 1...100
    static let steps3 = 300
    static let steps5 = 200

    private func runSeeds(_ seeds: ClosedRange<UInt64>, nodes: Int, steps: Int,
                          asyncPersistence: Bool = false) throws -> SimStats? {
        var total = SimStats()
        for seed in seeds {
            var opts = SimOptions(seed: seed, nodes: nodes, steps: steps)
            opts.wal = true
            opts.asyncPersistence = asyncPersistence
            let sim = try Simulation(options: opts)
            if let f = sim.run() {
                XCTFail("\(f)\nreproduce: raft-sim --seed \(seed) --nodes \(nodes) --steps \(steps) --wal\(asyncPersistence ? " --async-persist" : "")")
                return nil
            }
            total.add(sim.stats)
        }
        return total
    }

    /// The schedules exercise the WAL's paths, not only raft's.
    private func assertWALExercised(_ t: SimStats, seeds: Int) {
        XCTAssertGreaterThan(t.committedEntries, UInt64(seeds * 20))
        XCTAssertGreaterThan(t.crashes, seeds)
        XCTAssertGreaterThan(t.partitions, seeds)
        XCTAssertGreaterThan(t.snapshotsSent, seeds / 10)
        XCTAssertGreaterThan(t.confChangesApplied, seeds)
        XCTAssertGreaterThan(t.walSyncs, seeds * 100)
        XCTAssertGreaterThan(t.walLostRecords, seeds / 10, "crashes lost unsynced records")
        XCTAssertGreaterThan(t.walSurvivedRecords, seeds / 10, "unsynced records reached the disk")
        XCTAssertGreaterThan(t.walTornTails, seeds / 4, "restarts cut off torn records")
        XCTAssertGreaterThan(t.walInstalledOnRestart, 0, "restarts installed snapshots received before the crash")
        XCTAssertGreaterThan(t.walSegmentsCut, seeds, "segments were cut")
        XCTAssertGreaterThan(t.walSegmentsReleased, seeds / 4, "segments were released")
    }

    func testWALPersistenceThreeNodes() throws {
        guard let t = try runSeeds(Self.seeds, nodes: 3, steps: Self.steps3) else { return }
        assertWALExercised(t, seeds: Self.seeds.count)
    }

    func testWALPersistenceFiveNodes() throws {
        guard let t = try runSeeds(Self.seeds, nodes: 5, steps: Self.steps5) else { return }
        assertWALExercised(t, seeds: Self.seeds.count)
    }

    /// With etcd 3.4's pipelined `Ready` handling too (writes in progress lost in crashes, the
    /// state machine durable: raft's rebuilt snapshot takes the membership it applied, as the
    /// server's restart does).
    func testWALPersistencePipelined() throws {
        let seeds: ClosedRange<UInt64> = 1...40
        guard let t = try runSeeds(seeds, nodes: 3, steps: Self.steps3, asyncPersistence: true) else { return }
        XCTAssertGreaterThan(t.committedEntries, UInt64(seeds.count * 20))
        XCTAssertGreaterThan(t.lostWrites, seeds.count / 2)
        XCTAssertGreaterThan(t.walTornTails, seeds.count / 4)
    }

    func testWALSimulationIsDeterministicForASeed() throws {
        func fingerprint() throws -> [Int] {
            var opts = SimOptions(seed: 7, nodes: 3, steps: 200)
            opts.wal = true
            let sim = try Simulation(options: opts)
            XCTAssertNil(sim.run())
            let s = sim.stats
            return [Int(s.committedEntries), s.delivered, s.crashes, s.snapshotsSent, s.walSyncs, s.walLostRecords,
                    s.walTornTails, s.walSegmentsCut, s.walSegmentsReleased]
        }
        XCTAssertEqual(try fingerprint(), try fingerprint())
    }
}
