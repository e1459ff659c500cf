/// Reading parts of a head in place, by byte range: the scanner and the
/// interpreters compare and split without making a String per field.
package enum HTTPHeadBytes {
    /// Whether `bytes[range]`, lowercased, is `lower` (given in lowercase).
    /// A StaticString, so the comparison reads the literal's bytes in place
    /// (a String's UTF-8 view costs a call per character).
    package static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lower: StaticString) -> Bool {
        let count = lower.utf8CodeUnitCount
        guard range.count == count else { return false }
        let expected = lower.utf8Start
        for offset in 0..<count where HTTPSyntax.lowercased(bytes[range.lowerBound + offset]) != expected[offset] {
            return false
        }
        return true
    }

    /// Whether two ranges of `bytes` are the same ignoring ASCII case (a
    /// field name against a token of Connection, both in the head).
    package static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        for offset in 0..<a.count
        where HTTPSyntax.lowercased(bytes[a.lowerBound + offset]) != HTTPSyntax.lowercased(bytes[b.lowerBound + offset]) {
            return false
        }
        return true
    }

    /// The comma-separated elements of a value, trimmed, empties dropped.
    package static func listElements(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = range.lowerBound
        var index = range.lowerBound
        while index <= range.upperBound {
            if index == range.upperBound || bytes[index] == HTTPSyntax.comma {
                var a = start, b = index
                while a < b, HTTPSyntax.isWhitespace(bytes[a]) { a += 1 }
                while b > a, HTTPSyntax.isWhitespace(bytes[b - 1]) { b -= 1 }
                if a < b { body(a..<b) }
                start = index + 1
            }
            index += 1
        }
    }

    package static func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// A literal's bytes, read in place (appending a String's UTF-8 view
    /// goes through a generic sequence copy, byte by byte).
    package static func appendLiteral(_ literal: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// CR LF (an array literal of the two would be allocated on each call).
    package static func appendCRLF(to out: inout [UInt8]) {
        out.append(HTTPSyntax.cr)
        out.append(HTTPSyntax.lf)
    }

    /// `value` as exactly 16 lowercase hex digits, without making a String.
    package static func appendHex16(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { digits in
            var rest = value
            for index in stride(from: 15, through: 0, by: -1) {
                let digit = UInt8(truncatingIfNeeded: rest & 0xF)
                digits[index] = digit < 10 ? 0x30 + digit : 0x61 + digit - 10
                rest >>= 4
            }
            out.append(contentsOf: UnsafeBufferPointer(digits))
        }
    }

    /// `value` (not negative) in decimal digits, without making a String.
    package static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = max(0, value)
        repeat {
            out.append(0x30 + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        } while divisor > 0
    }

    /// 1*DIGIT, no sign; at most 18 digits, so it cannot overflow an Int.
    package static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value = 0
        for index in range {
            let b = bytes[index]
            guard b >= 0x30, b <= 0x39 else { return nil }
            value = value * 10 + Int(b - 0x30)
        }
        return value
    }
}
