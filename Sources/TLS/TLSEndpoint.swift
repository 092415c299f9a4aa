// One side's TLS, ready to use: the server and client contexts built from etcd's settings as
// transport.TLSInfo.ServerConfig / ClientConfig build them, and the handlers that put them on a
// channel with etcd's extra certificate checks.
import Foundation
import Logging
import NIOCore
import NIOSSL
import X509

public final class TLSEndpoint: Sendable {
    public let settings: TLSSettings
    let serverContext: NIOSSLContext
    let clientContext: NIOSSLContext
    let crl: RevocationList?
    let logger: Logger

    /// Reads the certificate, key, CA and CRL files now: a bad file fails start-up with etcd's kind
    /// of message, never a connection later. `alpn` is what the server offers (and the client asks).
    public init(_ settings: TLSSettings, alpn: [String], logger: Logger) throws(TLSSetupError) {
        guard !settings.certFile.isEmpty, !settings.keyFile.isEmpty else {
            throw TLSSetupError("KeyFile and CertFile must both be present[key: \(settings.keyFile), cert: \(settings.certFile)]")
        }
        if !settings.allowedCN.isEmpty && !settings.allowedHostname.isEmpty {
            throw TLSSetupError("AllowedCN and AllowedHostname are mutually exclusive (cn=\"\(settings.allowedCN)\", hostname=\"\(settings.allowedHostname)\")")
        }
        self.settings = settings
        self.logger = logger
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(settings.certFile)
            guard !chain.isEmpty else { throw TLSSetupError("tls: failed to find any PEM data in certificate input") }
        } catch let e as TLSSetupError {
            throw e
        } catch {
            throw Self.fileError(settings.certFile, "certificate", error)
        }
        do {
            key = try NIOSSLPrivateKey(file: settings.keyFile, format: .pem)
        } catch {
            throw Self.fileError(settings.keyFile, "private key", error)
        }
        var roots: NIOSSLTrustRoots = .default
        if !settings.trustedCAFile.isEmpty {
            do {
                let cas = try NIOSSLCertificate.fromPEMFile(settings.trustedCAFile)
                guard !cas.isEmpty else { throw TLSSetupError("failed to append certificates from \(settings.trustedCAFile)") }
                roots = .certificates(cas)
            } catch let e as TLSSetupError {
                throw e
            } catch {
                throw Self.fileError(settings.trustedCAFile, "CA certificate", error)
            }
        }
        let ciphers = try CipherSuites.openSSLCipherString(settings.cipherSuites)
        crl = settings.crlFile.isEmpty ? nil : try RevocationList(path: settings.crlFile)

        var server = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        server.minimumTLSVersion = .tlsv12
        server.applicationProtocols = alpn
        server.trustRoots = roots
        // etcd: a trusted CA file alone already makes the server require client certificates.
        server.certificateVerification = settings.requiresClientCertificate ? .noHostnameVerification : .none
        if !ciphers.isEmpty { server.cipherSuites = ciphers }

        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = chain.map { .certificate($0) }
        client.privateKey = .privateKey(key)
        client.minimumTLSVersion = .tlsv12
        client.applicationProtocols = alpn.filter { $0 != "h2" }
        client.trustRoots = roots
        // A self-signed (auto TLS) member cannot be verified by its peers (etcd: InsecureSkipVerify).
        client.certificateVerification = settings.selfSigned ? .none : .fullVerification
        if !ciphers.isEmpty { client.cipherSuites = ciphers }
        do {
            serverContext = try NIOSSLContext(configuration: server)
            clientContext = try NIOSSLContext(configuration: client)
        } catch {
            throw TLSSetupError("tls: \(GoTLSText.describe(error))")
        }
    }

    static func fileError(_ path: String, _ what: String, _ error: any Error) -> TLSSetupError {
        if !FileManager.default.fileExists(atPath: path) {
            return TLSSetupError("open \(path): no such file or directory")
        }
        return TLSSetupError("tls: failed to load \(what) from \(path): \(error)")
    }

    /// Whether certificates need checks beyond BoringSSL's chain verification.
    private var serverChecks: Bool {
        settings.requiresClientCertificate
            && (!settings.allowedCN.isEmpty || !settings.allowedHostname.isEmpty || crl != nil
                || (settings.checkClientSAN && !settings.skipClientSANVerify))
    }

    /// Adds the TLS server handler, then a handler that logs a refused handshake as etcd does
    /// ("rejected connection from ...") and closes the connection. Call on the channel's loop.
    public func addServerHandlers(to channel: Channel) throws {
        let rejection = RejectionNote()
        let handler: NIOSSLServerHandler
        if serverChecks {
            let remote = channel.remoteAddress?.ipAddress ?? ""
            let checker = PeerCertificateChecker(settings: settings, crl: crl, remoteIP: remote, server: true)
            handler = try Self.serverHandler(context: serverContext) { result, cert in
                let outcome = checker.check(preverified: result, cert)
                if case .failed = outcome, rejection.reason == nil { rejection.reason = checker.lastReason }
                return outcome
            }
        } else {
            handler = NIOSSLServerHandler(context: serverContext)
        }
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.pipeline.syncOperations.addHandler(
            HandshakeFailureLogger(logger: logger, rejection: rejection))
    }

    /// Adds the TLS client handler for a connection to `host` (SNI and name check for a DNS name;
    /// an IP address is checked against the certificate's IP SANs). Call on the channel's loop.
    public func addClientHandler(to channel: Channel, host: String) throws {
        let sni: String? = IPAddress(host) == nil && !host.isEmpty ? host : nil
        let handler: NIOSSLClientHandler
        if !settings.allowedCN.isEmpty || !settings.allowedHostname.isEmpty, !settings.selfSigned {
            let checker = PeerCertificateChecker(settings: settings, crl: nil, remoteIP: "", server: false)
            handler = try Self.clientHandler(context: clientContext, host: sni) { result, cert in
                checker.check(preverified: result, cert)
            }
        } else {
            handler = try NIOSSLClientHandler(context: clientContext, serverHostname: sni)
        }
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    // BoringSSL's per-certificate callback (deprecated in NIOSSL, not removed) keeps BoringSSL's
    // chain verification and makes BoringSSL send a fatal alert when we refuse, as Go's
    // VerifyPeerCertificate does; the replacement callback would make us verify chains ourselves.
    private static func serverHandler(context: NIOSSLContext,
                                      _ callback: @escaping NIOSSLVerificationCallback) throws -> NIOSSLServerHandler {
        try NIOSSLServerHandler(context: context, verificationCallback: callback)
    }

    private static func clientHandler(context: NIOSSLContext, host: String?,
                                      _ callback: @escaping NIOSSLVerificationCallback) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: host, verificationCallback: callback)
    }
}

extension TLSEndpoint {
    /// The common name of the client certificate BoringSSL verified on `channel` (etcd's
    /// AuthInfoFromTLS reads the first verified chain's leaf); nil on a plain connection, without
    /// a client certificate. An empty name is kept: etcd then denies as for an unknown user.
    /// Call on the channel's loop.
    public static func verifiedPeerCommonName(of channel: Channel) -> String? {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: NIOSSLHandler.self),
              let peer = handler.peerCertificate,
              let der = try? peer.toDERBytes(),
              let cert = try? Certificate(derEncoded: der)
        else { return nil }
        return CertificateChecks.commonName(cert)
    }

    /// Whether `channel` is served over TLS. Call on the channel's loop.
    public static func isTLS(_ channel: Channel) -> Bool {
        (try? channel.pipeline.syncOperations.handler(type: NIOSSLHandler.self)) != nil
    }
}
