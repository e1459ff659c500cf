/// Reading parts of a head in place, by byte range: the scanner and the
/// interpreters compare and split without making a String per field.
package enum HTTPHeadBytes {
    /// Whether `bytes[range]`, lowercased, is `lower` (given in lowercase).
    /// A StaticString, so the comparison reads the literal's bytes in place
    /// (a String's UTF-8 view costs a call per character), eight at a time.
    package static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lower: StaticString) -> Bool {
        let count = lower.utf8CodeUnitCount
        guard range.count == count, let base = bytes.baseAddress else { return count == 0 && range.isEmpty }
        let input = base + range.lowerBound
        let expected = UnsafeRawPointer(lower.utf8Start)
        var offset = 0
        while offset + 8 <= count {
            let word = UInt64(littleEndian: input.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            if lowercasedASCII(word) != UInt64(littleEndian: expected.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) {
                return false
            }
            offset += 8
        }
        while offset < count {
            if HTTPSyntax.lowercased(input.load(fromByteOffset: offset, as: UInt8.self))
                != expected.load(fromByteOffset: offset, as: UInt8.self) { return false }
            offset += 1
        }
        return true
    }

    /// Eight bytes with each ASCII capital made lowercase, every other byte
    /// (0x80 and up included) unchanged: the capitals are the bytes whose
    /// low seven bits are at least 0x41 and below 0x5B and whose top bit is
    /// clear; adding 0x3F and 0x25 to the seven bits sets the top bit at
    /// those bounds without a carry into the next byte.
    @inline(__always)
    static func lowercasedASCII(_ word: UInt64) -> UInt64 {
        let sevenBits = word & 0x7F7F_7F7F_7F7F_7F7F
        let atLeastA = sevenBits &+ 0x3F3F_3F3F_3F3F_3F3F
        let pastZ = sevenBits &+ 0x2525_2525_2525_2525
        let capitals = atLeastA & ~pastZ & ~word & 0x8080_8080_8080_8080
        return word | (capitals >> 2)
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

    /// `value` as exactly 16 lowercase hex digits, without making a String
    /// (nor a loop per digit: each half's eight nibbles are spread into the
    /// bytes of a word and turned into digits together).
    package static func appendHex16(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2) { words in
            words[0] = hexDigits(UInt32(truncatingIfNeeded: value >> 32)).bigEndian
            words[1] = hexDigits(UInt32(truncatingIfNeeded: value)).bigEndian
            out.append(contentsOf: UnsafeRawBufferPointer(words))
        }
    }

    /// The eight hex digits of `half`, most significant in the top byte.
    @inline(__always)
    static func hexDigits(_ half: UInt32) -> UInt64 {
        var x = UInt64(half)
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F
        // 10...15 carry into bit 4 when 6 is added: those bytes get 'a' - '0' - 10 more.
        let letters = ((x &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        return x &+ 0x3030_3030_3030_3030 &+ letters &* 0x27
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
