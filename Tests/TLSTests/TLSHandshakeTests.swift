import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import X509
import XCTest

@testable import TLS

/// Real handshakes on 127.0.0.1 between TLSEndpoint's server and client handlers.
final class TLSHandshakeTests: XCTestCase {
    private var dir = ""
    private var group: MultiThreadedEventLoopGroup!
    private var pki: TestPKI!

    override func setUpWithError() throws {
        dir = TestPKI.tempDir()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        pki = try TestPKI()
    }

    override func tearDown() {
        try? group.syncShutdownGracefully()
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func files(_ name: String, cn: String, serial: [UInt8] = [0x42]) throws -> (cert: String, key: String) {
        let (cert, key) = try pki.issue(cn: cn, sans: [.dnsName("localhost"), TestPKI.ip([127, 0, 0, 1])], serial: serial)
        return (TestPKI.write(try TestPKI.pem(cert), name: name + ".crt", dir: dir),
                TestPKI.write(key.pemRepresentation, name: name + ".key", dir: dir))
    }

    private func settings(_ f: (cert: String, key: String), ca: String) -> TLSSettings {
        var s = TLSSettings()
        s.certFile = f.cert
        s.keyFile = f.key
        s.trustedCAFile = ca
        return s
    }

    private func serve(_ endpoint: TLSEndpoint) throws -> Channel {
        try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try endpoint.addServerHandlers(to: channel)
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    /// What comes back for "ping": the echo, or nil when the connection failed or closed.
    private func exchange(_ endpoint: TLSEndpoint?, port: Int, payload: String = "ping") throws -> String? {
        let promise = group.next().makePromise(of: String?.self)
        let collect = Collect(promise: promise)
        let channel = try ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let endpoint { try endpoint.addClientHandler(to: channel, host: "127.0.0.1") }
                    try channel.pipeline.syncOperations.addHandler(collect)
                }
            }
            .connect(host: "127.0.0.1", port: port).wait()
        channel.writeAndFlush(ByteBuffer(string: payload), promise: nil)
        channel.eventLoop.scheduleTask(in: .seconds(10)) { collect.finish(nil) }
        let result = try promise.futureResult.wait()
        try? channel.close().wait()
        return result
    }

    func testAllowedCNAcceptsTheRightPeerOnly() throws {
        let ca = TestPKI.write(try TestPKI.pem(pki.ca), name: "ca.crt", dir: dir)
        var serverSettings = settings(try files("server", cn: "example.com"), ca: ca)
        serverSettings.clientCertAuth = true
        serverSettings.allowedCN = "example.com"
        serverSettings.checkClientSAN = true
        let server = try serve(try TLSEndpoint(serverSettings, alpn: ["http/1.1"], logger: Logger(label: "t")))
        defer { try? server.close().wait() }
        let port = server.localAddress!.port!

        let wrong = try TLSEndpoint(settings(try files("wrong", cn: "example2.com"), ca: ca), alpn: ["http/1.1"], logger: Logger(label: "t"))
        XCTAssertNil(try exchange(wrong, port: port))
        let right = try TLSEndpoint(settings(try files("right", cn: "example.com"), ca: ca), alpn: ["http/1.1"], logger: Logger(label: "t"))
        XCTAssertEqual(try exchange(right, port: port), "ping")
        // Plain text on the TLS port is closed; the listener keeps serving.
        XCTAssertNil(try exchange(nil, port: port, payload: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        XCTAssertEqual(try exchange(right, port: port), "ping")
    }

    func testUntrustedAndRevokedClientCertificatesAreRefused() throws {
        let ca = TestPKI.write(try TestPKI.pem(pki.ca), name: "ca.crt", dir: dir)
        let crl = dir + "/revoke.crl"
        FileManager.default.createFile(atPath: crl, contents: Data(try TestPKI.crl(serials: [[0x66]])))
        var serverSettings = settings(try files("server", cn: "s"), ca: ca)
        serverSettings.clientCertAuth = true
        serverSettings.crlFile = crl
        let server = try serve(try TLSEndpoint(serverSettings, alpn: ["h2", "http/1.1"], logger: Logger(label: "t")))
        defer { try? server.close().wait() }
        let port = server.localAddress!.port!

        let revoked = try TLSEndpoint(settings(try files("revoked", cn: "c", serial: [0x66]), ca: ca), alpn: [], logger: Logger(label: "t"))
        XCTAssertNil(try exchange(revoked, port: port))
        let other = try TestPKI()
        let (strangerCert, strangerKey) = try other.issue(cn: "c", sans: [TestPKI.ip([127, 0, 0, 1])])
        var strangerSettings = settings((TestPKI.write(try TestPKI.pem(strangerCert), name: "s.crt", dir: dir),
                                         TestPKI.write(strangerKey.pemRepresentation, name: "s.key", dir: dir)), ca: ca)
        strangerSettings.trustedCAFile = ca
        XCTAssertNil(try exchange(try TLSEndpoint(strangerSettings, alpn: [], logger: Logger(label: "t")), port: port))
        let good = try TLSEndpoint(settings(try files("good", cn: "c", serial: [0x67]), ca: ca), alpn: [], logger: Logger(label: "t"))
        XCTAssertEqual(try exchange(good, port: port), "ping")
    }
}

private final class Echo: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}

private final class Collect: ChannelInboundHandler, @unchecked Sendable {
    // Confined to the channel's event loop.
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<String?>
    init(promise: EventLoopPromise<String?>) { self.promise = promise }
    private var done = false
    func finish(_ s: String?) {
        if done { return }
        done = true
        promise.succeed(s)
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var b = unwrapInboundIn(data)
        finish(b.readString(length: b.readableBytes))
    }
    func channelInactive(context: ChannelHandlerContext) { finish(nil) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(nil)
        context.close(promise: nil)
    }
}
