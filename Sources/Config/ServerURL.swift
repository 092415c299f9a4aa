import GoSyntax

// URLs as etcd reads them: Go's `net/url.Parse`, then `types.NewURLs` (scheme http/https/unix/unixs,
// "host:port", no path), plus `net.SplitHostPort` and `net.ParseIP` for the bind checks.

/// One URL from a URL-list flag (`--listen-client-urls` and friends), parsed the way etcd does.
public struct ServerURL: Sendable, Hashable, CustomStringConvertible {
    /// Lower-cased scheme: "http", "https", "unix" or "unixs" for URLs that passed `types.NewURLs`.
    public var scheme: String
    /// The authority's "host:port" exactly as written (IPv6 keeps its brackets), Go's `URL.Host`.
    public var hostPort: String
    /// Host name or address without brackets and port (Go's `URL.Hostname()`).
    public var host: String
    /// Port number; nil when the URL has none or an empty one (`http://a:`).
    public var port: Int?
    /// Path (empty for every URL that passed `types.NewURLs`).
    public var path: String
    /// Raw user info before '@', if any.
    public var userInfo: String?
    /// Raw query after '?', if any.
    public var rawQuery: String?
    /// Fragment after '#', if any.
    public var fragment: String?
    /// Opaque part of `scheme:opaque` URLs.
    public var opaque: String

    /// The URL as Go's `URL.String()` prints it; etcd compares and sorts URLs by this text.
    public var description: String {
        var out = scheme.isEmpty ? "" : scheme + ":"
        if !opaque.isEmpty {
            out += opaque
        } else {
            if !scheme.isEmpty || !hostPort.isEmpty || userInfo != nil {
                out += "//"
                if let userInfo { out += userInfo + "@" }
                out += hostPort
            }
            out += path
        }
        if let rawQuery { out += "?" + rawQuery }
        if let fragment { out += "#" + fragment }
        return out
    }

    /// Whether `host` is a literal IP address (what etcd requires of a bind URL, besides "localhost").
    public var hostIsIP: Bool { ServerURL.parseIP(host) }

    /// Go's `url.Parse`; the error text is Go's (`parse "x": ...`).
    public static func parse(_ raw: String) throws(ConfigError) -> ServerURL {
        func fail(_ why: String) -> ConfigError {
            .verify("parse \(GoSyntax.quote(raw)): \(why)")
        }
        if raw.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw fail("net/url: invalid control character in URL")
        }
        var url = ServerURL(scheme: "", hostPort: "", host: "", port: nil, path: "", userInfo: nil,
                            rawQuery: nil, fragment: nil, opaque: "")
        var rest = Substring(raw)
        if let hash = rest.firstIndex(of: "#") {
            url.fragment = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        }
        // Scheme: a letter, then letters, digits, '+', '-', '.', up to ':'.
        for (i, c) in rest.enumerated() {
            if c.isASCII && c.isLetter { continue }
            if c.isASCII && (c.isNumber || c == "+" || c == "-" || c == ".") {
                if i == 0 { break }
                continue
            }
            if c == ":" {
                if i == 0 { throw fail("missing protocol scheme") }
                url.scheme = rest.prefix(i).lowercased()
                rest = rest.dropFirst(i + 1)
            }
            break
        }
        if let q = rest.firstIndex(of: "?") {
            url.rawQuery = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        if !rest.hasPrefix("/") {
            if !url.scheme.isEmpty {
                url.opaque = String(rest)
                return url
            }
            let firstSegment = rest.prefix(while: { $0 != "/" })
            if firstSegment.contains(":") { throw fail("first path segment in URL cannot contain colon") }
        }
        if (!url.scheme.isEmpty || !rest.hasPrefix("///")) && rest.hasPrefix("//") {
            let afterSlashes = rest.dropFirst(2)
            let authority = afterSlashes.prefix(while: { $0 != "/" })
            rest = afterSlashes.dropFirst(authority.count)
            var hostPart = authority
            if let at = authority.lastIndex(of: "@") {
                url.userInfo = String(authority[..<at])
                hostPart = authority[authority.index(after: at)...]
            }
            try checkHost(hostPart, fail: fail)
            url.hostPort = String(hostPart)
            let (h, p) = splitHostPortLoosely(String(hostPart))
            url.host = h
            url.port = p.flatMap { Int($0) }
        }
        url.path = String(rest)
        return url
    }

    /// Go's `parseHost` checks: brackets, the port after the last ':', allowed characters.
    private static func checkHost(_ host: Substring, fail: (String) -> ConfigError) throws(ConfigError) {
        var portPart: Substring = ""
        if host.hasPrefix("[") {
            guard let close = host.lastIndex(of: "]") else { throw fail("missing ']' in host") }
            portPart = host[host.index(after: close)...]
            if !portPart.isEmpty && !validPort(portPart) {
                throw fail("invalid port \(GoSyntax.quote(String(portPart))) after host")
            }
        } else if let colon = host.lastIndex(of: ":") {
            portPart = host[colon...]
            if !validPort(portPart) {
                throw fail("invalid port \(GoSyntax.quote(String(portPart))) after host")
            }
        }
        let allowed = Set("!$&'()*+,;=:[]<>\"-._~%")
        for c in host where !(c.isASCII && (c.isLetter || c.isNumber)) && !allowed.contains(c) && c.isASCII {
            throw fail("invalid character \(GoSyntax.quote(String(c))) in host name")
        }
    }

    private static func validPort(_ p: Substring) -> Bool {
        guard p.first == ":" else { return false }
        return p.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
    }

    private static func splitHostPortLoosely(_ hostPort: String) -> (String, String?) {
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            let h = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            return (h, after.hasPrefix(":") && after.count > 1 ? String(after.dropFirst()) : nil)
        }
        if let colon = hostPort.lastIndex(of: ":") {
            let p = hostPort[hostPort.index(after: colon)...]
            return (String(hostPort[..<colon]), p.isEmpty ? nil : String(p))
        }
        return (hostPort, nil)
    }

    /// etcd's `types.NewURLs`: each element trimmed and parsed, checked, then sorted by text.
    static func parseList(_ items: [String]) throws(ConfigError) -> [ServerURL] {
        var out: [ServerURL] = []
        if items.isEmpty { throw .verify("no valid URLs given") }
        for item in items {
            let trimmed = item.trimmingASCIISpace()
            let u = try parse(trimmed)
            if !["http", "https", "unix", "unixs"].contains(u.scheme) {
                throw .verify("URL scheme must be http, https, unix, or unixs: \(trimmed)")
            }
            if splitHostPort(u.hostPort) == nil {
                throw .verify("URL address does not have the form \"host:port\": \(trimmed)")
            }
            if !u.path.isEmpty { throw .verify("URL must not contain a path: \(trimmed)") }
            out.append(u)
        }
        return out.sorted { $0.description < $1.description }
    }

    /// Go's `net.SplitHostPort`; nil where it fails.
    static func splitHostPort(_ hp: String) -> (host: String, port: String)? {
        let chars = Array(hp)
        guard let lastColon = chars.lastIndex(of: ":") else { return nil }
        var host: String
        var j = 0
        var k = 0
        if chars.first == "[" {
            guard let end = chars.firstIndex(of: "]") else { return nil }
            if end + 1 == chars.count { return nil }
            if end + 1 != lastColon { return nil }
            host = String(chars[1..<end])
            j = 1
            k = end + 1
        } else {
            host = String(chars[..<lastColon])
            if host.contains(":") { return nil }
        }
        if chars[j...].contains("[") { return nil }
        if chars[k...].contains("]") { return nil }
        return (host, String(chars[(lastColon + 1)...]))
    }

    /// Go's `net.ParseIP` (IPv4 dotted quad without leading zeros, or IPv6 without zone).
    static func parseIP(_ s: String) -> Bool {
        if s.contains(":") { return parseIPv6(Substring(s)) }
        return parseIPv4(Substring(s))
    }

    private static func parseIPv4(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            if p.count > 1 && p.first == "0" { return false }
            guard let v = Int(p), v <= 255 else { return false }
        }
        return true
    }

    private static func parseIPv6(_ s: Substring) -> Bool {
        var groups = 0
        var sawEllipsis = false
        var rest = s
        if rest.hasPrefix("::") {
            sawEllipsis = true
            rest = rest.dropFirst(2)
            if rest.isEmpty { return true }
        }
        while !rest.isEmpty {
            let field = rest.prefix(while: { $0 != ":" })
            if field.contains(".") {
                // an embedded IPv4 address takes the last two groups
                guard field.count == rest.count, parseIPv4(field) else { return false }
                groups += 2
                break
            }
            guard !field.isEmpty, field.count <= 4, field.allSatisfy({ $0.isHexDigit && $0.isASCII }) else {
                return false
            }
            groups += 1
            rest = rest.dropFirst(field.count)
            if rest.isEmpty { break }
            rest = rest.dropFirst()  // ':'
            if rest.hasPrefix(":") {
                if sawEllipsis { return false }
                sawEllipsis = true
                rest = rest.dropFirst()
                if rest.isEmpty { break }
            } else if rest.isEmpty {
                return false
            }
            if groups > 8 { return false }
        }
        return sawEllipsis ? groups < 8 : groups == 8
    }
}

extension String {
    /// Go's `strings.TrimSpace` for ASCII white space.
    func trimmingASCIISpace() -> String {
        let ws: Set<Character> = [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"]
        var s = Substring(self)
        while let f = s.first, ws.contains(f) { s = s.dropFirst() }
        while let l = s.last, ws.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
