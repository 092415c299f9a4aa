// The libFuzzer entry points, compiled only in the fuzz build (tools/fuzz.sh:
// -sanitize=fuzzer -DFUZZING). SwiftPM links an executable's entry as `<module>_main`, which
// would clash with libFuzzer's own main; so the fuzz build defines that symbol itself and hands
// control to libFuzzer's driver. FUZZ_TARGET names the target to run.
#if FUZZING
import FuzzTargets

#if canImport(Glibc)
import Glibc
#endif

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

nonisolated(unsafe) private var selected: FuzzTarget?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let target = selected ?? chooseTarget()
    target.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

private func chooseTarget() -> FuzzTarget {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    if name == "list" {  // for tools/fuzz.sh all
        for t in FuzzTargets.all { print(t.name) }
        exit(0)
    }
    guard let t = FuzzTargets.named(name) else {
        printError("set FUZZ_TARGET to one of: \(FuzzTargets.all.map(\.name).joined(separator: " "))")
        exit(2)
    }
    selected = t
    return t
}

@_cdecl("EtcdFuzz_main")
public func etcdFuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    _ = chooseTarget()
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzTestOneInput)
}
#endif
