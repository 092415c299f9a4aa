import Synchronization

/// Issues and resolves the tokens Authenticate returns (`--auth-token`): etcd's TokenProvider.
public protocol TokenProvider: Sendable {
    /// Starts or stops accepting tokens (auth enabled or disabled); disabling forgets them all.
    func enable()
    func disable()
    /// Who `token` stands for and the auth revision to check requests against, or nil when it is
    /// not a valid token. `revision` is the store's current auth revision (simple tokens carry none).
    func info(_ token: String, revision: UInt64) -> AuthInfo?
    /// A token for `username`, made while applying the Authenticate entry at log `index` with the
    /// `prefix` its proposer drew.
    func assign(username: String, revision: UInt64, prefix: String, index: UInt64) throws(AuthError) -> String
    /// Drops the user's tokens (deleted, or password changed).
    func invalidateUser(_ username: String)
    /// The random part the proposer of an Authenticate draws (simple tokens), or "".
    func tokenPrefix() -> String
    /// The log index that must be applied before `token` can be resolved (simple tokens name the
    /// entry that made them, and a follower may not have applied it yet), or nil.
    func requiredIndex(of token: String) -> UInt64?
}

/// etcd's simple tokens: `<16 random letters>.<log index>`, known only to the members that applied
/// the Authenticate entry, valid for `ttl` since their last use.
///
/// Expiry is checked when a token is used and swept as new tokens are issued, instead of by a
/// ticking thread as etcd does: a token unused for `ttl` is refused either way.
public final class SimpleTokenProvider: TokenProvider {
    public static let defaultTTL: Duration = .seconds(300)
    static let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    let ttl: Duration
    let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex<State>(State())

    struct State {
        /// nil while disabled: no token is issued or accepted.
        var tokens: [String: (user: String, expiry: ContinuousClock.Instant)]? = nil
        var lastSweep: ContinuousClock.Instant?
    }

    /// - Parameter ttl: etcd's `--auth-token-ttl`; zero or less means the default (300 s).
    public init(ttl: Duration = SimpleTokenProvider.defaultTTL,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.ttl = ttl > .zero ? ttl : Self.defaultTTL
        self.now = now
    }

    public func enable() {
        state.withLock { s in if s.tokens == nil { s.tokens = [:] } }
    }

    public func disable() {
        state.withLock { $0.tokens = nil }
    }

    public func tokenPrefix() -> String {
        var rng = SystemRandomNumberGenerator()
        return String(decoding: (0..<16).map { _ in Self.letters.randomElement(using: &rng)! }, as: UTF8.self)
    }

    public func requiredIndex(of token: String) -> UInt64? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return UInt64(parts[1])
    }

    public func assign(username: String, revision: UInt64, prefix: String, index: UInt64) throws(AuthError) -> String {
        let token = "\(prefix).\(index)"
        let t = now()
        state.withLock { s in
            guard s.tokens != nil else { return }
            // etcd panics on a reused token; a prefix is 16 random letters, so a clash means a
            // replayed entry, and the newest assignment is the one to keep.
            s.tokens![token] = (username, t + ttl)
            if s.lastSweep.map({ t - $0 >= .seconds(1) }) ?? true {
                s.lastSweep = t
                s.tokens = s.tokens!.filter { $0.value.expiry > t }
            }
        }
        return token
    }

    public func info(_ token: String, revision: UInt64) -> AuthInfo? {
        guard requiredIndex(of: token) != nil else { return nil }
        let t = now()
        return state.withLock { s -> AuthInfo? in
            guard let entry = s.tokens?[token] else { return nil }
            guard entry.expiry > t else {
                s.tokens![token] = nil
                return nil
            }
            s.tokens![token] = (entry.user, t + ttl)
            return AuthInfo(username: entry.user, revision: revision)
        }
    }

    public func invalidateUser(_ username: String) {
        state.withLock { s in
            guard s.tokens != nil else { return }
            s.tokens = s.tokens!.filter { $0.value.user != username }
        }
    }

    /// How many tokens are held (tests).
    var count: Int { state.withLock { $0.tokens?.count ?? 0 } }
}

/// `--auth-token` left empty: no token is ever issued (etcd's nop provider).
public struct NopTokenProvider: TokenProvider {
    public init() {}
    public func enable() {}
    public func disable() {}
    public func info(_ token: String, revision: UInt64) -> AuthInfo? { nil }
    public func assign(username: String, revision: UInt64, prefix: String, index: UInt64) throws(AuthError) -> String {
        throw .authFailed
    }
    public func invalidateUser(_ username: String) {}
    public func tokenPrefix() -> String { "" }
    public func requiredIndex(of token: String) -> UInt64? { nil }
}
