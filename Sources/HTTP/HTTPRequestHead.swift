/// A parsed request line and header block, with the framing and
/// connection semantics already worked out by the parser.
package struct HTTPRequestHead: Sendable, Equatable {
    package var method: String
    /// Exactly as received: origin-form `/p?q`, absolute-form `http://h/p`,
    /// authority-form `h:443` or asterisk-form `*`.
    package var target: String
    package var version: HTTPVersion
    package var headers: HTTPHeaders
    package var framing: HTTPBodyFraming
    /// Whether the connection may carry another request after this one
    /// (RFC 9112 §9.3): 1.1 unless `Connection: close`; 1.0 only with
    /// `Connection: keep-alive`.
    package var keepAlive: Bool
    /// `Expect: 100-continue`: the client waits for 100 before the body.
    /// (The parser answers any other expectation with 417 itself.)
    package var expectsContinue: Bool

    package init(
        method: String, target: String, version: HTTPVersion = .http11, headers: HTTPHeaders = [:],
        framing: HTTPBodyFraming = .none, keepAlive: Bool = true, expectsContinue: Bool = false
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
    }

    /// The target in origin form (`/x?y`): absolute-form targets lose their
    /// scheme and authority, which is what goes upstream (RFC 9112 §3.2.2).
    package var originFormTarget: String {
        guard !target.hasPrefix("/"), let schemeEnd = target.firstRange(of: "://") else { return target }
        let afterAuthority = target[schemeEnd.upperBound...]
        guard let slash = afterAuthority.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        let rest = afterAuthority[slash...]
        return rest.first == "?" ? "/" + rest : String(rest)
    }

    /// The authority of an absolute-form target (`other` in `http://other/x`).
    package var absoluteFormAuthority: String? {
        guard !target.hasPrefix("/"), let schemeEnd = target.firstRange(of: "://") else { return nil }
        let afterScheme = target[schemeEnd.upperBound...]
        return String(afterScheme.prefix { $0 != "/" && $0 != "?" })
    }

    /// The target's path, before any `?`, still percent-encoded.
    package var path: String {
        let origin = originFormTarget
        return String(origin.prefix { $0 != "?" })
    }

    /// The raw query after the first `?`, or nil.
    package var query: String? {
        let origin = originFormTarget
        guard let mark = origin.firstIndex(of: "?") else { return nil }
        return String(origin[origin.index(after: mark)...])
    }

    /// Percent-decoded name/value pairs of the query (`+` is a space).
    package var queryItems: [(name: String, value: String)] {
        query.map { HTTPPercentDecoding.queryItems($0) } ?? []
    }

    /// The path split at `/` with each segment percent-decoded (so an escaped
    /// `%2F` stays inside its segment); nil when an escape is malformed.
    package var pathSegments: [String]? {
        var segments: [String] = []
        for raw in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = HTTPPercentDecoding.decode(raw) else { return nil }
            segments.append(decoded)
        }
        return segments
    }

    /// One path segment percent-decoded; nil when an escape is malformed or
    /// the result is not UTF-8.
    package static func percentDecoded<S: StringProtocol>(_ segment: S) -> String? {
        HTTPPercentDecoding.decode(segment)
    }

    package static func == (lhs: HTTPRequestHead, rhs: HTTPRequestHead) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.version == rhs.version
            && lhs.headers == rhs.headers && lhs.framing == rhs.framing
            && lhs.keepAlive == rhs.keepAlive && lhs.expectsContinue == rhs.expectsContinue
    }
}
