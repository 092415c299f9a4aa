import XCTest

final class ServerTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
