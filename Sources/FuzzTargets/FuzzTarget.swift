// The fuzz targets: one function per decoder that reads bytes from the network or from files a
// peer or an operator hands us. A target must return normally on every input; a trap, a crash or
// a hang is a bug in the decoder it drives. Run by `etcd-fuzz` (corpus replay, seeded mutation,
// or libFuzzer when built with -sanitize=fuzzer; see tools/fuzz.sh and docs/DESIGN.md).

/// One named target.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    public let run: @Sendable ([UInt8]) -> Void
    /// Seed inputs made with the project's own encoders (written by `etcd-fuzz seeds`).
    public let seeds: @Sendable () -> [[UInt8]]

    public init(name: String, summary: String, run: @escaping @Sendable ([UInt8]) -> Void,
                seeds: @escaping @Sendable () -> [[UInt8]]) {
        self.name = name
        self.summary = summary
        self.run = run
        self.seeds = seeds
    }
}

public enum FuzzTargets {
    public static let all: [FuzzTarget] = [
        grpcFraming, protoRequests, gatewayJSON, clientPort,
        peerMessageStream, peerMsgAppV2, peerPipeline, peerHTTP,
        bboltFile, etcdWAL, etcdSnap,
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// Reads a fuzz input as a small program: control bytes from the front, the payload after. Past
/// the end it yields zeros, so every input is valid.
struct InputReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    var rest: ArraySlice<UInt8> { bytes[min(index, bytes.count)...] }
}

/// Splits `bytes` into chunks whose sizes come from `sizes` (cycled; 0 means "all the rest"), so a
/// streaming decoder sees the same bytes cut at many places.
func chunks(_ bytes: ArraySlice<UInt8>, sizes: UInt8) -> [ArraySlice<UInt8>] {
    let step = Int(sizes)
    guard step > 0 else { return [bytes] }
    var out: [ArraySlice<UInt8>] = []
    var i = bytes.startIndex
    var n = 0
    while i < bytes.endIndex {
        // Sizes 1...step, varying, so cuts fall both inside and between frames.
        let size = 1 + (n * 7 + step) % step
        let j = min(i + size, bytes.endIndex)
        out.append(bytes[i..<j])
        i = j
        n += 1
    }
    return out
}
