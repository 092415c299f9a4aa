import API
import Config
import Logging
import TLS

// The client and peer TLS endpoints from the flags, as etcd's configureClientListeners and
// configurePeerListeners make them (auto TLS, cipher suites, the scheme checks and warnings).

enum TLSSetup {
    static func settings(_ c: TLSConfig, cipherSuites: [String]) -> TLSSettings {
        var s = TLSSettings()
        s.certFile = c.certFile
        s.keyFile = c.keyFile
        s.trustedCAFile = c.trustedCAFile
        s.clientCertAuth = c.clientCertAuth
        s.crlFile = c.crlFile
        s.allowedCN = c.allowedCN
        s.allowedHostname = c.allowedHostname
        s.skipClientSANVerify = c.skipClientSANVerify
        s.cipherSuites = cipherSuites
        return s
    }

    /// The client port's TLS, or nil when no `--listen-client-urls` entry is https.
    static func client(_ config: ServerConfig, logger: Logger) throws(TLSSetupError) -> TLSEndpoint? {
        var s = settings(config.clientTLS, cipherSuites: config.cipherSuites)
        // Go reports an unknown cipher suite before anything else, whatever the scheme.
        _ = try CipherSuites.openSSLCipherString(config.cipherSuites)
        if config.clientTLS.autoTLS {
            if s.isEmpty {
                let hosts = config.listenClientURLs.map(\.host)
                s = try SelfSignedCertificate.ensure(dir: config.dataDir + "/fixtures/client", hosts: hosts)
                s.cipherSuites = config.cipherSuites
            } else {
                logger.warning("ignoring client auto TLS since certs given")
            }
        }
        for url in config.listenClientURLs where url.scheme == "http" {
            if !s.isEmpty {
                logger.warning("The scheme of client url \(url) is HTTP while peer key/cert files are presented. Ignored key/cert files.")
            }
            if s.clientCertAuth {
                logger.warning("The scheme of client url \(url) is HTTP while client cert auth (--client-cert-auth) is enabled. Ignored client cert auth for this url.")
            }
        }
        guard let secure = config.listenClientURLs.first(where: { $0.scheme == "https" }) else { return nil }
        if s.isEmpty {
            throw TLSSetupError("TLS key/cert (--cert-file, --key-file) must be provided for client url \(secure) with HTTPS scheme")
        }
        logger.info("ClientTLS: \(s.description)")
        return try TLSEndpoint(s, alpn: ClientServer.alpn, logger: logger)
    }

    /// The peer TLS, or nil when no peer URL (listen or advertised) is https and no peer
    /// certificate is configured.
    static func peer(_ config: ServerConfig, logger: Logger) throws(TLSSetupError) -> TLSEndpoint? {
        var s = settings(config.peerTLS, cipherSuites: config.cipherSuites)
        // etcd's peer listener checks that a client certificate names the connecting address.
        s.checkClientSAN = true
        if config.peerTLS.autoTLS {
            if s.isEmpty {
                let hosts = config.listenPeerURLs.map(\.host)
                s = try SelfSignedCertificate.ensure(dir: config.dataDir + "/fixtures/peer", hosts: hosts)
                s.cipherSuites = config.cipherSuites
                s.checkClientSAN = true
            } else {
                logger.warning("ignoring peer auto TLS since certs given")
            }
        }
        for url in config.listenPeerURLs where url.scheme == "http" {
            if !s.isEmpty {
                logger.warning("The scheme of peer url \(url) is HTTP while peer key/cert files are presented. Ignored peer key/cert files.")
            }
            if s.clientCertAuth {
                logger.warning("The scheme of peer url \(url) is HTTP while client cert auth (--peer-client-cert-auth) is enabled. Ignored client cert auth for this url.")
            }
        }
        if s.isEmpty {
            if let secure = config.listenPeerURLs.first(where: { $0.scheme == "https" }) {
                throw TLSSetupError("cannot listen on TLS for \(secure.hostPort): KeyFile and CertFile are not presented")
            }
            return nil
        }
        logger.info("peerTLS: \(s.description)")
        return try TLSEndpoint(s, alpn: ["http/1.1"], logger: logger)
    }
}
