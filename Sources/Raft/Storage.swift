/// The persisted log as raft reads it. Writes belong to the application: it appends what `Ready`
/// hands out and installs snapshots; raft only reads. Implementations are called from the thread
/// that drives the `RawNode` (no locking is required by raft itself).
public protocol Storage: AnyObject {
    /// The persisted hard state and the membership of the latest snapshot.
    func initialState() throws(StorageError) -> (HardState, ConfState)
    /// Entries in [lo, hi), limited to about `maxSize` bytes but always at least one entry.
    /// Throws `.compacted` if `lo <= snapshot index`, `.unavailable` if `hi > lastIndex + 1`.
    func entries(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws(StorageError) -> [Entry]
    /// The term of entry `i`, in [firstIndex - 1, lastIndex] (the entry before the first is the
    /// snapshot's position).
    func term(_ i: UInt64) throws(StorageError) -> UInt64
    /// The index of the first entry still available (snapshot index + 1).
    func firstIndex() throws(StorageError) -> UInt64
    func lastIndex() throws(StorageError) -> UInt64
    /// The most recent snapshot; may throw `.snapshotTemporarilyUnavailable`.
    func snapshot() throws(StorageError) -> Snapshot
}

/// A ``Storage`` kept in memory: the reference implementation and the one tests use.
public final class MemoryStorage: Storage {
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

    public func initialState() throws(StorageError) -> (HardState, ConfState) {
        (hardState, snap.metadata.confState)
    }

    public func setHardState(_ hs: HardState) { hardState = hs }

    private var offset: UInt64 { ents[0].index }

    public func entries(_ lo: UInt64, _ hi: UInt64, maxSize: Int) throws(StorageError) -> [Entry] {
        let off = offset
        if lo <= off { throw .compacted }
        if hi > off + UInt64(ents.count) { throw .unavailable }
        if ents.count == 1 { throw .unavailable }
        return limitSize(ents[Int(lo - off)..<Int(hi - off)], maxSize)
    }

    public func term(_ i: UInt64) throws(StorageError) -> UInt64 {
        let off = offset
        if i < off { throw .compacted }
        if Int(i - off) >= ents.count { throw .unavailable }
        return ents[Int(i - off)].term
    }

    public func firstIndex() throws(StorageError) -> UInt64 { offset + 1 }
    public func lastIndex() throws(StorageError) -> UInt64 { offset + UInt64(ents.count) - 1 }
    public func snapshot() throws(StorageError) -> Snapshot { snap }

    /// Replaces the whole contents with `s` (used when a snapshot arrives from the leader).
    public func applySnapshot(_ s: Snapshot) throws(StorageError) {
        if snap.metadata.index >= s.metadata.index { throw .snapOutOfDate }
        snap = s
        ents = [Entry(term: s.metadata.term, index: s.metadata.index)]
    }

    /// Records a snapshot of the application state at `i` (which must be applied), optionally
    /// replacing the membership. Entries are kept until `compact` is called.
    @discardableResult
    public func createSnapshot(_ i: UInt64, confState: ConfState?, data: [UInt8]) throws(StorageError) -> Snapshot {
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
    public func compact(_ compactIndex: UInt64) throws(StorageError) {
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

/// Keeps the longest prefix whose total size stays within `maxSize` (at least one entry).
func limitSize(_ ents: ArraySlice<Entry>, _ maxSize: Int) -> [Entry] {
    if ents.isEmpty { return [] }
    if maxSize == Int.max { return Array(ents) }
    var size = 0
    var end = ents.startIndex
    while end < ents.endIndex {
        size += ents[end].size
        if end > ents.startIndex && size > maxSize { break }
        end += 1
    }
    return Array(ents[ents.startIndex..<end])
}
