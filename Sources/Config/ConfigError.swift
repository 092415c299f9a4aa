/// A configuration that etcd 3.4 would refuse, with the text and exit status etcd gives.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// How etcd reports the failure; the caller formats its output from this.
    public enum Kind: Sendable, Equatable {
        /// Go's `flag` package rejected the command line: print `message`, then
        /// ``ConfigParser/usage`` to stderr, exit 2 (e.g. "flag provided but not defined: -foo").
        case usage
        /// etcd's checks failed: etcd logs "error verifying flags, <message>. See 'etcd --help'." and exits 1.
        case verify
        /// etcd stops with this message as is (a fatal log line or a plain stderr line); exit 1.
        case fatal
    }

    /// How etcd reports this error.
    public var kind: Kind
    /// etcd's own text of the error.
    public var message: String
    /// The process exit status etcd uses: 2 for flag syntax (and for etcd's panic on a bad log level), else 1.
    public var exitCode: Int32

    /// Creates an error of the given kind; the exit status defaults from the kind.
    public init(kind: Kind, message: String, exitCode: Int32? = nil) {
        self.kind = kind
        self.message = message
        self.exitCode = exitCode ?? (kind == .usage ? 2 : 1)
    }

    public var description: String { message }

    static func usage(_ m: String) -> ConfigError { ConfigError(kind: .usage, message: m) }
    static func verify(_ m: String) -> ConfigError { ConfigError(kind: .verify, message: m) }
    static func fatal(_ m: String) -> ConfigError { ConfigError(kind: .fatal, message: m) }

    /// The line etcd logs for a `.verify` error (capnslog "E | etcdmain:" text, without the prefix).
    public var verifyingLine: String { "error verifying flags, \(message). See 'etcd --help'." }

    /// etcd's `embed.ErrUnsetAdvertiseClientURLsFlag` text; etcd logs one more line after it
    /// ("When listening on specific address(es), this etcd process must advertise accessible url(s)
    /// to each connected client.").
    public static let unsetAdvertiseClientURLs =
        "--advertise-client-urls is required when --listen-client-urls is set explicitly"

    /// etcd's `embed.ErrConflictBootstrapFlags` text.
    public static let conflictBootstrapFlags =
        "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\""
}
