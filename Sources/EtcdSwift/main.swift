print("etcd-swift: not built yet")
