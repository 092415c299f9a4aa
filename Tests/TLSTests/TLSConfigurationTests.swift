import Crypto
import Foundation
import Logging
import SwiftASN1
import X509
import XCTest

@testable import TLS

final class CipherSuiteTests: XCTestCase {
    func testGoNamesMapInOrder() throws {
        let s = try CipherSuites.openSSLCipherString([
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ])
        XCTAssertEqual(s, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305")
    }

    func testAliasAndFullNameCollapse() throws {
        let s = try CipherSuites.openSSLCipherString([
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ])
        XCTAssertEqual(s, "ECDHE-ECDSA-CHACHA20-POLY1305")
    }

    func testEmptyListKeepsDefaults() throws {
        XCTAssertEqual(try CipherSuites.openSSLCipherString([]), "")
    }

    func testUnknownNameIsEtcdsError() {
        XCTAssertThrowsError(try CipherSuites.openSSLCipherString(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "bogus"])) { e in
            XCTAssertEqual((e as? TLSSetupError)?.message, "unexpected TLS cipher suite \"bogus\"")
        }
    }

    func testSuiteBoringSSLDroppedIsRefused() {
        XCTAssertThrowsError(try CipherSuites.openSSLCipherString(["TLS_RSA_WITH_RC4_128_SHA"])) { e in
            XCTAssertTrue((e as? TLSSetupError)?.message.contains("not supported by etcd-swift") ?? false)
        }
    }
}

final class RevocationListTests: XCTestCase {
    func testParsesSerialsOfDERAndPEM() throws {
        let der = try TestPKI.crl(serials: [[0x00, 0x9a, 0x01], [0x05]])
        XCTAssertEqual(try RevocationList.parse(der), [[0x9a, 0x01], [0x05]])
        let pem = PEMDocument(type: "X509 CRL", derBytes: der).pemString
        XCTAssertEqual(try RevocationList.parse(Array(pem.utf8)), [[0x9a, 0x01], [0x05]])
        let noNext = try TestPKI.crl(serials: [[0x07]], withNextUpdate: false)
        XCTAssertEqual(try RevocationList.parse(noNext), [[0x07]])
        XCTAssertEqual(try RevocationList.parse(try TestPKI.crl(serials: [])), [])
    }

    func testMalformedCRLFails() {
        XCTAssertThrowsError(try RevocationList.parse([0x30, 0x03, 0x02, 0x01]))
        XCTAssertThrowsError(try RevocationList.parse(Array("-----BEGIN X509 CRL-----\nnope\n-----END X509 CRL-----\n".utf8)))
        XCTAssertThrowsError(try RevocationList.parse([]))
    }

    func testRevokedCertificateIsRefusedOthersPass() throws {
        let pki = try TestPKI()
        let (revoked, _) = try pki.issue(cn: "a", sans: [], serial: [0x00, 0xc1, 0x02])
        let (fine, _) = try pki.issue(cn: "b", sans: [], serial: [0x11])
        let dir = TestPKI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/revoke.crl"
        FileManager.default.createFile(atPath: path, contents: Data(try TestPKI.crl(serials: [[0xc1, 0x02]])))
        let list = try RevocationList(path: path)
        XCTAssertEqual(list.check(revoked), "transport: certificate serial c102 revoked")
        XCTAssertNil(list.check(fine))
    }

    func testMissingCRLFailsAtStartUp() {
        XCTAssertThrowsError(try RevocationList(path: "/nonexistent/revoke.crl")) { e in
            XCTAssertEqual((e as? TLSSetupError)?.message, "open /nonexistent/revoke.crl: no such file or directory")
        }
    }

    /// etcd's own fixture (the CRL its e2e tests use), when the Debian sources are installed.
    func testEtcdFixtureRevokesItsRevokedServerCertificate() throws {
        let dir = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures"
        guard FileManager.default.fileExists(atPath: dir + "/revoke.crl") else { throw XCTSkip("etcd fixtures not installed") }
        let list = try RevocationList(path: dir + "/revoke.crl")
        let revoked = try Certificate(pemEncoded: String(contentsOfFile: dir + "/server-revoked.crt", encoding: .utf8))
        let fine = try Certificate(pemEncoded: String(contentsOfFile: dir + "/server.crt", encoding: .utf8))
        XCTAssertNotNil(list.check(revoked))
        XCTAssertNil(list.check(fine))
    }
}

final class CertificateCheckTests: XCTestCase {
    func testCommonNameAndAllowedCN() throws {
        let pki = try TestPKI()
        let (cert, _) = try pki.issue(cn: "example.com", sans: [.dnsName("localhost"), TestPKI.ip([127, 0, 0, 1])])
        XCTAssertEqual(CertificateChecks.commonName(cert), "example.com")
        XCTAssertNil(CertificateChecks.checkAllowed(cert, cn: "example.com", hostname: ""))
        XCTAssertEqual(CertificateChecks.checkAllowed(cert, cn: "example2.com", hostname: ""),
                       "client certificate authentication failed")
        XCTAssertNil(CertificateChecks.checkAllowed(cert, cn: "", hostname: ""))
    }

    func testHostnameMatchesLikeGo() throws {
        let pki = try TestPKI()
        let (cert, _) = try pki.issue(cn: "example.com", sans: [
            .dnsName("localhost"), .dnsName("*.etcd.local"), TestPKI.ip([127, 0, 0, 1]),
            TestPKI.ip([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ])
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "localhost"))
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "LOCALHOST."))
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "m1.etcd.local"))
        XCTAssertFalse(CertificateChecks.matchesHostname(cert, "a.m1.etcd.local"))
        XCTAssertFalse(CertificateChecks.matchesHostname(cert, "etcd.local"))
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "127.0.0.1"))
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "::1"))
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "[::1]"))
        XCTAssertFalse(CertificateChecks.matchesHostname(cert, "127.0.0.2"))
        // No common-name fallback (Go since 1.15).
        XCTAssertFalse(CertificateChecks.matchesHostname(cert, "example.com"))
        XCTAssertNil(CertificateChecks.checkAllowed(cert, cn: "", hostname: "localhost"))
        XCTAssertNotNil(CertificateChecks.checkAllowed(cert, cn: "", hostname: "example.com"))
    }

    func testClientSANMustNameTheAddress() throws {
        let pki = try TestPKI()
        let (withIP, _) = try pki.issue(cn: "x", sans: [TestPKI.ip([127, 0, 0, 1])])
        XCTAssertNil(CertificateChecks.checkSAN(withIP, remoteIP: "127.0.0.1"))
        XCTAssertNotNil(CertificateChecks.checkSAN(withIP, remoteIP: "127.0.0.2"))
        let (none, _) = try pki.issue(cn: "x", sans: [])
        XCTAssertNil(CertificateChecks.checkSAN(none, remoteIP: "10.1.2.3"))
        let (dns, _) = try pki.issue(cn: "x", sans: [.dnsName("localhost")])
        XCTAssertNil(CertificateChecks.checkSAN(dns, remoteIP: "127.0.0.1"))
        XCTAssertNotNil(CertificateChecks.checkSAN(dns, remoteIP: "10.9.9.9"))
    }

    func testLeafDetection() throws {
        let pki = try TestPKI()
        let (leaf, _) = try pki.issue(cn: "x", sans: [])
        XCTAssertTrue(PeerCertificateChecker.isLeaf(leaf))
        XCTAssertFalse(PeerCertificateChecker.isLeaf(pki.ca))
    }

    func testIPAddressForms() {
        XCTAssertEqual(IPAddress("127.0.0.1"), IPAddress("::ffff:127.0.0.1"))
        XCTAssertEqual(IPAddress("127.0.0.1")?.description, "127.0.0.1")
        XCTAssertEqual(IPAddress("::1")?.description, "::1")
        XCTAssertNil(IPAddress("localhost"))
        XCTAssertNil(IPAddress("1.2.3"))
    }
}

final class SelfSignedTests: XCTestCase {
    func testCertificateAsEtcdMakesIt() throws {
        let now = Date()
        let (certPEM, keyPEM) = try SelfSignedCertificate.make(hosts: ["127.0.0.1", "localhost", "[::1]", ""], now: now)
        let cert = try Certificate(pemEncoded: certPEM)
        XCTAssertEqual(cert.issuer, cert.subject)
        XCTAssertTrue(cert.subject.description.contains("O=etcd"))
        XCTAssertEqual(cert.notValidAfter.timeIntervalSince(cert.notValidBefore), 365 * 24 * 3600, accuracy: 2)
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "127.0.0.1"))
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "localhost"))
        XCTAssertTrue(CertificateChecks.matchesHostname(cert, "::1"))
        XCTAssertFalse(CertificateChecks.matchesHostname(cert, "10.0.0.1"))
        XCTAssertNotNil(P256.Signing.PublicKey(cert.publicKey), "not P-256")
        let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        XCTAssertEqual(Certificate.PublicKey(key.publicKey), cert.publicKey)
    }

    func testEnsureWritesOnceAndReuses() throws {
        let dir = TestPKI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try SelfSignedCertificate.ensure(dir: dir + "/fixtures/client", hosts: ["127.0.0.1"])
        XCTAssertTrue(s.selfSigned)
        let first = try String(contentsOfFile: s.certFile, encoding: .utf8)
        let mode = try FileManager.default.attributesOfItem(atPath: s.keyFile)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        let again = try SelfSignedCertificate.ensure(dir: dir + "/fixtures/client", hosts: ["127.0.0.1"])
        XCTAssertEqual(try String(contentsOfFile: again.certFile, encoding: .utf8), first)
        // The files load as a TLS endpoint.
        XCTAssertNoThrow(try TLSEndpoint(again, alpn: ["h2"], logger: Logger(label: "test")))
    }
}

final class TLSEndpointSetupTests: XCTestCase {
    func testMissingFilesAreStartUpErrors() throws {
        var s = TLSSettings()
        s.certFile = "/nonexistent/server.crt"
        s.keyFile = "/nonexistent/server.key"
        XCTAssertThrowsError(try TLSEndpoint(s, alpn: [], logger: Logger(label: "t"))) { e in
            XCTAssertEqual((e as? TLSSetupError)?.message, "open /nonexistent/server.crt: no such file or directory")
        }
        s.certFile = ""
        XCTAssertThrowsError(try TLSEndpoint(s, alpn: [], logger: Logger(label: "t"))) { e in
            XCTAssertEqual((e as? TLSSetupError)?.message,
                           "KeyFile and CertFile must both be present[key: /nonexistent/server.key, cert: ]")
        }
    }

    func testCNAndHostnameAreExclusive() throws {
        var s = TLSSettings()
        s.certFile = "a"
        s.keyFile = "b"
        s.allowedCN = "example.com"
        s.allowedHostname = "localhost"
        XCTAssertThrowsError(try TLSEndpoint(s, alpn: [], logger: Logger(label: "t"))) { e in
            XCTAssertEqual((e as? TLSSetupError)?.message,
                           "AllowedCN and AllowedHostname are mutually exclusive (cn=\"example.com\", hostname=\"localhost\")")
        }
    }

    func testUnknownCipherSuiteFailsSetup() throws {
        let dir = TestPKI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var s = try SelfSignedCertificate.ensure(dir: dir, hosts: ["127.0.0.1"])
        s.cipherSuites = ["TLS_NOPE"]
        XCTAssertThrowsError(try TLSEndpoint(s, alpn: [], logger: Logger(label: "t"))) { e in
            XCTAssertEqual((e as? TLSSetupError)?.message, "unexpected TLS cipher suite \"TLS_NOPE\"")
        }
    }

    func testGoWordingForBoringSSLErrors() {
        struct Fake: Error, CustomStringConvertible { let description: String }
        XCTAssertEqual(GoTLSText.describe(Fake(description: "error:1000045c:SSL routines:OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_UNKNOWN")),
                       "remote error: tls: bad certificate")
        XCTAssertEqual(GoTLSText.describe(Fake(description: "handshakeFailed(...HTTP_REQUEST)")),
                       "tls: first record does not look like a TLS handshake")
        XCTAssertEqual(GoTLSText.describe(Fake(description: "error:10000438:SSL routines:OPENSSL_internal:TLSV1_ALERT_INTERNAL_ERROR at x.cc:1")),
                       "remote error: tls: bad certificate")
        XCTAssertEqual(GoTLSText.describe(Fake(description: "error:1:SSL routines:OPENSSL_internal:DECODE_ERROR at x.cc:1")),
                       "tls: decode error")
        XCTAssertEqual(GoTLSText.describe(Fake(description: "something else")), "something else")
    }
}
