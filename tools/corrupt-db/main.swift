import EtcdProto
import Foundation
import Storage

// corrupt-db <member/snap/db>: what etcd's e2e corruptHash does to a stopped member's bbolt file,
// done to our LMDB backend: every value of the `key` bucket gets its key's and its value's first
// byte incremented, so the member's HashKV differs from its peers' at every revision.

let args = CommandLine.arguments
guard args.count == 2 else {
    FileHandle.standardError.write(Data("usage: corrupt-db <data-dir>/member/snap/db\n".utf8))
    exit(2)
}
do {
    let backend = try Backend(path: args[1])
    let changed = try backend.update { tx -> Int in
        var rows: [([UInt8], [UInt8])] = []
        try tx.forEach(.key) { key, value in
            rows.append((Array(key), Array(value)))
            return true
        }
        for (key, value) in rows {
            var kv = try Mvccpb_KeyValue(serializedBytes: value)
            if !kv.key.isEmpty { kv.key[0] &+= 1 }
            if !kv.value.isEmpty { kv.value[0] &+= 1 }
            try tx.put(.key, key, kv.serializedBytes())
        }
        return rows.count
    }
    try backend.sync()
    print("corrupted \(changed) values in the key bucket of \(args[1])")
} catch {
    FileHandle.standardError.write(Data("corrupt-db: \(error)\n".utf8))
    exit(1)
}
