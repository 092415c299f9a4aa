// The checks etcd makes on a verified peer certificate beyond the chain: allowed common name or
// host name (transport.TLSInfo.baseConfig), revocation by CRL serial (checkCRL) and, on the peer
// port, that the client certificate names the connecting address (checkCertSAN).
import Foundation
import SwiftASN1
import X509

public enum CertificateChecks {
    /// The certificate's subject common name ("" when it has none).
    public static func commonName(_ cert: Certificate) -> String {
        for rdn in cert.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(attribute.value) ?? ""
            }
        }
        return ""
    }

    /// Go's `x509.Certificate.VerifyHostname`: an IP address matches an IP SAN; a name matches a
    /// DNS SAN case-insensitively, `*.` matching exactly one leftmost label. No common-name fallback.
    public static func matchesHostname(_ cert: Certificate, _ host: String) -> Bool {
        let names = (try? cert.extensions.subjectAlternativeNames) ?? nil
        var h = host
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if let ip = IPAddress(h) {
            guard let names else { return false }
            for name in names {
                if case .ipAddress(let octets) = name, IPAddress(bytes: Array(octets.bytes)) == ip { return true }
            }
            return false
        }
        let wanted = h.lowercased().hasSuffix(".") ? String(h.lowercased().dropLast()) : h.lowercased()
        guard let names, !wanted.isEmpty else { return false }
        for name in names {
            guard case .dnsName(let pattern) = name else { continue }
            if matchDNS(pattern: pattern.lowercased(), host: wanted) { return true }
        }
        return false
    }

    static func matchDNS(pattern: String, host: String) -> Bool {
        var p = pattern
        if p.hasSuffix(".") { p.removeLast() }
        if p == host { return true }
        guard p.hasPrefix("*.") else { return false }
        let suffix = p.dropFirst(1)  // ".example.com"
        guard host.hasSuffix(suffix) else { return false }
        let label = host.dropLast(suffix.count)
        return !label.isEmpty && !label.contains(".")
    }

    /// etcd's `--peer-cert-allowed-cn` / `--peer-cert-allowed-hostname` check; nil when accepted.
    public static func checkAllowed(_ cert: Certificate, cn: String, hostname: String) -> String? {
        if !cn.isEmpty, commonName(cert) != cn { return "client certificate authentication failed" }
        if !hostname.isEmpty, !matchesHostname(cert, hostname) { return "client certificate authentication failed" }
        return nil
    }

    /// etcd's checkCertSAN for an inbound peer connection from `remoteIP`: a certificate without
    /// IP or DNS SANs passes; otherwise an IP SAN must be the address, or a DNS SAN must resolve
    /// to it (forward lookup; etcd also tries a reverse lookup). Blocking: call off the event loop.
    public static func checkSAN(_ cert: Certificate, remoteIP: String) -> String? {
        let names = ((try? cert.extensions.subjectAlternativeNames) ?? nil).map(Array.init) ?? []
        var ips: [IPAddress] = []
        var dns: [String] = []
        for name in names {
            switch name {
            case .ipAddress(let octets): if let ip = IPAddress(bytes: Array(octets.bytes)) { ips.append(ip) }
            case .dnsName(let d): dns.append(d)
            default: break
            }
        }
        if ips.isEmpty && dns.isEmpty { return nil }
        guard let remote = IPAddress(remoteIP) else { return "cannot parse remote address \(remoteIP)" }
        if ips.contains(remote) { return nil }
        if dns.isEmpty { return "x509: certificate is valid for \(ips.map(\.description).joined(separator: ", ")), not \(remoteIP)" }
        for name in dns where !name.hasPrefix("*.") {
            if resolve(name).contains(remote) { return nil }
        }
        return "tls: \"\(remoteIP)\" does not match any of DNSNames \(dns)"
    }

    static func resolve(_ name: String) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var out: [IPAddress] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    withUnsafeBytes(of: sin.pointee.sin_addr) { out.append(IPAddress(bytes: Array($0))!) }
                }
            } else if ai.pointee.ai_family == AF_INET6, let sa = ai.pointee.ai_addr {
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    withUnsafeBytes(of: sin.pointee.sin6_addr) { out.append(IPAddress(bytes: Array($0))!) }
                }
            }
            p = ai.pointee.ai_next
        }
        return out
    }
}

/// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped), so that 127.0.0.1 and ::ffff:127.0.0.1
/// compare equal as in Go.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: self.bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + bytes
        case 16: self.bytes = bytes
        default: return nil
        }
    }

    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(bytes: withUnsafeBytes(of: v4) { Array($0) })
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            self.init(bytes: withUnsafeBytes(of: v6) { Array($0) })
        } else {
            return nil
        }
    }

    public var description: String {
        if bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            return bytes.suffix(4).map(String.init).joined(separator: ".")
        }
        var v6 = in6_addr()
        withUnsafeMutableBytes(of: &v6) { $0.copyBytes(from: bytes) }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &v6, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
