/// Why a JSON document was rejected, and the byte offset where the parser saw it.
package struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    package var reason: String
    /// 0-based offset into the input.
    package var offset: Int

    package init(_ reason: String, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    package var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// Bodies larger than this are refused before parsing: the control API's
    /// requests are a few hundred bytes, and a client must not make the
    /// supervisor allocate without bound.
    package static let defaultMaxBytes = 1 << 20
    /// Arrays and objects nested deeper than this are refused: the parser
    /// recurses, and a `[[[[…` body must not overflow the supervisor's stack.
    package static let maxDepth = 64

    /// Parses one JSON text (RFC 8259), strictly: no comments, no trailing
    /// commas, no leading zeros, no lone surrogates, no invalid UTF-8, no
    /// duplicate object keys, nothing but whitespace after the value.
    package static func parse(_ bytes: [UInt8], maxBytes: Int = defaultMaxBytes) throws(JSONError) -> JSONValue {
        guard bytes.count <= maxBytes else {
            throw JSONError("document of \(bytes.count) bytes is larger than the limit of \(maxBytes)", at: maxBytes)
        }
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else {
            throw JSONError("unexpected \(parser.describeCurrent()) after the JSON value", at: parser.position)
        }
        return value
    }

    package static func parse(_ text: String, maxBytes: Int = defaultMaxBytes) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), maxBytes: maxBytes)
    }
}

/// Recursive descent over the bytes; `position` is always the next unread byte.
struct JSONParser {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    /// What is at `position`, for error messages: `'x'`, `byte 0x01` or `end of input`.
    func describeCurrent() -> String {
        guard let byte = current else { return "end of input" }
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(JSONParser.hexByte(byte))"
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        guard let byte = current else { throw JSONError("expected a value, found end of input", at: position) }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw JSONError("expected a value, found \(describeCurrent())", at: position)
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let start = position
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for byte in expected {
            guard current == byte else { throw JSONError("invalid literal, expected '\(word)'", at: start) }
            position += 1
        }
    }

    private mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= JSONValue.maxDepth else {
            throw JSONError("nesting deeper than \(JSONValue.maxDepth) levels", at: position)
        }
        position += 1  // {
        var members: [(String, JSONValue)] = []
        var seen: Set<String> = []
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw JSONError("expected a string key, found \(describeCurrent())", at: position)
            }
            let keyOffset = position
            let key = try string()
            // Two members with one name are read differently by different
            // parsers; refusing them keeps the daemon and every client agreeing.
            guard seen.insert(key).inserted else { throw JSONError("duplicate key \"\(key)\"", at: keyOffset) }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else {
                throw JSONError("expected ':' after key, found \(describeCurrent())", at: position)
            }
            position += 1
            skipWhitespace()
            members.append((key, try value(depth: depth)))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            default: throw JSONError("expected ',' or '}' in object, found \(describeCurrent())", at: position)
            }
        }
    }

    private mutating func array(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= JSONValue.maxDepth else {
            throw JSONError("nesting deeper than \(JSONValue.maxDepth) levels", at: position)
        }
        position += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            default: throw JSONError("expected ',' or ']' in array, found \(describeCurrent())", at: position)
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() throws(JSONError) -> Double {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, isDigit(first) else {
            throw JSONError("expected a digit, found \(describeCurrent())", at: position)
        }
        position += 1
        if first == UInt8(ascii: "0"), let next = current, isDigit(next) {
            throw JSONError("leading zero in number", at: start)
        }
        skipDigits()
        if current == UInt8(ascii: ".") {
            position += 1
            guard let digit = current, isDigit(digit) else {
                throw JSONError("expected a digit after '.', found \(describeCurrent())", at: position)
            }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let digit = current, isDigit(digit) else {
                throw JSONError("expected a digit in exponent, found \(describeCurrent())", at: position)
            }
            skipDigits()
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw JSONError("number \(text) is out of range", at: start)
        }
        return value
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while let byte = current, isDigit(byte) { position += 1 }
    }

    /// A string literal starting at the opening quote; validates UTF-8 as it copies.
    mutating func string() throws(JSONError) -> String {
        position += 1  // "
        var utf8: [UInt8] = []
        while true {
            guard let byte = current else { throw JSONError("unterminated string", at: position) }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try escape(into: &utf8)
            case 0..<0x20:
                throw JSONError("unescaped control character 0x\(JSONParser.hexByte(byte)) in string", at: position)
            case 0..<0x80:
                utf8.append(byte)
                position += 1
            default:
                try multiByteScalar(into: &utf8)
            }
        }
    }

    private mutating func escape(into utf8: inout [UInt8]) throws(JSONError) {
        let start = position
        position += 1  // backslash
        guard let kind = current else { throw JSONError("unterminated escape", at: start) }
        position += 1
        switch kind {
        case UInt8(ascii: "\""): utf8.append(0x22)
        case UInt8(ascii: "\\"): utf8.append(0x5C)
        case UInt8(ascii: "/"): utf8.append(0x2F)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try hexUnit(escapeStart: start)
            var scalarValue = UInt32(unit)
            if (0xD800...0xDBFF).contains(unit) {
                // A high surrogate must be followed at once by `\u` and a low one.
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                      bytes[position + 1] == UInt8(ascii: "u") else {
                    throw JSONError("high surrogate \\u\(JSONParser.hexUnit16(unit)) not followed by a low surrogate", at: start)
                }
                let lowStart = position
                position += 2
                let low = try hexUnit(escapeStart: lowStart)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw JSONError("high surrogate \\u\(JSONParser.hexUnit16(unit)) followed by \\u\(JSONParser.hexUnit16(low)), not a low surrogate", at: lowStart)
                }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(unit) {
                throw JSONError("lone low surrogate \\u\(JSONParser.hexUnit16(unit))", at: start)
            }
            // Every non-surrogate value below 0x110000 is a scalar, so this cannot fail.
            guard let scalar = Unicode.Scalar(scalarValue) else {
                throw JSONError("invalid code point", at: start)
            }
            utf8.append(contentsOf: UTF8.encode(scalar)!)
        default:
            throw JSONError("invalid escape '\\\(Character(Unicode.Scalar(kind)))'", at: start)
        }
    }

    /// The four hex digits after `\u` (position is just past the `u`).
    private mutating func hexUnit(escapeStart: Int) throws(JSONError) -> UInt16 {
        var unit: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = hexDigitValue(byte) else {
                throw JSONError("\\u escape needs four hex digits", at: escapeStart)
            }
            unit = unit << 4 | UInt16(digit)
            position += 1
        }
        return unit
    }

    private func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Copies one 2–4 byte UTF-8 sequence after checking it is well formed:
    /// right continuation bytes, not overlong, not a surrogate, not past U+10FFFF.
    private mutating func multiByteScalar(into utf8: inout [UInt8]) throws(JSONError) {
        let start = position
        let lead = bytes[start]
        let length: Int
        var lowest: UInt8 = 0x80, highest: UInt8 = 0xBF  // allowed range of the second byte
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lowest = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; highest = 0x9F
        case 0xF0: length = 4; lowest = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; highest = 0x8F
        default: throw JSONError("invalid UTF-8 byte 0x\(JSONParser.hexByte(lead))", at: start)
        }
        guard start + length <= bytes.count else { throw JSONError("truncated UTF-8 sequence", at: start) }
        for index in (start + 1)..<(start + length) {
            let byte = bytes[index]
            let (low, high) = index == start + 1 ? (lowest, highest) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= low && byte <= high else { throw JSONError("invalid UTF-8 sequence", at: start) }
        }
        utf8.append(contentsOf: bytes[start..<(start + length)])
        position += length
    }
}

extension JSONParser {
    /// `0a`: two lower-case hex digits, for error messages and `\u00XX` escapes.
    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }

    static func hexUnit16(_ unit: UInt16) -> String { hexByte(UInt8(unit >> 8)) + hexByte(UInt8(unit & 0xFF)) }
}
