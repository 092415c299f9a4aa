import Glibc
import Prometheus

/// The process_* metrics of Prometheus' Go process collector, read from /proc when scraped.
public struct ProcessStats: Equatable, Sendable {
    public var cpuSeconds = 0.0
    public var residentBytes = 0.0
    public var virtualBytes = 0.0
    public var startTimeSeconds = 0.0
    public var openFDs = 0.0
    public var maxFDs = 0.0
    public var maxVirtualBytes = 0.0

    /// Linux reports /proc/<pid>/stat times in USER_HZ ticks, 100 on every architecture Go's procfs supports.
    static let userHZ = 100.0

    public init() {}

    /// Parses /proc/self/stat. The command name (field 2) is parenthesised and may hold spaces
    /// and parentheses, so fields are counted from the last ')'. Nil when the text is not a stat line.
    public static func parseStat(_ text: String, pageSize: Int, bootTime: Double)
        -> (cpu: Double, resident: Double, virtual: Double, start: Double)?
    {
        guard let close = text.lastIndex(of: ")") else { return nil }
        // After ')': field 3 (state) is index 0; utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 21,
              let utime = Double(fields[11]), let stime = Double(fields[12]),
              let start = Double(fields[19]), let vsize = Double(fields[20]), let rss = Double(fields[21])
        else { return nil }
        return ((utime + stime) / userHZ, rss * Double(pageSize), vsize, bootTime + start / userHZ)
    }

    /// The boot time (`btime`) from /proc/stat.
    public static func parseBootTime(_ text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingSpaces)
        }
        return nil
    }

    /// The soft limit of a /proc/self/limits row (`Max open files`, `Max address space`);
    /// "unlimited" reads as 2^64 - 1, as Go's procfs reports it.
    public static func parseLimit(_ text: String, row: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(row) {
            let rest = line.dropFirst(row.count).split(separator: " ", omittingEmptySubsequences: true)
            guard let soft = rest.first else { return nil }
            return soft == "unlimited" ? Double(UInt64.max) : Double(soft)
        }
        return nil
    }

    /// Reads the current process' numbers; a file that cannot be read leaves its fields at 0.
    public static func current() -> ProcessStats {
        var s = ProcessStats()
        let boot = readFile("/proc/stat").flatMap(parseBootTime) ?? 0
        if let stat = readFile("/proc/self/stat"),
           let p = parseStat(stat, pageSize: Int(sysconf(Int32(_SC_PAGESIZE))), bootTime: boot) {
            s.cpuSeconds = p.cpu
            s.residentBytes = p.resident
            s.virtualBytes = p.virtual
            s.startTimeSeconds = p.start
        }
        if let limits = readFile("/proc/self/limits") {
            s.maxFDs = parseLimit(limits, row: "Max open files") ?? 0
            s.maxVirtualBytes = parseLimit(limits, row: "Max address space") ?? 0
        }
        s.openFDs = Double(countEntries("/proc/self/fd"))
        return s
    }

    /// A small /proc file's text (their size reads as 0, so read until EOF).
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Entries of a directory but "." and ".." (the fd opened to list /proc/self/fd counts too,
    /// as it does for Go's collector).
    static func countEntries(_ path: String) -> Int {
        guard let dir = opendir(path) else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw[0] == 0x2E && (raw[1] == 0 || (raw[1] == 0x2E && raw[2] == 0))
            }
            if !isDot { n += 1 }
        }
        return n
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}

/// The process_* metric objects, set from `ProcessStats` when `/metrics` is scraped.
enum ProcessMeters {
    static let cpu = Meters.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
    static let resident = Meters.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
    static let virtual = Meters.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")
    static let virtualMax = Meters.gauge("process_virtual_memory_max_bytes",
                                         "Maximum amount of virtual memory available in bytes.")
    static let start = Meters.gauge("process_start_time_seconds",
                                    "Start time of the process since unix epoch in seconds.")
    static let openFDs = Meters.gauge("process_open_fds", "Number of open file descriptors.")
    static let maxFDs = Meters.gauge("process_max_fds", "Maximum number of open file descriptors.")

    static func update(_ s: ProcessStats) {
        cpu.reset()
        cpu.increment(by: max(s.cpuSeconds, 0))
        resident.set(to: s.residentBytes)
        virtual.set(to: s.virtualBytes)
        virtualMax.set(to: s.maxVirtualBytes)
        start.set(to: s.startTimeSeconds)
        openFDs.set(to: s.openFDs)
        maxFDs.set(to: s.maxFDs)
    }
}
