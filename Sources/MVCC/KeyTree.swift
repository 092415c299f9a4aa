import Glibc

/// Lexicographic byte order, as etcd compares keys.
@inline(__always)
func compareKeys(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            let n = min(pa.count, pb.count)
            if n > 0 {
                let c = memcmp(pa.baseAddress!, pb.baseAddress!, n)
                if c != 0 { return Int(c) }
            }
            return pa.count - pb.count
        }
    }
}

/// A node of `KeyTree`. Leaves hold keys and their `KeyIndex`; inner nodes hold children and,
/// for each child, a lower bound of its keys (`keys[0]` may be stale: child 0 also takes every
/// key below `keys[1]`).
final class KeyTreeNode {
    var keys: [[UInt8]] = []
    var values: [KeyIndex] = []
    var children: [KeyTreeNode] = []
    let isLeaf: Bool

    init(isLeaf: Bool) { self.isLeaf = isLeaf }

    /// First position whose key is >= `key`.
    @inline(__always) func lowerBound(_ key: [UInt8]) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareKeys(keys[mid], key) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The child whose range holds `key`.
    @inline(__always) func childIndex(_ key: [UInt8]) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareKeys(keys[mid], key) <= 0 { lo = mid + 1 } else { hi = mid }
        }
        return max(0, lo - 1)
    }
}

/// An ordered map from key bytes to `KeyIndex`: a B+-tree of fan-out `KeyTree.order`, so lookup,
/// insert and delete cost O(log n). Deletes free empty nodes without merging neighbours (the
/// height never exceeds what the peak size needed), which keeps deletion short.
struct KeyTree {
    static let order = 64
    private(set) var root = KeyTreeNode(isLeaf: true)
    private(set) var count = 0

    func get(_ key: [UInt8]) -> KeyIndex? {
        var node = root
        while !node.isLeaf { node = node.children[node.childIndex(key)] }
        let i = node.lowerBound(key)
        return i < node.keys.count && compareKeys(node.keys[i], key) == 0 ? node.values[i] : nil
    }

    /// The entry for `key`, created with `make` when absent.
    mutating func getOrInsert(_ key: [UInt8], _ make: () -> KeyIndex) -> KeyIndex {
        var result: KeyIndex?
        if let split = insert(root, key, make, &result) {
            let newRoot = KeyTreeNode(isLeaf: false)
            newRoot.keys = [root.keys[0], split.keys[0]]
            newRoot.children = [root, split]
            root = newRoot
        }
        return result!
    }

    /// Inserts below `node`; returns the right half when `node` split.
    private mutating func insert(_ node: KeyTreeNode, _ key: [UInt8], _ make: () -> KeyIndex,
                                 _ result: inout KeyIndex?) -> KeyTreeNode? {
        if node.isLeaf {
            let i = node.lowerBound(key)
            if i < node.keys.count && compareKeys(node.keys[i], key) == 0 {
                result = node.values[i]
                return nil
            }
            let v = make()
            result = v
            node.keys.insert(key, at: i)
            node.values.insert(v, at: i)
            count += 1
        } else {
            let ci = node.childIndex(key)
            if compareKeys(key, node.keys[ci]) < 0 { node.keys[ci] = key }
            guard let right = insert(node.children[ci], key, make, &result) else { return nil }
            node.keys.insert(right.keys[0], at: ci + 1)
            node.children.insert(right, at: ci + 1)
        }
        guard node.keys.count > KeyTree.order else { return nil }
        let half = node.keys.count / 2
        let right = KeyTreeNode(isLeaf: node.isLeaf)
        right.keys = Array(node.keys[half...])
        node.keys.removeSubrange(half...)
        if node.isLeaf {
            right.values = Array(node.values[half...])
            node.values.removeSubrange(half...)
        } else {
            right.children = Array(node.children[half...])
            node.children.removeSubrange(half...)
        }
        return right
    }

    /// Removes `key`; returns whether it was present.
    @discardableResult
    mutating func remove(_ key: [UInt8]) -> Bool {
        let removed = remove(root, key)
        while !root.isLeaf && root.children.count <= 1 {
            root = root.children.first ?? KeyTreeNode(isLeaf: true)
        }
        return removed
    }

    private mutating func remove(_ node: KeyTreeNode, _ key: [UInt8]) -> Bool {
        if node.isLeaf {
            let i = node.lowerBound(key)
            guard i < node.keys.count && compareKeys(node.keys[i], key) == 0 else { return false }
            node.keys.remove(at: i)
            node.values.remove(at: i)
            count -= 1
            return true
        }
        let ci = node.childIndex(key)
        let child = node.children[ci]
        guard remove(child, key) else { return false }
        if child.keys.isEmpty {
            node.keys.remove(at: ci)
            node.children.remove(at: ci)
        }
        return true
    }

    /// Visits entries with keys >= `from` in order until `body` returns false.
    func ascend(from: [UInt8], _ body: (KeyIndex) throws -> Bool) rethrows {
        _ = try ascend(root, from, body)
    }

    private func ascend(_ node: KeyTreeNode, _ from: [UInt8], _ body: (KeyIndex) throws -> Bool) rethrows -> Bool {
        if node.isLeaf {
            var i = node.lowerBound(from)
            while i < node.values.count {
                if try !body(node.values[i]) { return false }
                i += 1
            }
            return true
        }
        var ci = node.childIndex(from)
        while ci < node.children.count {
            if try !ascend(node.children[ci], from, body) { return false }
            ci += 1
        }
        return true
    }
}
