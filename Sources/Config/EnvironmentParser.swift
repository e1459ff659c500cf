import Glibc
// `environment = KEY="value",KEY2=value2` exactly as supervisord's
// `dict_of_key_value_pairs` reads it: Python's shlex in NON-posix mode with
// '/.+-():' added to the word characters, then tokens taken as
// KEY `=` VALUE `,` … with quotes stripped from the value. Non-posix shlex
// has odd corners (a quote inside a word does not start a quoted string,
// `#` starts a comment to the end of the line) that are kept on purpose so
// a value means here what it meant under supervisord.

package enum EnvironmentParser {
    package static func parse(_ text: String) -> Result<[String: String], ConfigValueError> {
        let tokens: [String]
        switch tokenize(text) {
        case .success(let t): tokens = t
        case .failure(let e): return .failure(e)
        }
        var result: [String: String] = [:]
        var i = 0
        while i < tokens.count {
            guard i + 2 < tokens.count, tokens[i + 1] == "=" else {
                return .failure(ConfigValueError("unexpected end of KEY=VALUE pairs in '\(text)' (quote values that contain spaces, commas or '=')"))
            }
            result[tokens[i]] = stripQuotes(tokens[i + 2])
            // Python skips the separator token without looking at it.
            i += 4
        }
        return .success(result)
    }

    /// Python's str.strip('\'"').
    static func stripQuotes(_ s: String) -> String {
        var u = Substring(s).unicodeScalars
        while let f = u.first, f == "\"" || f == "'" { u.removeFirst() }
        while let l = u.last, l == "\"" || l == "'" { u.removeLast() }
        return String(String.UnicodeScalarView(u))
    }

    static func isWordChar(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "_/.+-():".unicodeScalars.contains(c)
    }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\r" || c == "\n" }

    /// shlex.shlex(text) (posix=False) token stream.
    static func tokenize(_ text: String) -> Result<[String], ConfigValueError> {
        let chars = Array(text.unicodeScalars)
        var tokens: [String] = []
        var i = 0
        func skipLine() { while i < chars.count && chars[i] != "\n" { i += 1 }; if i < chars.count { i += 1 } }
        while i < chars.count {
            let c = chars[i]
            if isWhitespace(c) { i += 1; continue }
            if c == "#" { skipLine(); continue }
            var token = String.UnicodeScalarView()
            if c == "\"" || c == "'" {
                // Quoted: up to the same quote, which ends the token at once.
                token.append(c)
                i += 1
                while i < chars.count && chars[i] != c { token.append(chars[i]); i += 1 }
                guard i < chars.count else { return .failure(ConfigValueError("no closing quotation in '\(text)'")) }
                token.append(c)
                i += 1
            } else if isWordChar(c) {
                // A word; quote characters are simply part of it in non-posix mode.
                while i < chars.count {
                    let n = chars[i]
                    if isWhitespace(n) { break }
                    if n == "#" { skipLine(); continue }
                    if isWordChar(n) || n == "\"" || n == "'" { token.append(n); i += 1 } else { break }
                }
            } else {
                // Any other character is a token of its own (`=`, `,`, `*`, …).
                token.append(c)
                i += 1
            }
            tokens.append(String(token))
        }
        return .success(tokens)
    }
}
