import XCTest

final class GRPCTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
