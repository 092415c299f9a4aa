import Testing
@testable import Auth

@Suite struct BcryptTests {
    /// Hashes made by Go's golang.org/x/crypto/bcrypt (what etcd stores), cost 4 and 10.
    static let goHashes: [(String, String)] = [
        ("", "$2a$04$UKrDYqmgdhMcKeWaFvRQje49yAJ9x9zE5OkQiWaTFmD1SySLxdq3G"),
        ("pass", "$2a$04$c9naR2GxDJttNPIPwj3efuMQe21ZQC8/LM4AnMdYNeKIrtNhYim3i"),
        ("a longer passphrase with spaces, ünïcode",
         "$2a$04$CYveoBcmoVr.6WKaRP5Quu5WvLUEtnFMUuqMwrINP4HYjYBz21IJG"),
        ("root", "$2a$10$SneuJr9W38PpFTKl9Hif0ORtjewJ.4u33nA4BWYo74b1ePuXWpe2y"),
    ]

    @Test func verifiesGoHashes() {
        for (password, hash) in Self.goHashes {
            #expect(Bcrypt.verify(Array(password.utf8), hashed: Array(hash.utf8)), "\(password)")
            #expect(!Bcrypt.verify(Array((password + "x").utf8), hashed: Array(hash.utf8)))
        }
    }

    @Test func reproducesGoHashFromItsSalt() throws {
        let hash = Array(Self.goHashes[1].1.utf8)
        let parsed = try #require(Bcrypt.parse(hash))
        #expect(Bcrypt.hash(Array("pass".utf8), cost: parsed.cost, salt: parsed.salt) == hash)
    }

    @Test func roundTripsAndSaltsDiffer() {
        let a = Bcrypt.hash(Array("secret".utf8), cost: 4)
        let b = Bcrypt.hash(Array("secret".utf8), cost: 4)
        #expect(a != b)
        #expect(String(decoding: a, as: UTF8.self).hasPrefix("$2a$04$"))
        #expect(a.count == 60)
        #expect(Bcrypt.verify(Array("secret".utf8), hashed: a))
        #expect(Bcrypt.verify(Array("secret".utf8), hashed: b))
        #expect(Bcrypt.cost(of: a) == 4)
    }

    @Test func malformedHashesNeverMatch() {
        for bad in ["", "$", "$2a$", "$2a$04$short", "$2a$99$UKrDYqmgdhMcKeWaFvRQje49yAJ9x9zE5OkQiWaTFmD1SySLxdq3G",
                    "$2a$04$UKrDYqmgdhMcKeWaFvRQje49yAJ9x9zE5OkQiWaTFmD1SySLxdq3!", "$3a$04$" + String(repeating: "a", count: 53),
                    "plaintext"] {
            #expect(!Bcrypt.verify([], hashed: Array(bad.utf8)), "\(bad)")
        }
    }

    @Test func base64RoundTrips() {
        for n in 0..<20 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Bcrypt.decode64(Bcrypt.encode64(bytes)) == bytes)
        }
    }
}
