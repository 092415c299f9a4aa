@testable import Auth
import Crypto
import Foundation
import Synchronization
import Testing
import _CryptoExtras

@Suite struct TokenTests {
    final class Clock: Sendable {
        let start = ContinuousClock.now
        let offset = Mutex<Duration>(.zero)
        func now() -> ContinuousClock.Instant { start + offset.withLock { $0 } }
    }

    @Test func simpleTokensExpireAfterTTLSinceLastUse() throws {
        let clock = Clock()
        let p = SimpleTokenProvider(ttl: .seconds(10), now: { clock.now() })
        _ = try p.assign(username: "u", revision: 1, prefix: "x", index: 1)
        #expect(p.info("x.1", revision: 3) == nil, "disabled: nothing is kept")
        p.enable()
        let token = try p.assign(username: "u", revision: 1, prefix: "x", index: 1)
        #expect(p.tokenPrefix().count == 16)
        clock.offset.withLock { $0 = .seconds(8) }
        #expect(p.info(token, revision: 3) == AuthInfo(username: "u", revision: 3))
        clock.offset.withLock { $0 = .seconds(16) }  // 8 s since its last use
        #expect(p.info(token, revision: 3) != nil)
        clock.offset.withLock { $0 = .seconds(27) }
        #expect(p.info(token, revision: 3) == nil)
        #expect(p.requiredIndex(of: "abc.12") == 12)
        #expect(p.requiredIndex(of: "abc") == nil)
        #expect(p.requiredIndex(of: "a.b.1") == nil)
    }

    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "auth-key-\(UUID().uuidString).pem"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// HS256 with a fixed clock gives exactly the token Python's hmac computes for the same claims.
    @Test func hs256MatchesAnIndependentSigner() throws {
        let key = try write("sekrit")
        let p = try JWTTokenProvider(options: ["sign-method": "HS256", "priv-key": key, "ttl": "5m"],
                                     now: { Date(timeIntervalSince1970: 1_700_000_000) })
        let token = try p.assign(username: "alice", revision: 7, prefix: "", index: 3)
        #expect(token == "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDAzMDAsInJldmlzaW9uIjo3LCJ1c2VybmFtZSI6ImFsaWNlIn0.MS2bFkZYwExaJ1jQ4hNTTFO5tJmohp1vlndg7FklxiU")
        #expect(p.info(token, revision: 99) == AuthInfo(username: "alice", revision: 7))
        let late = try JWTTokenProvider(options: ["sign-method": "HS256", "priv-key": key],
                                        now: { Date(timeIntervalSince1970: 1_700_000_301) })
        #expect(late.info(token, revision: 1) == nil, "expired")
    }

    @Test func everyMethodSignsAndVerifies() throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let ec = [P256.Signing.PrivateKey().pemRepresentation, P384.Signing.PrivateKey().pemRepresentation,
                  P521.Signing.PrivateKey().pemRepresentation]
        for method in JWTTokenProvider.Method.allCases {
            let priv: String
            switch method {
            case .ES256: priv = ec[0]
            case .ES384: priv = ec[1]
            case .ES512: priv = ec[2]
            case .HS256, .HS384, .HS512: priv = "hmac-secret"
            default: priv = rsa.pemRepresentation
            }
            let p = try JWTTokenProvider(options: ["sign-method": method.rawValue, "priv-key": try write(priv)])
            let token = try p.assign(username: "bob", revision: 4, prefix: "", index: 0)
            #expect(p.info(token, revision: 0) == AuthInfo(username: "bob", revision: 4), "\(method)")
            var tampered = Array(token.utf8)
            tampered[tampered.count / 2] ^= 1
            #expect(p.info(String(decoding: tampered, as: UTF8.self), revision: 0) == nil, "\(method)")
            #expect(p.info("a.b.c", revision: 0) == nil)
        }
        // Verify-only: a public key alone checks tokens but cannot issue them.
        let signer = try JWTTokenProvider(options: ["sign-method": "RS256", "priv-key": try write(rsa.pemRepresentation)])
        let verifier = try JWTTokenProvider(options: ["sign-method": "RS256", "pub-key": try write(rsa.publicKey.pemRepresentation)])
        let token = try signer.assign(username: "c", revision: 2, prefix: "", index: 0)
        #expect(verifier.info(token, revision: 0)?.username == "c")
        #expect(throws: AuthError.self) { try verifier.assign(username: "c", revision: 2, prefix: "", index: 0) }
    }

    @Test func tokenOptions() throws {
        #expect(try makeTokenProvider("simple", simpleTTL: .seconds(1)) is SimpleTokenProvider)
        #expect(try makeTokenProvider("", simpleTTL: .seconds(1)) is NopTokenProvider)
        #expect(throws: AuthError.self) { try makeTokenProvider("bogus", simpleTTL: .seconds(1)) }
        #expect(throws: AuthError.self) { try makeTokenProvider("jwt,sign-method", simpleTTL: .seconds(1)) }
        #expect(throws: AuthError.self) { try makeTokenProvider("jwt,sign-method=XX256", simpleTTL: .seconds(1)) }
        #expect(throws: AuthError.self) { try makeTokenProvider("jwt,sign-method=RS256", simpleTTL: .seconds(1)) }
    }
}
