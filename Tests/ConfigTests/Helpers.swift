import Config
import Foundation
import XCTest

/// Parses and expects a configuration to run with.
func runConfig(_ args: [String], env: [String: String] = [:], supported: Set<String>? = nil,
               file: StaticString = #filePath, line: UInt = #line) -> ServerConfig? {
    do {
        let outcome = try ConfigParser.parse(arguments: args, environment: env,
                                             supportedFlags: supported ?? ConfigParser.defaultSupportedFlags)
        guard case .run(let cfg) = outcome else {
            XCTFail("expected .run, got \(outcome)", file: file, line: line)
            return nil
        }
        return cfg
    } catch {
        XCTFail("unexpected error: \(error.message)", file: file, line: line)
        return nil
    }
}

/// Parses and expects an error.
func configError(_ args: [String], env: [String: String] = [:],
                 file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
    do {
        let outcome = try ConfigParser.parse(arguments: args, environment: env)
        XCTFail("expected an error, got \(outcome)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Asserts the error's message, kind and exit code.
func assertError(_ args: [String], env: [String: String] = [:], _ message: String,
                 kind: ConfigError.Kind, exit: Int32, file: StaticString = #filePath, line: UInt = #line) {
    guard let e = configError(args, env: env, file: file, line: line) else { return }
    XCTAssertEqual(e.message, message, file: file, line: line)
    XCTAssertEqual(e.kind, kind, file: file, line: line)
    XCTAssertEqual(e.exitCode, exit, file: file, line: line)
}

/// A temporary YAML file, removed by the caller's tearDown via `TempFiles.removeAll()`.
final class TempFiles {
    private var paths: [String] = []
    func yaml(_ text: String) -> String {
        let path = NSTemporaryDirectory() + "etcd-swift-config-\(UUID().uuidString).yml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        paths.append(path)
        return path
    }
    func removeAll() {
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
        paths = []
    }
}

extension ServerConfig {
    var listenClient: [String] { listenClientURLs.map(\.description) }
    var advertiseClient: [String] { advertiseClientURLs.map(\.description) }
    var listenPeer: [String] { listenPeerURLs.map(\.description) }
    var advertisePeer: [String] { advertisePeerURLs.map(\.description) }
    func has(_ level: ConfigMessage.Level, _ text: String) -> Bool {
        messages.contains { $0.level == level && $0.text == text }
    }
}
