import NIOHTTP1
import XCTest
@testable import Gateway

/// etcd's access controller as decisions: host whitelist, client certificate names, CORS.
final class ClientPortAccessTests: XCTestCase {
    private func head(_ uri: String, host: String? = nil, origin: String? = nil) -> HTTPRequestHead {
        var h = HTTPRequestHead(version: .http1_1, method: .POST, uri: uri)
        if let host { h.headers.add(name: "Host", value: host) }
        if let origin { h.headers.add(name: "Origin", value: origin) }
        return h
    }

    func testHostnameIsGoSplitHostPortsHostOrTheWholeValue() {
        XCTAssertEqual(ClientPortAccess.hostname("example.com:2379"), "example.com")
        XCTAssertEqual(ClientPortAccess.hostname("example.com"), "example.com")
        XCTAssertEqual(ClientPortAccess.hostname("example.com:"), "example.com")
        XCTAssertEqual(ClientPortAccess.hostname("[::1]:2379"), "::1")
        XCTAssertEqual(ClientPortAccess.hostname("[::1]"), "[::1]", "no port: SplitHostPort fails")
        XCTAssertEqual(ClientPortAccess.hostname("::1"), "::1", "too many colons")
        XCTAssertEqual(ClientPortAccess.hostname("[a]b:1"), "[a]b:1")
        XCTAssertEqual(ClientPortAccess.hostname("a]:1"), "a]:1")
        XCTAssertEqual(ClientPortAccess.hostname(""), "")
    }

    func testHostWhitelistGuardsPlainHTTPOnly() {
        let access = ClientPortAccess(hostWhitelist: ["example.com", "127.0.0.1"])
        XCTAssertNil(access.refusal(of: head("/health", host: "example.com:2379"), tls: false, peerCommonName: nil, certificateUsers: false))
        XCTAssertNil(access.refusal(of: head("/v3/kv/range", host: "127.0.0.1"), tls: false, peerCommonName: nil, certificateUsers: false))
        XCTAssertEqual(access.refusal(of: head("/v3/kv/range", host: "evil.com:2379"), tls: false, peerCommonName: nil, certificateUsers: false),
                       .misdirected(host: "evil.com"))
        XCTAssertEqual(access.refusal(of: head("/health"), tls: false, peerCommonName: nil, certificateUsers: false),
                       .misdirected(host: ""), "no Host at all")
        XCTAssertNil(access.refusal(of: head("/v3/kv/range", host: "evil.com"), tls: true, peerCommonName: nil, certificateUsers: false),
                     "any HTTPS request is allowed")
        for anyHost in [ClientPortAccess(), ClientPortAccess(hostWhitelist: [])] {
            XCTAssertNil(anyHost.refusal(of: head("/health", host: "evil.com"), tls: false, peerCommonName: nil, certificateUsers: false))
        }
    }

    func testCertificateNamesAreRefusedUnderV3WithCertificateUsersOnly() {
        let access = ClientPortAccess()
        XCTAssertEqual(access.refusal(of: head("/v3/kv/range"), tls: true, peerCommonName: "alice", certificateUsers: true), .commonName)
        XCTAssertEqual(access.refusal(of: head("/v3beta/kv/range?x=1"), tls: true, peerCommonName: "alice", certificateUsers: true), .commonName)
        XCTAssertNil(access.refusal(of: head("/health"), tls: true, peerCommonName: "alice", certificateUsers: true))
        XCTAssertNil(access.refusal(of: head("/v3/kv/range"), tls: true, peerCommonName: "", certificateUsers: true))
        XCTAssertNil(access.refusal(of: head("/v3/kv/range"), tls: true, peerCommonName: nil, certificateUsers: true))
        XCTAssertNil(access.refusal(of: head("/v3/kv/range"), tls: true, peerCommonName: "alice", certificateUsers: false))
    }

    func testRefusalAnswersAreEtcdsText() {
        let (status, text) = ClientPortAccess.answer(.misdirected(host: "evil.com"))
        XCTAssertEqual(status, .misdirectedRequest)
        XCTAssertTrue(text.hasPrefix("\netcd received your request, but the Host header was unrecognized.\n"), text)
        XCTAssertTrue(text.contains("  - e.g. etcd --host-whitelist \"evil.com\"\n"), text)
        XCTAssertTrue(text.hasSuffix("(CVE-2018-5702).\n"), text)
        XCTAssertEqual(ClientPortAccess.answer(.commonName).0, .badRequest)
        XCTAssertEqual(ClientPortAccess.Refusal.misdirected(host: "a\"b").logLine,
                       #"rejecting HTTP request from "a\"b" to prevent DNS rebinding attacks"#)
        XCTAssertNil(ClientPortAccess.Refusal.commonName.logLine)
    }

    func testCORSNamesTheOriginWhenOnlySomeAreAllowed() {
        func allowOrigin(_ access: ClientPortAccess, _ origin: String?) -> [String] {
            var headers = HTTPHeaders()
            access.addCORS(to: &headers, origin: origin)
            return headers["Access-Control-Allow-Origin"]
        }
        XCTAssertEqual(allowOrigin(ClientPortAccess(), nil), ["*"])
        XCTAssertEqual(allowOrigin(ClientPortAccess(cors: []), "https://a.example"), ["*"])
        let some = ClientPortAccess(cors: ["https://a.example"])
        XCTAssertEqual(allowOrigin(some, "https://a.example"), ["https://a.example"])
        XCTAssertEqual(allowOrigin(some, "https://b.example"), [])
        XCTAssertEqual(allowOrigin(some, nil), [])
        var headers = HTTPHeaders()
        some.addCORS(to: &headers, origin: "https://a.example")
        XCTAssertEqual(headers["Access-Control-Allow-Methods"], ["POST, GET, OPTIONS, PUT, DELETE"])
        XCTAssertEqual(headers["Access-Control-Allow-Headers"], ["accept, content-type, authorization"])
    }
}
