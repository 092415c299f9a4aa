import Glibc
import Storage

/// A fresh temporary directory, removed by `remove()`.
struct TestDir {
    let path: String

    init() {
        var template = Array("/tmp/storage-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }

    func remove() {
        _ = system("rm -rf '\(path)'")
    }
}

func readAll(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    var b = [UInt8](repeating: 0, count: Int(st.st_size))
    _ = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
    return b
}

func writeAt(_ path: String, _ offset: Int, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY)
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, off_t(offset)) }
}

func fileSize(_ path: String) -> Int {
    var st = stat()
    stat(path, &st)
    return Int(st.st_size)
}
