@testable import MVCC
import XCTest

final class KeyIndexTests: XCTestCase {
    private func r(_ main: Int64, _ sub: Int64 = 0) -> Revision { Revision(main: main, sub: sub) }

    func testRevisionKeyEncoding() {
        let k = Revision(main: 0x0102, sub: 3).keyBytes()
        XCTAssertEqual(k, [0, 0, 0, 0, 0, 0, 1, 2, UInt8(ascii: "_"), 0, 0, 0, 0, 0, 0, 0, 3])
        let t = Revision(main: 5, sub: 1).keyBytes(tombstone: true)
        XCTAssertEqual(t.count, 18)
        XCTAssertEqual(t.last, UInt8(ascii: "t"))
        t.withUnsafeBytes {
            XCTAssertTrue(Revision.isTombstone($0))
            XCTAssertEqual(Revision(keyBytes: $0), Revision(main: 5, sub: 1))
        }
        k.withUnsafeBytes { XCTAssertFalse(Revision.isTombstone($0)) }
        XCTAssertLessThan(Revision(main: 1, sub: 9), Revision(main: 2, sub: 0))
        XCTAssertTrue(Revision(main: 2, sub: 0).keyBytes().lexicographicallyPrecedes(Revision(main: 2, sub: 0).keyBytes(tombstone: true)))
    }

    func testKeyValueCodecMatchesProtobufWireFormat() throws {
        let kv = KeyValue(key: b("foo"), createRevision: 2, modRevision: 300, version: 1, value: b("bar"), lease: 1)
        let enc = KeyValueCodec.encode(kv)
        // Hand-checked protobuf encoding: fields 1..6, varint 300 = ac 02.
        XCTAssertEqual(enc, [0x0A, 3, 0x66, 0x6F, 0x6F, 0x10, 2, 0x18, 0xAC, 0x02, 0x20, 1, 0x2A, 3, 0x62, 0x61, 0x72, 0x30, 1])
        XCTAssertEqual(try enc.withUnsafeBytes { try KeyValueCodec.decode($0) }, kv)
        XCTAssertEqual(KeyValueCodec.encode(KeyValue(key: b("k"))), [0x0A, 1, 0x6B])
        let neg = KeyValue(key: b("k"), lease: -1)
        XCTAssertEqual(try KeyValueCodec.encode(neg).withUnsafeBytes { try KeyValueCodec.decode($0) }, neg)
        XCTAssertThrowsError(try [0x0A, 9, 1].withUnsafeBytes { try KeyValueCodec.decode($0) })
    }

    /// etcd's TestKeyIndexTombstone / TestKeyIndexGet shapes.
    func testPutTombstoneGet() {
        let ki = KeyIndex(key: b("foo"))
        ki.put(r(5))
        ki.put(r(7))
        XCTAssertTrue(ki.tombstone(r(7, 1)))
        ki.put(r(8))
        ki.put(r(9))
        XCTAssertTrue(ki.tombstone(r(15)))
        XCTAssertFalse(ki.tombstone(r(16)), "deleting a deleted key finds nothing")
        XCTAssertEqual(ki.generations.count, 3)
        XCTAssertEqual(ki.generations[0].revs, [r(5), r(7), r(7, 1)])
        XCTAssertEqual(ki.generations[1].created, r(8))
        XCTAssertEqual(ki.generations[1].ver, 3)
        XCTAssertNil(ki.get(atRev: 4))
        XCTAssertEqual(ki.get(atRev: 6)?.modified, r(5))
        XCTAssertEqual(ki.get(atRev: 6)?.version, 1)
        XCTAssertEqual(ki.get(atRev: 7)?.modified, nil, "tombstoned within revision 7")
        XCTAssertEqual(ki.get(atRev: 8)?.created, r(8))
        XCTAssertEqual(ki.get(atRev: 9)?.version, 2)
        XCTAssertEqual(ki.get(atRev: 14)?.modified, r(9))
        XCTAssertNil(ki.get(atRev: 15))
        XCTAssertNil(ki.get(atRev: 100))
        XCTAssertEqual(ki.since(8), [r(8), r(9), r(15)])
    }

    /// etcd's TestKeyIndexCompactAndKeep table: compaction of
    /// {2 4 6(t)} {8 10 12(t)} {14 14.1 16(t)} {} at each revision.
    func testCompactAndKeepTable() {
        func make() -> KeyIndex {
            let ki = KeyIndex(key: b("foo"))
            ki.put(r(2)); ki.put(r(4)); ki.tombstone(r(6))
            ki.put(r(8)); ki.put(r(10)); ki.tombstone(r(12))
            ki.put(r(14)); ki.put(r(14, 1)); ki.tombstone(r(16))
            return ki
        }
        let g1 = [r(2), r(4), r(6)], g2 = [r(8), r(10), r(12)], g3 = [r(14), r(14, 1), r(16)]
        let want: [(Int64, [[Revision]], Set<Revision>)] = [
            (1, [g1, g2, g3, []], []),
            (2, [g1, g2, g3, []], [r(2)]),
            (3, [g1, g2, g3, []], [r(2)]),
            (4, [[r(4), r(6)], g2, g3, []], [r(4)]),
            (5, [[r(4), r(6)], g2, g3, []], [r(4)]),
            (6, [g2, g3, []], []),
            (7, [g2, g3, []], []),
            (8, [g2, g3, []], [r(8)]),
            (9, [g2, g3, []], [r(8)]),
            (10, [[r(10), r(12)], g3, []], [r(10)]),
            (11, [[r(10), r(12)], g3, []], [r(10)]),
            (12, [g3, []], []),
            (13, [g3, []], []),
            (14, [[r(14, 1), r(16)], []], [r(14, 1)]),
            (15, [[r(14, 1), r(16)], []], [r(14, 1)]),
            (16, [[]], []),
        ]
        let incremental = make()
        for (rev, gens, avail) in want {
            let ki = make()
            var keep = Set<Revision>()
            ki.keep(rev, &keep)
            XCTAssertEqual(keep, avail, "keep at \(rev)")
            var got = Set<Revision>()
            ki.compact(rev, &got)
            XCTAssertEqual(got, avail, "available at \(rev)")
            XCTAssertEqual(ki.generations.map(\.revs), gens, "generations at \(rev)")
            var inc = Set<Revision>()
            incremental.compact(rev, &inc)
            XCTAssertEqual(incremental.generations.map(\.revs), gens, "incremental at \(rev)")
        }
        XCTAssertTrue(incremental.isEmpty)
    }

    func testKeyTreeAgainstSortedReference() {
        var tree = KeyTree()
        var reference = Set<[UInt8]>()
        var seed: UInt64 = 42
        func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
        for step in 0..<20000 {
            let key = Array(String(next() % 3000).utf8)
            if next() % 3 == 0 {
                XCTAssertEqual(tree.remove(key), reference.remove(key) != nil)
            } else {
                _ = tree.getOrInsert(key) { KeyIndex(key: key) }
                reference.insert(key)
            }
            if step % 2000 == 0 {
                var all: [[UInt8]] = []
                tree.ascend(from: []) { all.append($0.key); return true }
                XCTAssertEqual(all, reference.sorted { $0.lexicographicallyPrecedes($1) })
                XCTAssertEqual(tree.count, reference.count)
            }
        }
        for k in reference { XCTAssertEqual(tree.get(k)?.key, k) }
        var from: [[UInt8]] = []
        tree.ascend(from: b("5")) { from.append($0.key); return from.count < 5 }
        XCTAssertEqual(from, Array(reference.filter { !$0.lexicographicallyPrecedes(b("5")) }
            .sorted { $0.lexicographicallyPrecedes($1) }.prefix(5)))
        for k in reference { tree.remove(k) }
        XCTAssertEqual(tree.count, 0)
        XCTAssertNil(tree.get(b("1")))
    }
}
