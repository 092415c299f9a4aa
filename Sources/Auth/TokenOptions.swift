/// Builds the token provider `--auth-token` names (etcd's NewTokenProvider): "simple" (the
/// default), "jwt,<k>=<v>,..." or "" (no tokens).
public func makeTokenProvider(_ spec: String, simpleTTL: Duration) throws(AuthError) -> any TokenProvider {
    let parts = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    var options: [String: String] = [:]
    for part in parts.dropFirst() {
        let pair = part.split(separator: "=", omittingEmptySubsequences: false)
        guard pair.count == 2 else { throw .invalidAuthOptions("auth: invalid auth options") }
        let name = String(pair[0])
        if options[name] != nil { throw .invalidAuthOptions("auth: invalid auth options") }
        options[name] = String(pair[1])
    }
    switch parts.first ?? "" {
    case "simple": return SimpleTokenProvider(ttl: simpleTTL)
    case "jwt": return try JWTTokenProvider(options: options)
    case "": return NopTokenProvider()
    default: throw .invalidAuthOptions("auth: invalid auth options")
    }
}
