// Hand-written JSON: the worker avoids Foundation entirely (JSONEncoder and
// friends would pull ~20 MB of libFoundation into every worker's RSS), and
// the few shapes it emits and reads are simple.

/// `value` as a JSON string literal, quotes included.
func jsonString(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A non-negative-friendly fixed-point rendering (`digits` decimals) that
/// never prints exponents or `nan`, which JSON forbids.
func jsonNumber(_ value: Double, digits: Int = 3) -> String {
    guard value.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let negative = value < 0
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    var fraction = String(scaled % Int64(scale))
    fraction = String(repeating: "0", count: digits - fraction.count) + fraction
    while fraction.hasSuffix("0") { fraction.removeLast() }
    let sign = negative && scaled != 0 ? "-" : ""
    return fraction.isEmpty ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
}

enum JSONInputError: Error { case invalid(String) }

/// Extracts the string member `key` of a top-level JSON object. A small
/// recursive-descent scanner: it validates the whole document (so garbage
/// gets a 400, not a guess) but only materialises the one string we need.
func jsonStringMember(_ bytes: [UInt8], key: String) throws(JSONInputError) -> String? {
    var scanner = JSONScanner(bytes: bytes)
    scanner.skipSpace()
    guard scanner.peek() == UInt8(ascii: "{") else { throw .invalid("expected a JSON object") }
    var found: String?
    try scanner.object { name, scanner throws(JSONInputError) in
        if name == key, scanner.peek() == UInt8(ascii: "\"") {
            found = try scanner.string()
        } else {
            try scanner.value()
        }
    }
    scanner.skipSpace()
    guard scanner.atEnd else { throw .invalid("trailing data after JSON value") }
    return found
}

struct JSONScanner {
    let bytes: [UInt8]
    var index = 0
    var depth = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }
    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpace() {
        while let b = peek(), b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { index += 1 }
    }

    mutating func expect(_ char: Character) throws(JSONInputError) {
        skipSpace()
        guard peek() == char.asciiValue else { throw .invalid("expected '\(char)'") }
        index += 1
    }

    mutating func object(_ member: (String, inout JSONScanner) throws(JSONInputError) -> Void) throws(JSONInputError) {
        try expect("{")
        depth += 1
        guard depth < 64 else { throw .invalid("nesting too deep") }
        skipSpace()
        if peek() == UInt8(ascii: "}") { index += 1; depth -= 1; return }
        while true {
            skipSpace()
            let name = try string()
            try expect(":")
            skipSpace()
            try member(name, &self)
            skipSpace()
            if peek() == UInt8(ascii: ",") { index += 1; continue }
            try expect("}")
            depth -= 1
            return
        }
    }

    mutating func value() throws(JSONInputError) {
        skipSpace()
        guard let b = peek() else { throw .invalid("unexpected end of JSON") }
        switch b {
        case UInt8(ascii: "{"): try object { _, s throws(JSONInputError) in try s.value() }
        case UInt8(ascii: "["):
            index += 1
            depth += 1
            guard depth < 64 else { throw .invalid("nesting too deep") }
            skipSpace()
            if peek() == UInt8(ascii: "]") { index += 1; depth -= 1; return }
            while true {
                try value()
                skipSpace()
                if peek() == UInt8(ascii: ",") { index += 1; continue }
                try expect("]")
                depth -= 1
                return
            }
        case UInt8(ascii: "\""): _ = try string()
        default:
            // Numbers and the literals true/false/null: consume the token
            // and check its characters; exact number grammar is not needed.
            let start = index
            while let c = peek(), (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) || c == 0x2B || c == 0x2D || c == 0x2E || c == 0x45 {
                index += 1
            }
            let token = String(decoding: bytes[start..<index], as: UTF8.self)
            guard !token.isEmpty,
                  token == "true" || token == "false" || token == "null" || Double(token) != nil
            else { throw .invalid("invalid JSON value") }
        }
    }

    mutating func string() throws(JSONInputError) -> String {
        skipSpace()
        guard peek() == UInt8(ascii: "\"") else { throw .invalid("expected a string") }
        index += 1
        var out: [UInt8] = []
        while true {
            guard let b = peek() else { throw .invalid("unterminated string") }
            index += 1
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 { throw .invalid("control character in string") }
            if b != UInt8(ascii: "\\") { out.append(b); continue }
            guard let e = peek() else { throw .invalid("unterminated escape") }
            index += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), peek() == UInt8(ascii: "\\"),
                   index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") {
                    index += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw .invalid("bad surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(u).utf8))
            default: throw .invalid("bad escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func hex4() throws(JSONInputError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw .invalid("short \\u escape") }
        guard let v = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
        else { throw .invalid("bad \\u escape") }
        index += 4
        return v
    }
}
