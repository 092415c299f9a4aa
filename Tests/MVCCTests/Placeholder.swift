import XCTest

final class MVCCTestsPlaceholder: XCTestCase {
    func testBuilds() {}
}
