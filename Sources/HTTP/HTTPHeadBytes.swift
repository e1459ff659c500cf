/// Reading parts of a head in place, by byte range: the scanner and the
/// interpreters compare and split without making a String per field.
package enum HTTPHeadBytes {
    package static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lower: String) -> Bool {
        var index = range.lowerBound
        for expected in lower.utf8 {
            guard index < range.upperBound else { return false }
            if HTTPSyntax.lowercased(bytes[index]) != expected { return false }
            index += 1
        }
        return index == range.upperBound
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
