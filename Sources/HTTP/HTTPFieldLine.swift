/// One `name: value` line of a header or trailer block (RFC 9112 §5).
enum HTTPFieldLine {
    /// Splits and validates a line (without CRLF). Strict where leniency is a
    /// smuggling vector: no obs-fold, no whitespace before the colon, no
    /// control characters in the value.
    static func parse(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPHeaders.Field {
        guard let first = line.first else { throw .badRequest("empty field line") }
        if HTTPSyntax.isWhitespace(first) {
            throw .badRequest("obsolete line folding (field line starts with whitespace)")
        }
        var index = line.startIndex
        while index < line.endIndex, HTTPSyntax.isTokenByte(line[index]) { index += 1 }
        guard index < line.endIndex else { throw .badRequest("field line without a colon") }
        switch line[index] {
        case HTTPSyntax.colon: break
        case HTTPSyntax.space, HTTPSyntax.tab: throw .badRequest("whitespace between field name and colon")
        default: throw .badRequest("invalid character in field name")
        }
        guard index > line.startIndex else { throw .badRequest("empty field name") }
        let name = line[line.startIndex..<index]
        let value = HTTPSyntax.trimmingWhitespace(line[(index + 1)...])
        guard value.allSatisfy(HTTPSyntax.isFieldValueByte) else {
            throw .badRequest("control character in field value")
        }
        return (name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }
}
