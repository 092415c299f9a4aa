@testable import Auth
import Testing

@Suite struct CodecAndRangeTests {
    /// Bytes as etcd (gogoproto) writes them: a user with options always carries field 4.
    @Test func userBytesMatchGogoproto() {
        let u = User(name: "ab", password: [0x24], roles: ["r"], options: UserOptions())
        #expect(AuthCodec.encode(u) == [0x0a, 2, 0x61, 0x62, 0x12, 1, 0x24, 0x1a, 1, 0x72, 0x22, 0])
        let np = User(name: "n", password: [], roles: [], options: UserOptions(noPassword: true))
        #expect(AuthCodec.encode(np) == [0x0a, 1, 0x6e, 0x22, 2, 0x08, 1])
        #expect(AuthCodec.decodeUser(AuthCodec.encode(u)) == u)
        #expect(AuthCodec.decodeUser(AuthCodec.encode(np)) == np)
    }

    @Test func roleBytesMatchGogoproto() {
        let r = Role(name: "r", permissions: [Permission(type: .read, key: [0x61]),
                                              Permission(type: .readWrite, key: [0x62], rangeEnd: [0])])
        #expect(AuthCodec.encode(r) == [0x0a, 1, 0x72, 0x12, 3, 0x12, 1, 0x61, 0x12, 8, 0x08, 2, 0x12, 1, 0x62, 0x1a, 1, 0])
        #expect(AuthCodec.decodeRole(AuthCodec.encode(r)) == r)
    }

    @Test func garbageDoesNotDecode() {
        #expect(AuthCodec.decodeUser([0x0a, 5, 1]) == nil)
        #expect(AuthCodec.decodeRole([0x12, 2, 0x08, 9]) == nil)  // permission type 9
        #expect(AuthCodec.decodeUser([0xff]) == nil)
        #expect(AuthCodec.decodeUser([0x00]) == nil)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {  // never crashes
            let bytes = (0..<Int.random(in: 0..<24, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = AuthCodec.decodeUser(bytes)
            _ = AuthCodec.decodeRole(bytes)
        }
    }

    func perms(_ list: [(PermissionType, String, String)]) -> UnifiedPermissions {
        let role = Role(name: "r", permissions: list.map { Permission(type: $0.0, key: Array($0.1.utf8), rangeEnd: $0.2 == "\\0" ? [0] : Array($0.2.utf8)) })
        return UnifiedPermissions(user: User(name: "u", roles: ["r"]), roles: ["r": role])
    }

    @Test func adjacentRangesMergeGapsDoNot() {
        let p = perms([(.read, "a", "b"), (.read, "b", "c"), (.read, "d", "e")])
        #expect(p.permits(key: Array("a".utf8), rangeEnd: Array("c".utf8), write: false))
        #expect(!p.permits(key: Array("a".utf8), rangeEnd: Array("e".utf8), write: false))
        #expect(!p.permits(key: Array("a".utf8), rangeEnd: Array("b".utf8), write: true))
        #expect(p.permits(key: Array("bx".utf8), rangeEnd: [], write: false))
        #expect(!p.permits(key: Array("c".utf8), rangeEnd: [], write: false))
    }

    @Test func fromKeyAndPoints() {
        let p = perms([(.write, "k", "\\0"), (.read, "solo", "")])
        #expect(p.permits(key: Array("zzz".utf8), rangeEnd: [0], write: true))
        #expect(p.permits(key: Array("k".utf8), rangeEnd: [], write: true))
        #expect(!p.permits(key: Array("j".utf8), rangeEnd: [0], write: true))
        #expect(p.permits(key: Array("solo".utf8), rangeEnd: [], write: false))
        #expect(p.permits(key: Array("solo".utf8), rangeEnd: Array("solo\0".utf8), write: false))
        #expect(!p.permits(key: Array("solo".utf8), rangeEnd: Array("solp".utf8), write: false))
        #expect(!p.permits(key: Array("sol".utf8), rangeEnd: [], write: false))
    }
}
