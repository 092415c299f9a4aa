import XCTest

final class EtcdProtoTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
