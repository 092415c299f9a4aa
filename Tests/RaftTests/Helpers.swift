import XCTest
@testable import Raft
import RaftTestKit

/// A storage holding a log whose entry i (1-based) has term `terms[i-1]`.
func storage(voters: [UInt64], terms: [UInt64] = [], hardState: HardState = HardState(), learners: [UInt64] = []) -> MemoryStorage {
    let s = MemoryStorage(confState: ConfState(voters: voters, learners: learners))
    s.append(terms.enumerated().map { Entry(term: $0.element, index: UInt64($0.offset + 1), data: [UInt8($0.offset & 0xff)]) })
    s.setHardState(hardState)
    return s
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

extension RawNode {
    /// Drains every pending Ready without persisting (for single-node unit tests) and returns
    /// the messages.
    func takeMessages(persistingTo s: MemoryStorage? = nil) -> [Message] {
        var out: [Message] = []
        while hasReady() {
            let rd = ready()
            if let s {
                if let snap = rd.snapshot { try? s.applySnapshot(snap) }
                s.append(rd.entries)
                if let hs = rd.hardState { s.setHardState(hs) }
            }
            out += rd.messages
            advance(rd)
        }
        return out
    }

    var state: StateType { status.softState.raftState }
}

extension TestCluster {
    /// Elects node 1 (or `id`) and checks it won.
    func elect(_ id: UInt64 = 1, file: StaticString = #filePath, line: UInt = #line) {
        campaign(id)
        XCTAssertEqual(leader, id, "node \(id) should have won the election", file: file, line: line)
    }

    func data(_ id: UInt64) -> [[UInt8]] {
        (applied[id] ?? []).filter { $0.type == .normal && !$0.data.isEmpty }.map(\.data)
    }
}

/// A founding member's storage: the membership lives in a snapshot at (index 1, term 1), so that
/// members added later learn it from the leader's snapshot rather than from an incomplete log.
func bootstrapStorage(voters: [UInt64]) -> MemoryStorage {
    let s = MemoryStorage()
    try! s.applySnapshot(Snapshot(metadata: SnapshotMetadata(confState: ConfState(voters: voters), index: 1, term: 1)))
    s.setHardState(HardState(term: 1, commit: 1))
    return s
}
