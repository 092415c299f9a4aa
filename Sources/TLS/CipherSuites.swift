// --cipher-suites takes Go's crypto/tls names; BoringSSL wants OpenSSL's. Only TLS 1.2 suites are
// configurable (Go ignores the list for TLS 1.3 too).

public enum CipherSuites {
    /// Go's name (tls.CipherSuites, tls.InsecureCipherSuites and etcd's two aliases) -> the
    /// OpenSSL name BoringSSL knows. Suites BoringSSL dropped (RC4, 3DES, CBC-SHA256) are absent:
    /// naming one fails start-up instead of silently serving without it.
    static let openSSLNames: [String: String] = [
        "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
        "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
        "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
        "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    ]

    /// Go's names that BoringSSL cannot serve; etcd would accept them.
    static let unavailable: Set<String> = [
        "TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA256",
        "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    ]

    /// The BoringSSL cipher string for Go's names, in the given order; etcd's error for a name Go
    /// does not know.
    public static func openSSLCipherString(_ goNames: [String]) throws(TLSSetupError) -> String {
        var out: [String] = []
        for name in goNames {
            if let s = openSSLNames[name] {
                if !out.contains(s) { out.append(s) }
            } else if unavailable.contains(name) {
                throw TLSSetupError("TLS cipher suite \"\(name)\" is not supported by etcd-swift (BoringSSL dropped it)")
            } else {
                throw TLSSetupError("unexpected TLS cipher suite \"\(name)\"")
            }
        }
        return out.joined(separator: ":")
    }
}
