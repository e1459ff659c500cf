/// One field line of a scanned head as offsets into the bytes that arrived:
/// the line (without CRLF), the name, and the value with surrounding
/// whitespace trimmed. Offsets rather than Strings so the proxy can decide
/// and forward without allocating per field.
package struct HTTPFieldRange {
    package var line: Range<Int>
    package var name: Range<Int>
    package var value: Range<Int>
    package var field: HTTPKnownField
}
