import Glibc
// `command =` split into argv as supervisord does with Python's
// `shlex.split` (posix mode, no comments): whitespace separates words,
// '…' is literal, "…" allows \" and \\ escapes, a backslash outside quotes
// escapes the next character.
//
// One deliberate difference: a backslash followed by a newline is dropped,
// as a shell would treat it (a line continuation). configparser joins the
// indented continuation lines of `command=` with "\n", so a command written
// shell-style with trailing `\` would otherwise get an argument starting
// with a newline under shlex (e.g. "\n--bind=…"), which is never meant.

package enum CommandSplitter {
    package static func split(_ text: String) -> Result<[String], ConfigValueError> {
        let chars = Array(text.unicodeScalars)
        var words: [String] = []
        var word = String.UnicodeScalarView()
        var inWord = false
        var i = 0
        func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\r" || c == "\n" }
        while i < chars.count {
            let c = chars[i]
            if isSpace(c) {
                if inWord { words.append(String(word)); word = String.UnicodeScalarView(); inWord = false }
                i += 1
            } else if c == "\\" {
                guard i + 1 < chars.count else { return .failure(ConfigValueError("no escaped character after the final backslash")) }
                let next = chars[i + 1]
                i += 2
                if next == "\n" { continue }  // line continuation (see above)
                if next == "\r", i < chars.count, chars[i] == "\n" { i += 1; continue }
                word.append(next)
                inWord = true
            } else if c == "'" {
                inWord = true
                i += 1
                while i < chars.count && chars[i] != "'" { word.append(chars[i]); i += 1 }
                guard i < chars.count else { return .failure(ConfigValueError("no closing quotation (')")) }
                i += 1
            } else if c == "\"" {
                inWord = true
                i += 1
                while i < chars.count && chars[i] != "\"" {
                    if chars[i] == "\\", i + 1 < chars.count, chars[i + 1] == "\"" || chars[i + 1] == "\\" {
                        word.append(chars[i + 1]); i += 2
                    } else {
                        word.append(chars[i]); i += 1
                    }
                }
                guard i < chars.count else { return .failure(ConfigValueError("no closing quotation (\")")) }
                i += 1
            } else {
                word.append(c)
                inWord = true
                i += 1
            }
        }
        if inWord { words.append(String(word)) }
        return .success(words)
    }
}
