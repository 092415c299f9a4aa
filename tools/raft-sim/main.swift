// raft-sim: runs the deterministic raft simulation over many seeds and prints the seed that
// reproduces the first failure.
//
//   raft-sim [--seeds N] [--first-seed S] [--nodes 3|5] [--steps K] [--seed S] [--async-persist]
//            [--wal [--wal-segment BYTES] [--wal-dir DIR]] [--trace FROM_STEP] [--verbose]
//
// --async-persist handles Readys the pipelined way (etcd 3.4's raftNode): writes take several
// steps, a leader sends before its own write is durable, committed entries are applied in
// parallel with the write, and crashes lose writes in progress.
//
// --wal persists every node into a real WAL (Storage.WAL, one per node in a temporary directory
// under --wal-dir, default /dev/shm) the way the server writes it; a crash loses what was not
// synced (or lets a prefix of it reach the disk, with a torn record after it), and a restart
// rebuilds raft's MemoryStorage from WAL.open as the server's restart does. Combines with
// --async-persist.
import Raft
import RaftTestKit

func usage() -> Never {
    print("usage: raft-sim [--seeds N] [--first-seed S] [--seed S] [--nodes 3|5] [--steps K] [--keep-going] [--no-membership] [--no-crashes] [--no-compaction] [--no-commit-rule-check] [--async-persist] [--wal] [--wal-segment BYTES] [--wal-dir DIR] [--trace FROM_STEP] [--verbose]")
    exit(2)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

var seeds = 100
var firstSeed: UInt64 = 1
var nodes = 3
var steps = 500
var verbose = false
var keepGoing = false
var membership = true
var traceFrom: Int? = nil
var crashes = true
var compaction = true
var commitRule = true
var asyncPersist = false
var wal = false
var walSegment: Int? = nil
var walDir: String? = nil
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let a = args.removeFirst()
    func value() -> String {
        if args.isEmpty { usage() }
        return args.removeFirst()
    }
    switch a {
    case "--seeds": seeds = Int(value()) ?? { usage() }()
    case "--first-seed": firstSeed = UInt64(value()) ?? { usage() }()
    case "--seed":
        firstSeed = UInt64(value()) ?? { usage() }()
        seeds = 1
    case "--nodes": nodes = Int(value()) ?? { usage() }()
    case "--steps": steps = Int(value()) ?? { usage() }()
    case "--verbose", "-v": verbose = true
    case "--keep-going": keepGoing = true
    case "--no-membership": membership = false
    case "--trace": traceFrom = Int(value()) ?? { usage() }()
    case "--no-crashes": crashes = false
    case "--no-compaction": compaction = false
    case "--no-commit-rule-check": commitRule = false
    case "--async-persist": asyncPersist = true
    case "--wal": wal = true
    case "--wal-segment": walSegment = Int(value()) ?? { usage() }()
    case "--wal-dir": walDir = value()
    default: usage()
    }
}
if nodes != 3 && nodes != 5 { usage() }

var failures = 0
var total = SimStats()
for seed in firstSeed..<(firstSeed + UInt64(seeds)) {
    var opts = SimOptions(seed: seed, nodes: nodes, steps: steps)
    opts.membershipChanges = membership
    opts.crashes = crashes
    opts.compaction = compaction
    opts.checkCommitRule = commitRule
    opts.asyncPersistence = asyncPersist
    opts.wal = wal
    opts.walSegmentSize = walSegment
    opts.walDirectory = walDir
    do {
        let sim = try Simulation(options: opts)
        sim.traceFrom = traceFrom
        let result = sim.run()
        let s = sim.stats
        total.add(s)
        if verbose {
            print("seed \(seed): \(result == nil ? "ok" : "FAIL") committed=\(s.committedEntries) delivered=\(s.delivered) crashes=\(s.crashes) partitions=\(s.partitions) snaps=\(s.snapshotsSent) confchanges=\(s.confChangesApplied) reads=\(s.readsAnswered)")
        }
        if let f = result {
            failures += 1
            print("FAIL \(f)")
            print("reproduce: raft-sim --seed \(seed) --nodes \(nodes) --steps \(steps)\(asyncPersist ? " --async-persist" : "")\(wal ? " --wal" : "")\(walSegment.map { " --wal-segment \($0)" } ?? "")\(membership ? "" : " --no-membership")\(crashes ? "" : " --no-crashes")\(compaction ? "" : " --no-compaction")")
            if !keepGoing { break }
        }
    } catch {
        failures += 1
        print("FAIL seed \(seed): \(error)")
        if !keepGoing { break }
    }
}
print("\(seeds) seeds x \(nodes) nodes x \(steps) steps: \(failures) failed; committed=\(total.committedEntries) delivered=\(total.delivered) crashes=\(total.crashes) partitions=\(total.partitions) snapshots=\(total.snapshotsSent) confchanges=\(total.confChangesApplied) reads=\(total.readsAnswered)\(asyncPersist ? " earlySends=\(total.earlySends) lostWrites=\(total.lostWrites) lostEarlySent=\(total.lostEarlySentWrites)" : "")\(wal ? " walSyncs=\(total.walSyncs) walLost=\(total.walLostRecords) walSurvived=\(total.walSurvivedRecords) torn=\(total.walTornTails) installedOnRestart=\(total.walInstalledOnRestart) segmentsCut=\(total.walSegmentsCut) segmentsReleased=\(total.walSegmentsReleased)" : "")")
exit(failures == 0 ? 0 : 1)
