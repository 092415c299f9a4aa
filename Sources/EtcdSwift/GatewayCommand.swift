import Config
import Foundation
import Logging
import NIOCore
import NIOPosix
import TCPProxy

/// `etcd-swift gateway start ...`: etcd's L4 gateway. Never returns.
func runGatewayCommand(_ arguments: [String]) async -> Never {
    let config: GatewayConfig
    switch GatewayConfig.parse(arguments) {
    case .success(let c):
        config = c
    case .failure(let failure):
        if failure.isHelp {
            print(failure.message, terminator: "")
            exit(0)
        }
        FileHandle.standardError.write(Data((failure.message + "\n").utf8))
        exit(1)
    }
    // etcd's gateway logs with zap's production JSON.
    LoggingSystem.bootstrap { label in EtcdLogHandler(label: label, format: .zap, logLevel: .info) }
    let logger = Logger(label: "tcpproxy")
    let endpoints = config.endpoints.compactMap(GatewayConfig.split)
    let (host, port) = GatewayConfig.split(config.listenAddr)!
    let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
    let proxy = TCPProxy(endpoints: endpoints, retryDelay: config.retryDelay, logger: logger)
    do {
        let listener = try await proxy.listen(host: host, port: port, group: group)
        SystemdNotify.ready()
        try await listener.closeFuture.get()
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("listen tcp \(config.listenAddr): \(error)\n".utf8))
        exit(1)
    }
}
