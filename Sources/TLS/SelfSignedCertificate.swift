// --auto-tls / --peer-auto-tls: etcd's transport.SelfCert. A certificate and key under
// `<data-dir>/fixtures/{client,peer}` are reused when both exist; otherwise a new self-signed
// ECDSA certificate (organization "etcd", one year, SANs from the listen URLs' hosts) is written.
// etcd 3.4 uses P-521; we use P-256, which every TLS stack (BoringSSL's verifier included) takes.
import Crypto
import Foundation
import SwiftASN1
import X509

public enum SelfSignedCertificate {
    /// Returns settings naming `dir/cert.pem` and `dir/key.pem`, creating them when missing.
    /// `hosts` are listen URL hosts ("127.0.0.1", "localhost", "[::1]"); an IP becomes an IP SAN,
    /// anything else a DNS SAN.
    public static func ensure(dir: String, hosts: [String], now: Date = Date()) throws(TLSSetupError) -> TLSSettings {
        let certPath = dir + "/cert.pem"
        let keyPath = dir + "/key.pem"
        var settings = TLSSettings()
        settings.certFile = certPath
        settings.keyFile = keyPath
        settings.selfSigned = true
        let fm = FileManager.default
        if fm.fileExists(atPath: certPath) && fm.fileExists(atPath: keyPath) { return settings }
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let (certPEM, keyPEM) = try make(hosts: hosts, now: now)
            guard fm.createFile(atPath: certPath, contents: Data(certPEM.utf8)),
                  fm.createFile(atPath: keyPath, contents: Data(keyPEM.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw TLSSetupError("cannot write \(certPath) or \(keyPath)")
            }
        } catch let e as TLSSetupError {
            throw e
        } catch {
            throw TLSSetupError("cannot generate self-signed certificate in \(dir): \(error)")
        }
        return settings
    }

    /// A new certificate and its key, both PEM.
    public static func make(hosts: [String], now: Date = Date()) throws -> (cert: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { OrganizationName("etcd") }
        var sans: [GeneralName] = []
        for host in hosts {
            var h = host
            if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
            if let ip = IPAddress(h) {
                let bytes = ip.description.contains(":") ? ip.bytes : Array(ip.bytes.suffix(4))
                sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
            } else if !h.isEmpty {
                sans.append(.dnsName(h))
            }
        }
        var serial = [UInt8](repeating: 0, count: 16)
        for i in serial.indices { serial[i] = UInt8.random(in: 0...255) }
        serial[0] &= 0x7f
        let extensions = try Certificate.Extensions {
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            Critical(BasicConstraints.notCertificateAuthority)
            if !sans.isEmpty { SubjectAlternativeNames(sans) }
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial),
            publicKey: .init(key.publicKey), notValidBefore: now, notValidAfter: now + 365 * 24 * 3600,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: .init(key))
        return (try cert.serializeAsPEM().pemString, key.pemRepresentation)
    }
}
