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

    /// tchar: the characters of a method, field name or transfer coding:
    /// DIGIT, ALPHA and ! # $ % & ' * + - . ^ _ ` | ~ (RFC 9110 §5.6.2), as
    /// a bitmap over ASCII (bit b of the pair), so a byte costs a shift,
    /// not a chain of comparisons.
    @inline(__always)
    static func isTokenByte(_ b: UInt8) -> Bool {
        if b < 64 { return (tokenBytesBelow64 >> UInt64(b)) & 1 != 0 }
        if b < 128 { return (tokenBytesFrom64 >> UInt64(b - 64)) & 1 != 0 }
        return false
    }

    static let tokenBytesBelow64: UInt64 = 0x03FF_6CFA_0000_0000
    static let tokenBytesFrom64: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// field-vchar / SP / HTAB / obs-text: every byte except the controls
    /// (NUL, CR, LF, DEL, ...). A bare CR or NUL in a value is how header
    /// injection and request smuggling get past lenient parsers.
    @inline(__always)
    package static func isFieldValueByte(_ b: UInt8) -> Bool {
        b == tab || (b >= 0x20 && b != 0x7F)
    }

    /// Whether every byte of `bytes[range]` is a field value byte, eight at
    /// a time: a word with no byte below 0x20 and none equal to 0x7F is
    /// all value bytes; only a word that has one (a tab, or the control
    /// byte to refuse) is looked at byte by byte.
    static func allFieldValueBytes(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        var index = range.lowerBound
        while index + 8 <= range.upperBound {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            // Some byte < 0x20, or some byte == 0x7F (zero after the xor).
            let below20 = (word &- ones &* 0x20) & ~word & highs
            let del = word ^ (ones &* 0x7F)
            let isDEL = (del &- ones) & ~del & highs
            if below20 | isDEL != 0 {
                for offset in index..<(index + 8) where !isFieldValueByte(bytes[offset]) { return false }
            }
            index += 8
        }
        while index < range.upperBound {
            if !isFieldValueByte(bytes[index]) { return false }
            index += 1
        }
        return true
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
