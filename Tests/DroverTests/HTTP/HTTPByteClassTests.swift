import Testing
@testable import HTTP

/// The byte classes the head scanner reads with, against the grammar
/// written out byte by byte: the bitmap and the eight-at-a-time check
/// must say exactly what the RFC's lists say, for every byte.
@Suite("HTTP byte classes") struct HTTPByteClassTests {
    /// tchar (RFC 9110 §5.6.2).
    static func isTchar(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    @Test func tokenBitmapIsTheTcharList() {
        for value in 0...255 {
            let b = UInt8(value)
            #expect(HTTPSyntax.isTokenByte(b) == Self.isTchar(b), "byte \(value)")
        }
    }

    /// Every position of a bad byte in values of every length up to 40,
    /// and every byte value at one position: the word-at-a-time check
    /// agrees with the byte-at-a-time one.
    @Test func fieldValueCheckAgreesByteByByte() {
        func check(_ value: [UInt8], from start: Int = 0) {
            let expected = value[start...].allSatisfy(HTTPSyntax.isFieldValueByte)
            let got = value.withUnsafeBytes { HTTPSyntax.allFieldValueBytes($0, start..<value.count) }
            #expect(got == expected, "\(value) from \(start)")
        }
        let fill = Array("abc def\tghi~".utf8)
        for length in 0...40 {
            let clean = (0..<length).map { fill[$0 % fill.count] }
            check(clean)
            for position in 0..<length {
                for bad: UInt8 in [0x00, 0x0A, 0x0D, 0x1F, 0x7F] {
                    var value = clean
                    value[position] = bad
                    check(value)
                    check(value, from: min(position, 3))
                }
            }
        }
        for value in 0...255 {
            var bytes = Array("0123456789abcdef".utf8)
            bytes[9] = UInt8(value)
            check(bytes)
        }
    }
}
