import Glibc
// supervisord's `expand()`: Python's `value % expansions` with a dict, so
// `%(name)s`, `%(process_num)02d`, flags, width, precision and `%%` all mean
// what they mean in an existing supervisord.conf.

/// A value available to `%(name)…` in a config value.
package enum ExpansionValue: Sendable, Equatable {
    case string(String)
    case int(Int)
}

package enum ExpansionError: Error, Sendable, Equatable {
    /// `%(name)…` names nothing in the dictionary: every such name of the
    /// value, in order, so one message can list all unset variables.
    case missing([String])
    /// Not a valid Python format string (`%h`, a trailing `%`, `%d` of text…).
    case malformed(String)
}

package enum PercentExpansion {
    /// Expands `text` against `values`. With `ignoreMissing`, unknown names
    /// for which the predicate is true are left as written (used for the
    /// sections drover skips, where only `%(ENV_X)s` must still resolve).
    package static func expand(_ text: String, _ values: [String: ExpansionValue],
                              ignoreMissing: (String) -> Bool = { _ in false }) throws(ExpansionError) -> String {
        guard text.contains("%") else { return text }
        let chars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        var missing: [String] = []
        while i < chars.count {
            let c = chars[i]
            guard c == "%" else { out.append(c); i += 1; continue }
            let specStart = i
            i += 1
            guard i < chars.count else { throw .malformed("incomplete format at the end of \"\(text)\"") }
            if chars[i] == "%" { out.append("%"); i += 1; continue }
            guard chars[i] == "(" else {
                // Python: a bare `%s` needs a tuple, which a dict is not.
                throw .malformed("`%\(chars[i])` is not `%(name)s`; write `%%` for a literal %")
            }
            // The key runs to the matching `)` (Python counts nested parens).
            var depth = 1
            var j = i + 1
            while j < chars.count && depth > 0 {
                if chars[j] == "(" { depth += 1 } else if chars[j] == ")" { depth -= 1 }
                if depth > 0 { j += 1 }
            }
            guard j < chars.count else { throw .malformed("incomplete format key in \"\(text)\"") }
            var nameView = String.UnicodeScalarView()
            nameView.append(contentsOf: chars[(i + 1)..<j])
            let name = String(nameView)
            i = j + 1
            var flags = Set<Unicode.Scalar>()
            while i < chars.count, "-+ #0".unicodeScalars.contains(chars[i]) { flags.insert(chars[i]); i += 1 }
            // Width and precision are bounded: Python would build a string
            // of that size; here a huge one is a refused value, not an
            // overflow or a gigabyte allocation.
            var width = 0
            while i < chars.count, let d = digit(chars[i]) {
                width = width * 10 + d; i += 1
                if width > maxWidth { throw .malformed("width in %(\(name))… is larger than \(maxWidth)") }
            }
            var precision: Int?
            if i < chars.count, chars[i] == "." {
                i += 1
                var p = 0
                while i < chars.count, let d = digit(chars[i]) {
                    p = p * 10 + d; i += 1
                    if p > maxWidth { throw .malformed("precision in %(\(name))… is larger than \(maxWidth)") }
                }
                precision = p
            }
            // Python accepts (and ignores) a length modifier.
            while i < chars.count, "hlL".unicodeScalars.contains(chars[i]) { i += 1 }
            guard i < chars.count else { throw .malformed("incomplete format in \"\(text)\"") }
            let conversion = chars[i]
            i += 1
            guard let value = values[name] else {
                if ignoreMissing(name) {
                    out.append(contentsOf: chars[specStart..<i])
                    continue
                }
                if !missing.contains(name) { missing.append(name) }
                continue
            }
            let formatted = try format(value, conversion: conversion, flags: flags, width: width,
                                       precision: precision, name: name)
            out.append(contentsOf: formatted.unicodeScalars)
        }
        if !missing.isEmpty { throw .missing(missing) }
        return String(out)
    }

    /// The largest width or precision of a `%(name)…` format.
    package static let maxWidth = 4096

    static func digit(_ c: Unicode.Scalar) -> Int? {
        c.value >= 48 && c.value <= 57 ? Int(c.value - 48) : nil
    }

    static func format(_ value: ExpansionValue, conversion: Unicode.Scalar, flags: Set<Unicode.Scalar>,
                       width: Int, precision: Int?, name: String) throws(ExpansionError) -> String {
        var body: String
        switch conversion {
        case "s", "r", "a":
            switch value {
            case .string(let s): body = conversion == "s" ? s : "'\(s)'"
            case .int(let n): body = String(n)
            }
            if let precision { body = String(body.prefix(precision)) }
        case "d", "i", "u", "x", "X", "o":
            guard case .int(let n) = value else {
                throw .malformed("%(\(name))\(conversion) needs a number, but \(name) is text")
            }
            let radix = conversion == "x" || conversion == "X" ? 16 : conversion == "o" ? 8 : 10
            var digits = String(n.magnitude, radix: radix, uppercase: conversion == "X")
            if let precision, digits.count < precision {
                digits = String(repeating: "0", count: precision - digits.count) + digits
            }
            if flags.contains("#") && radix != 10 { digits = (radix == 16 ? "0\(conversion)" : "0o") + digits }
            let sign = n < 0 ? "-" : flags.contains("+") ? "+" : flags.contains(" ") ? " " : ""
            if flags.contains("0") && !flags.contains("-") && sign.count + digits.count < width {
                digits = String(repeating: "0", count: width - sign.count - digits.count) + digits
            }
            body = sign + digits
        default:
            throw .malformed("unsupported format character '\(conversion)' in %(\(name))\(conversion)")
        }
        if body.count < width {
            let pad = String(repeating: " ", count: width - body.count)
            body = flags.contains("-") ? body + pad : pad + body
        }
        return body
    }
}
