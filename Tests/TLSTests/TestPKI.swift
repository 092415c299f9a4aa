import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway CA issuing leaf certificates, and CRLs in DER built by hand, for the tests.
struct TestPKI {
    let caKey = P256.Signing.PrivateKey()
    let ca: Certificate
    let caName: DistinguishedName

    init() throws {
        caName = try DistinguishedName { CommonName("test ca") }
        let now = Date()
        ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86400, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try .init {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            }, issuerPrivateKey: .init(caKey))
    }

    func issue(cn: String, sans: [GeneralName], serial: [UInt8] = [0x01, 0x23]) throws -> (Certificate, P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: .init(bytes: serial), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86400, issuer: caName,
            subject: try DistinguishedName { CommonName(cn) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try .init {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                if !sans.isEmpty { SubjectAlternativeNames(sans) }
            }, issuerPrivateKey: .init(caKey))
        return (cert, key)
    }

    static func ip(_ bytes: [UInt8]) -> GeneralName { .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))) }

    /// A CertificateList (RFC 5280) listing `serials`; signature bytes are filler (never checked).
    static func crl(serials: [[UInt8]], withNextUpdate: Bool = true) throws -> [UInt8] {
        var s = DER.Serializer()
        func time(_ c: inout DER.Serializer) throws {
            try c.appendPrimitiveNode(identifier: .utcTime) { $0.append(contentsOf: Array("250101000000Z".utf8)) }
        }
        func algorithm(_ c: inout DER.Serializer) throws {
            try c.appendConstructedNode(identifier: .sequence) { alg in
                try alg.serialize(try ASN1ObjectIdentifier(elements: [1, 2, 840, 10045, 4, 3, 2]))
            }
        }
        try s.appendConstructedNode(identifier: .sequence) { list in
            try list.appendConstructedNode(identifier: .sequence) { tbs in
                try tbs.appendPrimitiveNode(identifier: .integer) { $0.append(1) }
                try algorithm(&tbs)
                try tbs.appendConstructedNode(identifier: .sequence) { _ in }
                try time(&tbs)
                if withNextUpdate { try time(&tbs) }
                if !serials.isEmpty {
                    try tbs.appendConstructedNode(identifier: .sequence) { revoked in
                        for serial in serials {
                            try revoked.appendConstructedNode(identifier: .sequence) { entry in
                                try entry.appendPrimitiveNode(identifier: .integer) { $0.append(contentsOf: serial) }
                                try time(&entry)
                            }
                        }
                    }
                }
            }
            try algorithm(&list)
            try list.appendPrimitiveNode(identifier: .bitString) { $0.append(contentsOf: [0, 1, 2, 3]) }
        }
        return s.serializedBytes
    }

    static func pem(_ cert: Certificate) throws -> String { try cert.serializeAsPEM().pemString }

    /// Writes `text` to a fresh file under a temporary directory; returns its path.
    static func write(_ text: String, name: String, dir: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    static func tempDir() -> String {
        let dir = NSTemporaryDirectory() + "tls-tests-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
