// etcd-fuzz: runs the FuzzTargets without libFuzzer (corpus replay, seeded mutation, seed
// generation) and, in a build with -sanitize=fuzzer -DFUZZING (tools/fuzz.sh), under libFuzzer.
import FuzzTargets
import Raft

#if canImport(Glibc)
import Glibc
#endif

#if !FUZZING
@main
#endif
struct EtcdFuzz {
    static let usage = """
        usage: etcd-fuzz list
               etcd-fuzz replay TARGET|all DIR          run every file of DIR/<target> (or DIR) through the target
               etcd-fuzz mutate TARGET|all DIR [ITERATIONS] [SEED]
                                                        seeded random mutations of the corpus (default 2000, seed 1)
               etcd-fuzz seeds DIR                      write the generated seed corpora to DIR/<target>/
        """

    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        switch args.first {
        case "list":
            for t in FuzzTargets.all { print("\(t.name)\t\(t.summary)") }
        case "replay" where args.count == 3:
            for t in targets(args[1]) { replay(t, corpus: corpusDir(args[2], t)) }
        case "mutate" where args.count >= 3:
            let iterations = args.count > 3 ? Int(args[3]) ?? 2000 : 2000
            let seed = args.count > 4 ? UInt64(args[4]) ?? 1 : 1
            for t in targets(args[1]) { mutate(t, corpus: corpusDir(args[2], t), iterations: iterations, seed: seed) }
        case "seeds" where args.count == 2:
            for t in FuzzTargets.all { writeSeeds(t, dir: args[1] + "/" + t.name) }
        default:
            fail(usage)
        }
    }

    static func targets(_ name: String) -> [FuzzTarget] {
        if name == "all" { return FuzzTargets.all }
        guard let t = FuzzTargets.named(name) else { fail("unknown target \(name); try `etcd-fuzz list`") }
        return [t]
    }

    /// DIR/<target> when it exists (a corpus root), else DIR itself.
    static func corpusDir(_ dir: String, _ t: FuzzTarget) -> String {
        isDirectory(dir + "/" + t.name) ? dir + "/" + t.name : dir
    }

    static func replay(_ t: FuzzTarget, corpus: String) {
        let files = listFiles(corpus)
        let start = now()
        for f in files {
            // Printed first so a trap names its input.
            if verbose { print("\(t.name): \(f)") }
            t.run(readFile(corpus + "/" + f))
        }
        print("\(t.name): replayed \(files.count) inputs from \(corpus) in \(elapsed(since: start))")
    }

    static func mutate(_ t: FuzzTarget, corpus: String, iterations: Int, seed: UInt64) {
        var inputs = listFiles(corpus).map { readFile(corpus + "/" + $0) }
        if inputs.isEmpty { inputs = t.seeds() }
        if inputs.isEmpty { inputs = [[]] }
        var rng = SplitMix64(seed: seed)
        let start = now()
        for i in 0..<iterations {
            let base = inputs[rng.below(inputs.count)]
            let other = inputs[rng.below(inputs.count)]
            let input = Mutator.mutate(base, other: other, rng: &rng, maxLength: max(4096, base.count + 64))
            // On a trap this line is the reproducer: the same seed replays the same inputs.
            if verbose { print("\(t.name): seed \(seed) iteration \(i) (\(input.count) bytes)") }
            if let lastInput { writeFile(lastInput, input) }
            t.run(input)
        }
        print("\(t.name): \(iterations) mutated inputs (seed \(seed)) in \(elapsed(since: start))")
    }

    static func writeSeeds(_ t: FuzzTarget, dir: String) {
        mkdir(dir, 0o755)
        for (i, s) in t.seeds().enumerated() { writeFile(dir + "/seed-\(i)", s) }
        print("\(t.name): wrote \(t.seeds().count) seeds to \(dir)")
    }

    static let verbose = getenv("FUZZ_VERBOSE") != nil
    /// FUZZ_LAST_INPUT=path: each mutated input is written there before it runs, to keep a crash's.
    static let lastInput = getenv("FUZZ_LAST_INPUT").map { String(cString: $0) }

    static func fail(_ message: String) -> Never {
        printError(message)
        exit(2)
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func listFiles(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix("."), !isDirectory(dir + "/" + name) { names.append(name) }
        }
        return names.sorted()
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) {
        guard let f = fopen(path, "wb") else { fail("cannot write \(path)") }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }

    static func readFile(_ path: String) -> [UInt8] {
        guard let bytes = readWholeFile(path) else { fail("cannot read \(path)") }
        return bytes
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func elapsed(since start: Double) -> String {
        let s = now() - start
        return s < 10 ? "\(Double(Int(s * 100)) / 100) s" : "\(Int(s)) s"
    }
}

/// Writes a line to standard error (the C `stderr` global is not concurrency-safe to name).
func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
