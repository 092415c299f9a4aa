import Foundation
import Logging

/// Writes log lines the way etcd 3.4 does, to standard error: capnslog's
/// `2006-01-02 15:04:05.000000 I | pkg: message` (etcd's default) or, with `--logger=zap`,
/// zap's JSON `{"level":"info","ts":"...","caller":"pkg","msg":"..."}`. Tooling keys on these.
struct EtcdLogHandler: LogHandler {
    enum Format: Sendable { case capnslog, zap }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let now = Date()
        var line: String
        switch format {
        case .capnslog:
            line = "\(Self.capnsTime(now)) \(Self.capnsLevel(event.level)) | \(label): \(event.message)"
            let extra = metadata.merging(event.metadata ?? [:]) { $1 }
            if !extra.isEmpty {
                line += " " + extra.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            }
        case .zap:
            var fields = [("level", Self.zapLevel(event.level)), ("ts", Self.zapTime(now)), ("caller", label),
                          ("msg", "\(event.message)")]
            for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
                fields.append((k, "\(v)"))
            }
            line = "{" + fields.map { "\(Self.json($0.0)):\(Self.json($0.1))" }.joined(separator: ",") + "}"
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func capnsLevel(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "D"
        case .info: "I"
        case .notice: "N"
        case .warning: "W"
        case .error: "E"
        case .critical: "C"
        }
    }

    private static func zapLevel(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warn"
        case .error: "error"
        case .critical: "fatal"
        }
    }

    private static func capnsTime(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        let micros = Int((date.timeIntervalSince1970 - Double(t)) * 1_000_000)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.%06d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, micros)
    }

    private static func zapTime(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        let micros = Int((date.timeIntervalSince1970 - Double(t)) * 1_000_000)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, micros)
    }

    private static func json(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
