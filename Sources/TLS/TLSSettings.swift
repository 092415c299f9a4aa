// etcd's transport.TLSInfo: the TLS settings of one side (the client port or the peer port) as
// the flags give them, and the errors etcd reports for unusable ones.

/// The TLS settings of one side; `isEmpty` (no certificate and key) means plain text.
public struct TLSSettings: Sendable, Equatable {
    public var certFile = ""
    public var keyFile = ""
    public var trustedCAFile = ""
    /// Require and verify client certificates (also implied by a trusted CA file, as in etcd).
    public var clientCertAuth = false
    public var crlFile = ""
    /// `--peer-cert-allowed-cn`: the common name a peer's certificate must carry.
    public var allowedCN = ""
    /// `--peer-cert-allowed-hostname` / `--client-cert-allowed-hostname`.
    public var allowedHostname = ""
    /// `--experimental-peer-skip-client-san-verification`: accept a client certificate whose
    /// SANs do not name the connecting address.
    public var skipClientSANVerify = false
    /// Check an inbound client certificate's SANs against the connecting address (etcd does it
    /// on the peer port only).
    public var checkClientSAN = false
    /// TLS 1.2 cipher suites by Go's names, in order of preference (empty: the library's defaults).
    public var cipherSuites: [String] = []
    /// A certificate made by `--auto-tls`: as a client, do not verify the other side (etcd's
    /// `selfCert` sets InsecureSkipVerify).
    public var selfSigned = false

    public init() {}

    public var isEmpty: Bool { certFile.isEmpty && keyFile.isEmpty }

    /// Whether the server asks for (and requires) a client certificate.
    public var requiresClientCertificate: Bool { clientCertAuth || !trustedCAFile.isEmpty }

    /// etcd's `TLSInfo.String()`, logged at start-up.
    public var description: String {
        "cert = \(certFile), key = \(keyFile), trusted-ca = \(trustedCAFile), client-cert-auth = \(clientCertAuth), crl-file = \(crlFile)"
    }
}

/// A TLS setting etcd refuses at start-up; `message` is etcd's text.
public struct TLSSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
