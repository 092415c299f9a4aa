/// The persisted log as raft reads it. Writes belong to the application: it appends what `Ready`
/// hands out and installs snapshots; raft only reads. Implementations are called from the thread
/// that drives the `RawNode` (no locking is required by raft itself).
public protocol RaftStorage: AnyObject {
    /// The persisted hard state and the membership of the latest snapshot.
    func initialState() throws(RaftStorageError) -> (HardState, ConfState)
    /// Entries in [lo, hi), limited to about `maxSize` bytes but always at least one entry.
    /// Throws `.compacted` if `lo <= snapshot index`, `.unavailable` if `hi > lastIndex + 1`.
    func entries(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws(RaftStorageError) -> [Entry]
    /// The term of entry `i`, in [firstIndex - 1, lastIndex] (the entry before the first is the
    /// snapshot's position).
    func term(_ i: UInt64) throws(RaftStorageError) -> UInt64
    /// The index of the first entry still available (snapshot index + 1).
    func firstIndex() throws(RaftStorageError) -> UInt64
    func lastIndex() throws(RaftStorageError) -> UInt64
    /// The most recent snapshot; may throw `.snapshotTemporarilyUnavailable`.
    func snapshot() throws(RaftStorageError) -> Snapshot
}

/// A ``RaftStorage`` kept in memory, like etcd's `raft.MemoryStorage`: the application writes
/// its durable log (WAL) and mirrors it here, and on restart rebuilds it with `applySnapshot`,
/// `setHardState` and `append`. Appending is amortized O(1) per entry and reads copy only the
/// entries returned. Not thread-safe: unlike etcd's, it has no lock, so every call (including
/// `createSnapshot` and `compact` asked for by an apply thread) must come from the thread that
/// drives the `RawNode`.
public final class MemoryStorage: RaftStorage {
    public private(set) var hardState = HardState()
    public private(set) var snap = Snapshot()
    /// `ents[0]` is a dummy holding the snapshot's index and term.
    private var ents: [Entry] = [Entry()]

    public init() {}

    /// A storage bootstrapped with a membership (as if from an empty snapshot at index 0).
    public convenience init(confState: ConfState) {
        self.init()
        snap.metadata.confState = confState
    }

    public func initialState() throws(RaftStorageError) -> (HardState, ConfState) {
        (hardState, snap.metadata.confState)
    }

    public func setHardState(_ hs: HardState) { hardState = hs }

    private var offset: UInt64 { ents[0].index }

    public func entries(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws(RaftStorageError) -> [Entry] {
        let off = offset
        if lo <= off { throw .compacted }
        if hi > off + UInt64(ents.count) { throw .unavailable }
        if ents.count == 1 { throw .unavailable }
        return limitSize(ents[Int(lo - off)..<Int(hi - off)], maxSize)
    }

    public func term(_ i: UInt64) throws(RaftStorageError) -> UInt64 {
        let off = offset
        if i < off { throw .compacted }
        if Int(i - off) >= ents.count { throw .unavailable }
        return ents[Int(i - off)].term
    }

    public func firstIndex() throws(RaftStorageError) -> UInt64 { offset + 1 }
    public func lastIndex() throws(RaftStorageError) -> UInt64 { offset + UInt64(ents.count) - 1 }
    public func snapshot() throws(RaftStorageError) -> Snapshot { snap }

    /// Replaces the whole contents with `s`: every entry is dropped, the log continues after
    /// `s.metadata.index`, and the membership becomes `s.metadata.confState` (used when a
    /// snapshot arrives from the leader, and on restart from the latest snapshot on disk).
    /// Throws `.snapOutOfDate` unless `s` is newer than the current snapshot.
    public func applySnapshot(_ s: Snapshot) throws(RaftStorageError) {
        if snap.metadata.index >= s.metadata.index { throw .snapOutOfDate }
        snap = s
        ents = [Entry(term: s.metadata.term, index: s.metadata.index)]
    }

    /// Records a snapshot of the application state at `i` (which must be applied), optionally
    /// replacing the membership. Entries are kept until `compact` is called.
    @discardableResult
    public func createSnapshot(_ i: UInt64, confState: ConfState?, data: [UInt8]) throws(RaftStorageError) -> Snapshot {
        if i <= snap.metadata.index { throw .snapOutOfDate }
        let off = offset
        precondition(i <= lastIndexValue, "snapshot \(i) is out of bound lastindex(\(lastIndexValue))")
        snap.metadata.index = i
        snap.metadata.term = ents[Int(i - off)].term
        if let cs = confState { snap.metadata.confState = cs }
        snap.data = data
        return snap
    }

    /// Discards entries before `compactIndex` (which becomes the dummy entry).
    public func compact(_ compactIndex: UInt64) throws(RaftStorageError) {
        let off = offset
        if compactIndex <= off { throw .compacted }
        precondition(compactIndex <= lastIndexValue, "compact \(compactIndex) is out of bound")
        let i = Int(compactIndex - off)
        var newEnts = [Entry(term: ents[i].term, index: ents[i].index)]
        newEnts.append(contentsOf: ents[(i + 1)...])
        ents = newEnts
    }

    /// Appends entries, truncating any existing suffix they conflict with. Entries already
    /// compacted are ignored.
    public func append(_ entries: [Entry]) {
        guard let firstNew = entries.first?.index else { return }
        let first = offset + 1
        let last = entries[entries.count - 1].index
        if last < first { return }
        var slice = entries[...]
        if first > firstNew { slice = entries[Int(first - firstNew)...] }
        let off = Int(slice.first!.index - offset)
        if ents.count > off {
            ents.removeSubrange(off...)
        } else if ents.count < off {
            preconditionFailure("missing log entry [last: \(lastIndexValue), append at: \(slice.first!.index)]")
        }
        ents.append(contentsOf: slice)
    }

    private var lastIndexValue: UInt64 { offset + UInt64(ents.count) - 1 }
}

/// The end of the longest prefix of `ents` whose total size stays within `maxSize` (at least
/// one entry).
func limitEnd<C: RandomAccessCollection>(_ ents: C, _ maxSize: Int) -> C.Index where C.Element == Entry {
    if maxSize == Int.max || ents.isEmpty { return ents.endIndex }
    var size = 0
    var end = ents.startIndex
    while end < ents.endIndex {
        size += ents[end].size
        if end > ents.startIndex && size > maxSize { break }
        end = ents.index(after: end)
    }
    return end
}

/// Copies the longest prefix whose total size stays within `maxSize` (at least one entry):
/// only the entries returned are copied.
func limitSize(_ ents: ArraySlice<Entry>, _ maxSize: Int) -> [Entry] {
    Array(ents[ents.startIndex..<limitEnd(ents, maxSize)])
}

/// Truncates `ents` in place to the longest prefix within `maxSize` (at least one entry).
func limitSize(_ ents: inout [Entry], _ maxSize: Int) {
    let end = limitEnd(ents, maxSize)
    if end < ents.endIndex { ents.removeSubrange(end...) }
}
