import GoSyntax
import Crypto
import Foundation
import _CryptoExtras

/// etcd's JWT tokens (`--auth-token jwt,pub-key=<file>,priv-key=<file>,sign-method=<alg>,ttl=<dur>`):
/// signed claims `{"exp":<unix s>,"revision":<auth revision>,"username":<name>}` that any member
/// holding the key can check, with no state kept. Signing and checking with swift-crypto, in the
/// exact shape golang-jwt gives etcd (header `{"alg":..,"typ":"JWT"}`, unpadded base64url, raw
/// r||s ECDSA signatures), so tokens pass between etcd and etcd-swift members sharing the keys.
public final class JWTTokenProvider: TokenProvider {
    public enum Method: String, Sendable, CaseIterable {
        case RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, HS256, HS384, HS512
    }

    enum Key: Sendable {
        case rsaPrivate(_RSA.Signing.PrivateKey)
        case rsaPublic(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PrivateKey?, P256.Signing.PublicKey)
        case p384(P384.Signing.PrivateKey?, P384.Signing.PublicKey)
        case p521(P521.Signing.PrivateKey?, P521.Signing.PublicKey)
        case hmac(SymmetricKey)
    }

    public static let defaultTTL: Duration = .seconds(300)

    public let method: Method
    public let ttl: Duration
    let key: Key
    let now: @Sendable () -> Date

    /// Builds a provider from etcd's options (the part of `--auth-token` after "jwt,"): the key
    /// files are read here. A public key alone makes a verify-only provider, as in etcd.
    public init(options: [String: String], now: @escaping @Sendable () -> Date = { Date() }) throws(AuthError) {
        guard let name = options["sign-method"], let method = Method(rawValue: name) else {
            throw .invalidAuthOptions("auth: invalid auth signature method")
        }
        self.method = method
        self.now = now
        if let text = options["ttl"], !text.isEmpty {
            guard let ns = GoSyntax.parseDuration(text) else { throw .invalidAuthOptions("auth: invalid ttl \(text)") }
            ttl = .nanoseconds(ns)
        } else {
            ttl = Self.defaultTTL
        }
        func read(_ option: String) throws(AuthError) -> String? {
            guard let path = options[option], !path.isEmpty else { return nil }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .invalidAuthOptions("open \(path): no such file or directory")
            }
            return String(decoding: data, as: UTF8.self)
        }
        let priv = try read("priv-key"), pub = try read("pub-key")
        do {
            key = try Self.makeKey(method, priv: priv, pub: pub)
        } catch let e as AuthError {
            throw e
        } catch {
            throw .invalidAuthOptions("auth: cannot load JWT key: \(error)")
        }
    }

    static func makeKey(_ method: Method, priv: String?, pub: String?) throws -> Key {
        switch method {
        case .RS256, .RS384, .RS512, .PS256, .PS384, .PS512:
            if let priv {
                // Keys below 2048 bits are refused by the checked initializer; etcd takes them.
                let k = try (try? _RSA.Signing.PrivateKey(pemRepresentation: priv))
                    ?? _RSA.Signing.PrivateKey(unsafePEMRepresentation: priv)
                return .rsaPrivate(k)
            }
            guard let pub else { throw AuthError.invalidAuthOptions("auth: missing key data") }
            let k = try (try? _RSA.Signing.PublicKey(pemRepresentation: pub))
                ?? _RSA.Signing.PublicKey(unsafePEMRepresentation: pub)
            return .rsaPublic(k)
        case .ES256:
            if let priv { let k = try P256.Signing.PrivateKey(pemRepresentation: priv); return .p256(k, k.publicKey) }
            guard let pub else { throw AuthError.invalidAuthOptions("auth: missing key data") }
            return .p256(nil, try P256.Signing.PublicKey(pemRepresentation: pub))
        case .ES384:
            if let priv { let k = try P384.Signing.PrivateKey(pemRepresentation: priv); return .p384(k, k.publicKey) }
            guard let pub else { throw AuthError.invalidAuthOptions("auth: missing key data") }
            return .p384(nil, try P384.Signing.PublicKey(pemRepresentation: pub))
        case .ES512:
            if let priv { let k = try P521.Signing.PrivateKey(pemRepresentation: priv); return .p521(k, k.publicKey) }
            guard let pub else { throw AuthError.invalidAuthOptions("auth: missing key data") }
            return .p521(nil, try P521.Signing.PublicKey(pemRepresentation: pub))
        case .HS256, .HS384, .HS512:
            // golang-jwt uses the private key file's bytes as the HMAC secret.
            guard let priv, !priv.isEmpty else { throw AuthError.invalidAuthOptions("auth: missing key data") }
            return .hmac(SymmetricKey(data: Array(priv.utf8)))
        }
    }

    public func enable() {}
    public func disable() {}
    public func invalidateUser(_ username: String) {}
    public func tokenPrefix() -> String { "" }
    public func requiredIndex(of token: String) -> UInt64? { nil }

    public func assign(username: String, revision: UInt64, prefix: String, index: UInt64) throws(AuthError) -> String {
        let exp = Int64(now().timeIntervalSince1970) + ttl.components.seconds
        let header = "{\"alg\":\"\(method.rawValue)\",\"typ\":\"JWT\"}"
        let claims = "{\"exp\":\(exp),\"revision\":\(revision),\"username\":\(GoSyntax.jsonString(username))}"
        let signingInput = base64URL(Array(header.utf8)) + "." + base64URL(Array(claims.utf8))
        guard let signature = try? sign(Array(signingInput.utf8)) else {
            throw .invalidAuthOptions("auth: token signing attempted with verify-only key")
        }
        return signingInput + "." + base64URL(signature)
    }

    public func info(_ token: String, revision: UInt64) -> AuthInfo? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = decodeBase64URL(parts[0]), let claimBytes = decodeBase64URL(parts[1]),
              let signature = decodeBase64URL(parts[2]),
              let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
              header["alg"] as? String == method.rawValue,
              verify(Array("\(parts[0]).\(parts[1])".utf8), signature: signature),
              let claims = try? JSONSerialization.jsonObject(with: Data(claimBytes)) as? [String: Any],
              let username = claims["username"] as? String,
              let rev = (claims["revision"] as? NSNumber)?.doubleValue, rev >= 0, rev < 1.8e19
        else { return nil }
        // As golang-jwt: an "exp" in the past makes the token invalid; no "exp" is accepted.
        if let exp = (claims["exp"] as? NSNumber)?.doubleValue, now().timeIntervalSince1970 > exp { return nil }
        return AuthInfo(username: username, revision: UInt64(rev))
    }

    private func sign(_ input: [UInt8]) throws -> [UInt8] {
        switch key {
        case .rsaPrivate(let k):
            let padding: _RSA.Signing.Padding = method.rawValue.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5
            switch method {
            case .RS384, .PS384: return Array(try k.signature(for: SHA384.hash(data: input), padding: padding).rawRepresentation)
            case .RS512, .PS512: return Array(try k.signature(for: SHA512.hash(data: input), padding: padding).rawRepresentation)
            default: return Array(try k.signature(for: SHA256.hash(data: input), padding: padding).rawRepresentation)
            }
        case .p256(let k?, _): return Array(try k.signature(for: SHA256.hash(data: input)).rawRepresentation)
        case .p384(let k?, _): return Array(try k.signature(for: SHA384.hash(data: input)).rawRepresentation)
        case .p521(let k?, _): return Array(try k.signature(for: SHA512.hash(data: input)).rawRepresentation)
        case .hmac(let k):
            switch method {
            case .HS384: return Array(HMAC<SHA384>.authenticationCode(for: input, using: k))
            case .HS512: return Array(HMAC<SHA512>.authenticationCode(for: input, using: k))
            default: return Array(HMAC<SHA256>.authenticationCode(for: input, using: k))
            }
        default:
            throw AuthError.invalidAuthOptions("verify-only key")
        }
    }

    private func verify(_ input: [UInt8], signature: [UInt8]) -> Bool {
        switch key {
        case .rsaPrivate(let k): return verifyRSA(k.publicKey, input, signature)
        case .rsaPublic(let k): return verifyRSA(k, input, signature)
        case .p256(_, let k):
            guard let s = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return k.isValidSignature(s, for: SHA256.hash(data: input))
        case .p384(_, let k):
            guard let s = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return k.isValidSignature(s, for: SHA384.hash(data: input))
        case .p521(_, let k):
            guard let s = try? P521.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return k.isValidSignature(s, for: SHA512.hash(data: input))
        case .hmac(let k):
            switch method {
            case .HS384: return HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: input, using: k)
            case .HS512: return HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: input, using: k)
            default: return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: input, using: k)
            }
        }
    }

    private func verifyRSA(_ k: _RSA.Signing.PublicKey, _ input: [UInt8], _ signature: [UInt8]) -> Bool {
        let padding: _RSA.Signing.Padding = method.rawValue.hasPrefix("PS") ? .PSS : .insecurePKCS1v1_5
        let s = _RSA.Signing.RSASignature(rawRepresentation: signature)
        switch method {
        case .RS384, .PS384: return k.isValidSignature(s, for: SHA384.hash(data: input), padding: padding)
        case .RS512, .PS512: return k.isValidSignature(s, for: SHA512.hash(data: input), padding: padding)
        default: return k.isValidSignature(s, for: SHA256.hash(data: input), padding: padding)
        }
    }
}

/// Unpadded base64url (RFC 7515).
func base64URL(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

func decodeBase64URL(_ text: Substring) -> [UInt8]? {
    var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    guard !s.contains("=") else { return nil }
    while s.count % 4 != 0 { s += "=" }
    return Data(base64Encoded: s).map { Array($0) }
}

