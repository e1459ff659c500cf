/// Byte classes of the RFC 9110 / 9112 grammar, on bytes rather than
/// Characters: parsing must not depend on Unicode grapheme rules.
package enum HTTPSyntax {
    package static let cr: UInt8 = 0x0D
    package static let lf: UInt8 = 0x0A
    package static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B

    /// tchar: the characters of a method, field name or transfer coding.
    @inline(__always)
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    /// field-vchar / SP / HTAB / obs-text: every byte except the controls
    /// (NUL, CR, LF, DEL, ...). A bare CR or NUL in a value is how header
    /// injection and request smuggling get past lenient parsers.
    @inline(__always)
    package static func isFieldValueByte(_ b: UInt8) -> Bool {
        b == tab || (b >= 0x20 && b != 0x7F)
    }

    /// A request-target byte: visible ASCII only. Non-ASCII is rejected so the
    /// target survives the String round trip byte for byte.
    @inline(__always)
    static func isTargetByte(_ b: UInt8) -> Bool {
        b >= 0x21 && b <= 0x7E
    }

    @inline(__always)
    static func isWhitespace(_ b: UInt8) -> Bool { b == space || b == tab }

    @inline(__always)
    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }

    @inline(__always)
    package static func lowercased(_ b: UInt8) -> UInt8 {
        (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
    }

    static func isToken<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        !bytes.isEmpty && bytes.allSatisfy(isTokenByte)
    }

    /// ASCII case-insensitive equality, as field names and tokens compare.
    static func equalsIgnoringCase<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
        let x = a.utf8, y = b.utf8
        guard x.count == y.count else { return false }
        return zip(x, y).allSatisfy { lowercased($0) == lowercased($1) }
    }

    /// The elements of a comma-separated list value (RFC 9110 §5.6.1),
    /// with optional whitespace trimmed and empty elements dropped. Split on
    /// bytes: a comma followed by a combining mark is still a comma here.
    static func listElements(_ value: String) -> [String] {
        value.utf8.split(separator: comma, omittingEmptySubsequences: false).compactMap { element in
            let trimmed = trimmingWhitespace(element)
            return trimmed.isEmpty ? nil : String(decoding: trimmed, as: UTF8.self)
        }
    }

    static func trimmingWhitespace<C: BidirectionalCollection>(_ bytes: C) -> C.SubSequence where C.Element == UInt8 {
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, isWhitespace(bytes[start]) { start = bytes.index(after: start) }
        while end > start {
            let before = bytes.index(before: end)
            guard isWhitespace(bytes[before]) else { break }
            end = before
        }
        return bytes[start..<end]
    }
}
