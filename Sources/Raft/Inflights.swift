/// A bounded window of append messages in flight to one follower, each remembered by the last
/// index it carried; acknowledgements free the window up to an index.
struct Inflights {
    private var start = 0
    private(set) var count = 0
    private var buffer: [UInt64]
    let size: Int

    init(size: Int) {
        self.size = size
        buffer = []
    }

    var full: Bool { count == size }

    mutating func add(_ inflight: UInt64) {
        precondition(!full, "cannot add into a full inflights")
        var next = start + count
        if next >= size { next -= size }
        // Grow lazily so idle followers cost little memory.
        if next >= buffer.count {
            buffer.append(inflight)
        } else {
            buffer[next] = inflight
        }
        count += 1
    }

    /// Frees every inflight message whose last index is <= `to`.
    mutating func freeLE(_ to: UInt64) {
        if count == 0 || to < buffer[start] { return }
        var idx = start
        var i = 0
        while i < count {
            if to < buffer[idx] { break }
            idx += 1
            if idx >= size { idx -= size }
            i += 1
        }
        count -= i
        start = idx
        if count == 0 { start = 0 }
    }

    mutating func freeFirstOne() {
        if count > 0 { freeLE(buffer[start]) }
    }

    mutating func reset() {
        count = 0
        start = 0
    }
}
