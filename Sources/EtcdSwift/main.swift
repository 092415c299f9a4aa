import API
import Config
import EtcdDataDir
import EtcdMetrics
import Gateway
import Foundation
import Logging
import NIOCore
import NIOPosix
import Server
import TLS

// etcd-swift: parse etcd's flags, start one member, serve clients until SIGTERM / SIGINT.

// `etcd-swift gateway start`: etcd's L4 gateway instead of a member.
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "gateway" {
    await runGatewayCommand(Array(CommandLine.arguments.dropFirst(2)))
}

let parsed: ParseOutcome
do {
    parsed = try ConfigParser.parse(arguments: Array(CommandLine.arguments.dropFirst()),
                                    environment: ProcessInfo.processInfo.environment)
} catch {
    let text = switch error.kind {
    case .usage: error.message + "\n" + ConfigParser.usage
    case .verify: error.verifyingLine + "\n"
    case .fatal: error.message + "\n"
    }
    FileHandle.standardError.write(Data(text.utf8))
    exit(error.exitCode)
}

let config: ServerConfig
switch parsed {
case .help(let text):
    print(text)
    exit(0)
case .version(let text):
    print(text)
    exit(0)
case .run(let c):
    config = c
}

let format: EtcdLogHandler.Format = config.logging.logger == "zap" ? .zap : .capnslog
// etcd 3.4's --debug: debug logging, with its warnings on standard error.
if config.logging.debug {
    FileHandle.standardError.write(Data("[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead\n".utf8))
    if config.logging.level != "debug" {
        FileHandle.standardError.write(Data("[WARNING] Deprecated '--debug' flag is set to true with inconsistent '--log-level=\(config.logging.level)' flag\n".utf8))
    }
}
let level: Logger.Level = switch config.logging.debug ? "debug" : config.logging.level {
case "debug": .debug
case "warn": .warning
case "error": .error
case "panic", "fatal": .critical
default: .info
}
LoggingSystem.bootstrap { label in EtcdLogHandler(label: label, format: format, logLevel: level) }
Meters.bootstrap()
let mainLog = Logger(label: "etcdmain")
let embedLog = Logger(label: "embed")

mainLog.info("etcd Version: \(ServerNode.version)")
mainLog.info("Git SHA: etcd-swift")
mainLog.info("Go Version: swift6")
mainLog.info("Go OS/Arch: linux/amd64")
for message in config.messages {
    if message.level == .warning { mainLog.warning("\(message.text)") } else { mainLog.info("\(message.text)") }
}
for flag in config.unsupported {
    mainLog.warning("flag --\(flag) is not supported yet by etcd-swift; it is ignored")
}
embedLog.info("name = \(config.name)")
if config.forceNewCluster { embedLog.info("force new cluster") }
embedLog.info("data dir = \(config.dataDir)")
embedLog.info("member dir = \(config.memberDir)")
embedLog.info("heartbeat = \(config.heartbeatIntervalMs)ms")
embedLog.info("election = \(config.electionTimeoutMs)ms")
embedLog.info("snapshot count = \(config.snapshotCount)")
embedLog.info("advertise client URLs = \(config.advertiseClientURLs.map(\.description).joined(separator: ","))")

// etcd checks the initial cluster only when the member has no WAL yet (a new member).
if !FileManager.default.fileExists(atPath: config.walDirectory) {
    do {
        try config.verifyBootstrap()
    } catch {
        mainLog.critical("\(error.message)")
        exit(1)
    }
}

// Certificates are read before the member starts, so a bad file fails start-up as in etcd.
let clientTLS: TLSEndpoint?
let peerTLS: TLSEndpoint?
do {
    peerTLS = try TLSSetup.peer(config, logger: embedLog)
    clientTLS = try TLSSetup.client(config, logger: embedLog)
} catch {
    mainLog.critical("\(error.message)")
    exit(1)
}

var options = ServerOptions()
options.name = config.name
options.dataDir = config.dataDir
options.clusterToken = config.effectiveClusterToken
options.initialCluster = InitialCluster.parse(config.initialCluster)
options.advertisePeerURLs = config.advertisePeerURLs.map(\.description)
options.advertiseClientURLs = config.advertiseClientURLs.map(\.description)
options.maxTxnOps = config.maxTxnOps
options.maxRequestBytes = config.maxRequestBytes
options.maxConcurrentStreams = UInt32(clamping: config.maxConcurrentStreams)
options.quotaBackendBytes = config.quotaBackendBytes
options.snapshotCount = config.snapshotCount
options.heartbeatMs = config.heartbeatIntervalMs
options.electionTimeoutMs = config.electionTimeoutMs
options.strictReconfigCheck = config.strictReconfigCheck
options.joinExisting = !config.isNewCluster
options.peerTLS = peerTLS
options.authToken = config.authToken
options.authTokenTTL = config.authTokenTTL
options.bcryptCost = config.bcryptCost
options.corruptCheckInterval = config.experimental.corruptCheckTime
options.preVote = config.preVote
options.initialElectionTickAdvance = config.initialElectionTickAdvance
options.forceNewCluster = config.forceNewCluster
options.maxWALs = Int(clamping: config.maxWALs)
options.unsafeNoFsync = config.unsafeNoFsync
options.grpcKeepaliveMinTime = config.grpcKeepAliveMinTime
options.grpcKeepaliveInterval = config.grpcKeepAliveInterval
options.grpcKeepaliveTimeout = config.grpcKeepAliveTimeout
if config.experimental.watchProgressNotifyInterval > .zero {
    let minimum = Duration.milliseconds(100)
    if config.experimental.watchProgressNotifyInterval < minimum {
        Logger(label: "etcdserver/api/v3rpc").warning("adjusting watch progress notify interval to minimum period 100ms")
    }
    options.watchProgressNotifyInterval = max(config.experimental.watchProgressNotifyInterval, minimum)
}
// A data dir real etcd 3.4 wrote is converted once, before anything reads it (etcd's files stay).
if EtcdImport.needed(dataDir: options.dataDir) {
    let importLog = Logger(label: "etcdserver")
    importLog.info("found etcd 3.4's data in \(options.dataDir)/member; importing it into \(options.dataDir)/member/\(MemberLayout.importedName)")
    do {
        let summary = try EtcdImport.run(dataDir: options.dataDir)
        importLog.info("imported etcd's data: \(summary)")
    } catch {
        importLog.critical("failed to import etcd's data dir \(options.dataDir): \(error)")
        exit(1)
    }
}
// etcd checks a member that has data only (a new member has nothing to compare yet).
let hadData = ServerNode.hasLog(dataDir: options.dataDir)
options.extensiveMetrics = config.metrics == "extensive"
options.clientCertAuth = config.clientTLS.clientCertAuth

if options.joinExisting && !ServerNode.hasLog(dataDir: options.dataDir) {
    guard let existing = await ServerNode.fetchExistingCluster(options: options, peerTLS: peerTLS) else {
        mainLog.critical("failed to start member: cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs")
        exit(1)
    }
    options.existingCluster = existing
}

// Auto compaction's retention is read as etcd's StartEtcd reads it; a bad one stops the start.
let autoCompaction: AutoCompaction?
do {
    switch try config.autoCompactionRetentionValue() {
    case .period(let period) where period > .zero:
        // A config file may leave the mode out; etcd then has no compactor for a duration.
        guard config.autoCompactionMode == "periodic" else {
            mainLog.critical("unsupported compaction mode \(config.autoCompactionMode)")
            exit(1)
        }
        autoCompaction = .periodic(period)
    case .revisions(let count) where count > 0: autoCompaction = .revisions(Int64(count))
    default: autoCompaction = nil
    }
} catch {
    mainLog.critical("\(error.message)")
    exit(1)
}

let node: ServerNode
do {
    node = try ServerNode(options: options, logger: Logger(label: "etcdserver"))
} catch {
    mainLog.critical("failed to start member: \(error)")
    exit(1)
}

if config.experimental.initialCorruptCheck && hadData {
    do {
        try await node.checkInitialHashKV()
    } catch {
        if case .internal(let message) = error { mainLog.critical("\(message)") } else { mainLog.critical("\(error)") }
        exit(1)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let clients = ClientServer(node: node, logger: embedLog,
                           access: ClientPortAccess(cors: config.cors, hostWhitelist: config.hostWhitelist))
for url in config.listenClientURLs {
    guard url.scheme == "http" || url.scheme == "https" else {
        mainLog.critical("listen-client-urls \(url): unix sockets are not supported by etcd-swift")
        exit(1)
    }
    do {
        try await clients.listen(host: url.host, port: url.port ?? 2379, group: group,
                                 tls: url.scheme == "https" ? clientTLS : nil)
    } catch {
        mainLog.critical("listen tcp \(url.hostPort): \(error)")
        exit(1)
    }
}
let metricsServer = MetricsServer(node: node)
for url in config.listenMetricsURLs {
    guard url.scheme == "http" else {
        mainLog.critical("listen-metrics-urls \(url): only http is supported yet")
        exit(1)
    }
    do {
        try await metricsServer.listen(host: url.host, port: url.port ?? 2381, group: group)
    } catch {
        mainLog.critical("listen tcp \(url.hostPort): \(error)")
        exit(1)
    }
}
do {
    try await node.start(listenPeerURLs: config.listenPeerURLs.map(\.description), peerTLS: peerTLS)
} catch {
    mainLog.critical("failed to start the peer listeners on \(config.listenPeerURLs.map(\.description)): \(error)")
    exit(1)
}
await node.waitPublished()
embedLog.info("ready to serve client requests")
for url in config.listenClientURLs {
    if url.scheme == "https" {
        embedLog.info("serving client requests on \(url.hostPort)")
    } else {
        embedLog.notice("serving insecure client requests on \(url.hostPort), this is strongly discouraged!")
    }
}
SystemdNotify.ready()
let compactor = autoCompaction.flatMap { AutoCompactor.start($0, node: node) }

// Graceful shutdown on SIGTERM / SIGINT, as etcd's osutil handler does.
let stopRequested = AsyncStream<Int32> { continuation in
    let sources = [SIGTERM, SIGINT].map { sig in
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { continuation.yield(sig) }
        source.resume()
        return source
    }
    nonisolated(unsafe) let keep = sources
    continuation.onTermination = { _ in keep.forEach { $0.cancel() } }
    // A member removed from the cluster stops as etcd's does (and exits 0).
    node.onRemoved.withLock { $0 = { continuation.yield(0) } }
}
for await sig in stopRequested {
    if sig != 0 {
        Logger(label: "pkg/osutil").notice("received \(sig == SIGTERM ? "terminated" : "interrupt") signal, shutting down...")
    }
    break
}
compactor?.stop()
await node.shutdown()
await clients.shutdown()
await metricsServer.shutdown()
try? await group.shutdownGracefully()
exit(0)
