// raft-bench: proposals committed per second by 3 in-memory raft nodes in one process, messages
// delivered directly, proposals batched; and heap allocations per committed entry.
//
//   raft-bench [--entries N] [--batch B] [--size BYTES]
//
// Allocations are counted by interposing malloc/calloc/realloc/posix_memalign/aligned_alloc in
// this executable (forwarding to glibc's __libc_* functions), so the count covers the raft core,
// the in-memory storage and this driver. Defining `malloc` in Swift draws a compiler warning, so
// it is opt-in; build the counting variant with
//   swift build -c release --product raft-bench -Xswiftc -DRAFT_BENCH_COUNT_ALLOCS \
//       -Xlinker --export-dynamic
// (--export-dynamic makes the dynamic linker bind every library's malloc to ours).
import Raft

#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) var allocationCount = 0

#if canImport(Glibc) && RAFT_BENCH_COUNT_ALLOCS

@_silgen_name("__libc_malloc") func libcMalloc(_ n: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_calloc") func libcCalloc(_ n: Int, _ m: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_realloc") func libcRealloc(_ p: UnsafeMutableRawPointer?, _ n: Int) -> UnsafeMutableRawPointer?
@_silgen_name("__libc_memalign") func libcMemalign(_ a: Int, _ n: Int) -> UnsafeMutableRawPointer?

@_cdecl("malloc") public func countingMalloc(_ n: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcMalloc(n)
}

@_cdecl("calloc") public func countingCalloc(_ n: Int, _ m: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcCalloc(n, m)
}

@_cdecl("realloc") public func countingRealloc(_ p: UnsafeMutableRawPointer?, _ n: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcRealloc(p, n)
}

@_cdecl("posix_memalign") public func countingPosixMemalign(_ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>, _ a: Int, _ n: Int) -> Int32 {
    allocationCount &+= 1
    guard let p = libcMemalign(a, n) else { return ENOMEM }
    out.pointee = p
    return 0
}

@_cdecl("aligned_alloc") public func countingAlignedAlloc(_ a: Int, _ n: Int) -> UnsafeMutableRawPointer? {
    allocationCount &+= 1
    return libcMemalign(a, n)
}
#endif

let clockOrigin = ContinuousClock.now
func monotonicNanos() -> UInt64 {
    let c = clockOrigin.duration(to: .now).components
    return UInt64(c.seconds) * 1_000_000_000 + UInt64(c.attoseconds / 1_000_000_000)
}

var total = 2_000_000
var batch = 1000
var size = 16
var args = Array(CommandLine.arguments.dropFirst())
while args.count >= 2 {
    let k = args.removeFirst()
    let v = Int(args.removeFirst()) ?? 0
    switch k {
    case "--entries": total = v
    case "--batch": batch = v
    case "--size": size = v
    default: print("unknown option \(k)")
    }
}

/// One in-memory member: raft plus the storage it persists to.
final class Member {
    let node: RawNode
    let storage: MemoryStorage
    var applied: UInt64 = 0
    var appliedCount = 0

    init(id: UInt64, peers: [UInt64]) throws {
        storage = MemoryStorage(confState: ConfState(voters: peers))
        var c = RaftConfig(id: id, electionTick: 10, heartbeatTick: 1)
        c.maxSizePerMsg = 4 << 20
        c.maxInflightMsgs = 256
        node = try RawNode(config: c, storage: storage)
    }
}

/// Three members wired together with direct, synchronous message delivery.
final class Bench {
    let members: [Member]
    var outbox: [Message] = []
    let proposals: [[UInt8]]

    init(batch: Int, size: Int) throws {
        let ids: [UInt64] = [1, 2, 3]
        members = try ids.map { try Member(id: $0, peers: ids) }
        // One payload shared by every proposal (copy-on-write): allocations counted are raft's own.
        proposals = Array(repeating: [UInt8](repeating: 0xAB, count: size), count: batch)
        outbox.reserveCapacity(64)
        try members[0].node.campaign()
        pump()
        precondition(members[0].node.isLeader, "node 1 should lead")
    }

    /// Handles Readys by the contract: persist, collect messages, apply, advance.
    func handle(_ m: Member) {
        while m.node.hasReady() {
            let rd = m.node.ready()
            if !rd.entries.isEmpty { m.storage.append(rd.entries) }
            if let hs = rd.hardState { m.storage.setHardState(hs) }
            outbox.append(contentsOf: rd.messages)
            if let last = rd.committedEntries.last {
                m.appliedCount += rd.committedEntries.count
                m.applied = last.index
            }
            m.node.advance(rd)
        }
    }

    /// Delivers messages until the cluster is quiet.
    func pump() {
        for m in members { handle(m) }
        while !outbox.isEmpty {
            let msgs = outbox
            outbox.removeAll(keepingCapacity: true)
            for msg in msgs {
                let to = members[Int(msg.to) - 1]
                try? to.node.step(msg)
                handle(to)
            }
        }
    }

    func run(_ entries: Int) {
        var proposed = 0
        let leader = members[0]
        while proposed < entries {
            try? leader.node.propose(batch: proposals)
            proposed += proposals.count
            pump()
            // Keep memory flat, as a server would after snapshotting.
            for m in members {
                let first = (try? m.storage.firstIndex()) ?? 1
                if m.applied > first + 50_000 { try? m.storage.compact(m.applied - 1000) }
            }
        }
    }
}

func fixed(_ x: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (x * scale).rounded() / scale
    return "\(v)"
}

// Interposition works only if this executable exports its symbols dynamically.
let probeBefore = allocationCount
let probe = [Int](repeating: 1, count: Int(CommandLine.arguments.count) + 100)
let countingWorks = allocationCount > probeBefore && probe.count > 0

let bench = try Bench(batch: batch, size: size)
bench.run(min(total / 10, 200_000)) // warm-up
let warm = bench.members.map(\.appliedCount)
let allocsBefore = allocationCount
let t0 = monotonicNanos()
bench.run(total)
let t1 = monotonicNanos()
let allocs = allocationCount - allocsBefore
let committed = bench.members[0].appliedCount - warm[0]
for (i, m) in bench.members.enumerated() {
    precondition(m.appliedCount - warm[i] == committed, "member \(i + 1) applied a different count")
}
let secs = Double(t1 - t0) / 1e9
let rate = Double(committed) / secs
let perEntry = Double(allocs) / Double(committed)
print("raft-bench: 3 nodes, batch \(batch), \(size)-byte entries")
print("committed entries: \(committed) in \(fixed(secs, 3)) s -> \(Int(rate)) entries/s")
if countingWorks {
    print("heap allocations: \(allocs) total, \(fixed(perEntry, 4)) per committed entry (all 3 nodes)")
} else {
    print("heap allocations: not counted (build with -Xswiftc -DRAFT_BENCH_COUNT_ALLOCS -Xlinker --export-dynamic)")
}
