// raft-sim: runs the deterministic raft simulation over many seeds and prints the seed that
// reproduces the first failure.
//
//   raft-sim [--seeds N] [--first-seed S] [--nodes 3|5] [--steps K] [--seed S] [--async-persist]
//            [--trace FROM_STEP] [--verbose]
//
// --async-persist handles Readys the pipelined way (etcd 3.4's raftNode): writes take several
// steps, a leader sends before its own write is durable, committed entries are applied in
// parallel with the write, and crashes lose writes in progress.
import Raft
import RaftTestKit

func usage() -> Never {
    print("usage: raft-sim [--seeds N] [--first-seed S] [--seed S] [--nodes 3|5] [--steps K] [--keep-going] [--no-membership] [--no-crashes] [--no-compaction] [--no-commit-rule-check] [--async-persist] [--trace FROM_STEP] [--verbose]")
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
    do {
        let sim = try Simulation(options: opts)
        sim.traceFrom = traceFrom
        let result = sim.run()
        let s = sim.stats
        total.committedEntries += s.committedEntries
        total.crashes += s.crashes
        total.partitions += s.partitions
        total.snapshotsSent += s.snapshotsSent
        total.confChangesApplied += s.confChangesApplied
        total.readsAnswered += s.readsAnswered
        total.delivered += s.delivered
        total.earlySends += s.earlySends
        total.lostWrites += s.lostWrites
        total.lostEarlySentWrites += s.lostEarlySentWrites
        if verbose {
            print("seed \(seed): \(result == nil ? "ok" : "FAIL") committed=\(s.committedEntries) delivered=\(s.delivered) crashes=\(s.crashes) partitions=\(s.partitions) snaps=\(s.snapshotsSent) confchanges=\(s.confChangesApplied) reads=\(s.readsAnswered)")
        }
        if let f = result {
            failures += 1
            print("FAIL \(f)")
            print("reproduce: raft-sim --seed \(seed) --nodes \(nodes) --steps \(steps)")
            if !keepGoing { break }
        }
    } catch {
        failures += 1
        print("FAIL seed \(seed): \(error)")
        if !keepGoing { break }
    }
}
print("\(seeds) seeds x \(nodes) nodes x \(steps) steps: \(failures) failed; committed=\(total.committedEntries) delivered=\(total.delivered) crashes=\(total.crashes) partitions=\(total.partitions) snapshots=\(total.snapshotsSent) confchanges=\(total.confChangesApplied) reads=\(total.readsAnswered)\(asyncPersist ? " earlySends=\(total.earlySends) lostWrites=\(total.lostWrites) lostEarlySent=\(total.lostEarlySentWrites)" : "")")
exit(failures == 0 ? 0 : 1)
