/// Percent-decoding (RFC 3986 §2.1) for path segments and query strings of
/// the control and admin APIs, on bytes so a `%` in the middle of a multi-byte
/// character cannot split it.
package enum HTTPPercentDecoding {
    /// Decodes `%XX` escapes; nil when an escape is malformed or the result
    /// is not UTF-8, so a caller can answer 400 instead of guessing.
    /// `plusIsSpace` is for application/x-www-form-urlencoded query strings.
    package static func decode<S: StringProtocol>(_ text: S, plusIsSpace: Bool = false) -> String? {
        let utf8 = Array(text.utf8)
        guard utf8.contains(0x25) || (plusIsSpace && utf8.contains(0x2B)) else { return String(text) }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            let b = utf8[i]
            if b == 0x25 {
                guard i + 2 < utf8.count,
                      let hi = HTTPSyntax.hexValue(utf8[i + 1]),
                      let lo = HTTPSyntax.hexValue(utf8[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(plusIsSpace && b == 0x2B ? 0x20 : b)
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// `a=1&b=x%20y&flag` → [("a","1"), ("b","x y"), ("flag","")]. A part
    /// whose escapes are malformed is kept undecoded rather than dropped.
    package static func queryItems<S: StringProtocol>(_ query: S) -> [(name: String, value: String)] {
        query.split(separator: "&").map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = pieces[0]
            let value = pieces.count > 1 ? pieces[1] : ""
            return (
                name: decode(name, plusIsSpace: true) ?? String(name),
                value: decode(value, plusIsSpace: true) ?? String(value)
            )
        }
    }
}
