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

/// The word-at-a-time helpers of HTTPHeadBytes against their byte-at-a-time
/// meaning.
@Suite("HTTP head bytes, eight at a time") struct HTTPHeadBytesWordTests {
    @Test func lowercasingAWordLowersOnlyASCIICapitals() {
        for value in 0...255 {
            let b = UInt8(value)
            // The byte in every position, among neighbours that are capitals.
            for position in 0..<8 {
                var bytes = Array("QZAMHxyz".utf8)
                bytes[position] = b
                let word = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
                let lowered = withUnsafeBytes(of: HTTPHeadBytes.lowercasedASCII(word).littleEndian) { Array($0) }
                #expect(lowered == bytes.map(HTTPSyntax.lowercased), "byte \(value) at \(position)")
            }
        }
    }

    @Test func equalsLowercaseMatchesTheByteComparison() {
        let names: [StaticString] = ["te", "host", "content-length", "transfer-encoding", "x-forwarded-proto", "http/1.", "100-continue"]
        let inputs = ["TE", "tE", "Host", "HOST", "hosT", "hos", "Content-Length", "CONTENT-LENGTH", "content-lengtH",
                      "content-lengt", "Content-Lengths", "content\u{0D}length", "Transfer-Encoding", "X-Forwarded-Proto",
                      "x-forwarded-prot0", "HTTP/1.", "http/1,", "100-Continue", "100-continuE", "\u{C0}ost", "h\u{D3}st"]
        for name in names {
            let expected = name.withUTF8Buffer { Array($0) }
            for input in inputs {
                let bytes = Array(input.utf8)
                let byteWise = bytes.count == expected.count && zip(bytes, expected).allSatisfy { HTTPSyntax.lowercased($0) == $1 }
                let got = bytes.withUnsafeBytes { HTTPHeadBytes.equalsLowercase($0, 0..<bytes.count, name) }
                #expect(got == byteWise, "\(input) against \(name)")
            }
        }
    }

    @Test func hexDigitsAreStringsRadix16() {
        var generator = SystemRandomNumberGenerator()
        let values: [UInt64] = [0, 1, 0xF, 0x10, 0xDEAD_BEEF, .max, 0x0123_4567_89AB_CDEF] + (0..<200).map { _ in generator.next() }
        for value in values {
            var out: [UInt8] = []
            HTTPHeadBytes.appendHex16(value, to: &out)
            let text = String(value, radix: 16)
            #expect(String(decoding: out, as: UTF8.self) == String(repeating: "0", count: 16 - text.count) + text)
        }
    }
}
