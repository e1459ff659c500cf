/// One field line of a scanned head as offsets into the bytes that arrived:
/// the line (without CRLF), the name, and the value with surrounding
/// whitespace trimmed. Offsets rather than Strings so the proxy can decide
/// and forward without allocating per field.
struct HTTPFieldRange {
    var line: Range<Int>
    var name: Range<Int>
    var value: Range<Int>
    var field: HTTPKnownField
}
