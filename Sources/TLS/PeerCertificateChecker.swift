// etcd's certificate checks run inside the TLS handshake (so a refused certificate gets an alert,
// as from Go): BoringSSL's verdict on each certificate of the chain, then the CRL on every
// certificate, then the allowed CN / host name and the client SAN on the leaf.
import NIOSSL
import X509

final class PeerCertificateChecker {
    private let settings: TLSSettings
    private let crl: RevocationList?
    private let remoteIP: String
    private let server: Bool
    /// Why the last certificate was refused (Go's words), for the log line.
    private(set) var lastReason: String?

    init(settings: TLSSettings, crl: RevocationList?, remoteIP: String, server: Bool) {
        self.settings = settings
        self.crl = crl
        self.remoteIP = remoteIP
        self.server = server
    }

    /// Called by BoringSSL for each certificate from the root to the leaf, on the event loop.
    func check(preverified: NIOSSLVerificationResult, _ cert: NIOSSLCertificate) -> NIOSSLVerificationResult {
        guard case .certificateVerified = preverified else {
            lastReason = lastReason ?? "x509: certificate signed by unknown authority"
            return .failed
        }
        guard let der = try? cert.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else {
            lastReason = "x509: malformed certificate"
            return .failed
        }
        if let reason = verdict(parsed) {
            lastReason = reason
            return .failed
        }
        return .certificateVerified
    }

    /// nil when `cert` passes.
    func verdict(_ cert: Certificate) -> String? {
        if let crl, let revoked = crl.check(cert) { return revoked }
        guard Self.isLeaf(cert) else { return nil }
        if let refused = CertificateChecks.checkAllowed(cert, cn: settings.allowedCN, hostname: settings.allowedHostname) {
            return refused
        }
        if server && settings.checkClientSAN && !settings.skipClientSANVerify {
            // A DNS SAN is resolved here on the event loop; it happens once per accepted peer
            // connection and only when no IP SAN names the address.
            return CertificateChecks.checkSAN(cert, remoteIP: remoteIP)
        }
        return nil
    }

    /// An end-entity certificate: no basic constraints, or not a CA.
    static func isLeaf(_ cert: Certificate) -> Bool {
        guard let bc = try? cert.extensions.basicConstraints else { return true }
        if case .isCertificateAuthority = bc { return false }
        return true
    }
}
