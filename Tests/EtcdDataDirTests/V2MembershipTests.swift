import EtcdProto
import XCTest

@testable import EtcdDataDir

final class V2MembershipTests: XCTestCase {
    func testReadsMembersFromTheRealSnapsV2Store() throws {
        let marks = try EtcdWAL.validSnapshotMarks(dir: EtcdWALTests.basic + "/wal")
        let loaded = try XCTUnwrap(EtcdSnap.loadNewestAvailable(dir: EtcdWALTests.basic + "/snap", marks: marks))
        let v2 = try XCTUnwrap(V2Membership(storeJSON: loaded.snapshot.data ?? []))
        XCTAssertEqual(v2.members.count, 1)
        let m = try XCTUnwrap(v2.members.first)
        XCTAssertEqual(m.name, "fx")
        XCTAssertEqual(m.peerURLs.count, 1)
        XCTAssertTrue(m.peerURLs[0].hasPrefix("http://127.0.0.1:"))
        XCTAssertEqual(m.clientURLs.count, 1)
        XCTAssertEqual(loaded.snapshot.metadata?.confState?.voters, [m.id])
        XCTAssertEqual(v2.clusterVersion, "3.4.0")
        XCTAssertTrue(v2.removed.isEmpty)
    }

    func testMemberJSONIsGos() {
        let m = V2Membership.Member(id: 42, peerURLs: ["http://a:1"], isLearner: true, name: "n<1>", clientURLs: [])
        XCTAssertEqual(String(decoding: m.json, as: UTF8.self),
                       #"{"id":42,"peerURLs":["http://a:1"],"isLearner":true,"name":"n\u003c1\u003e"}"#)
    }

    func testNotAStore() {
        XCTAssertNil(V2Membership(storeJSON: Array("not json".utf8)))
        XCTAssertNil(V2Membership(storeJSON: Array("{}".utf8)))
    }
}
