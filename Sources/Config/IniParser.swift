import Glibc
// supervisord's INI dialect, reproduced line for line from Python's
// configparser.RawConfigParser as supervisord 4 configures it
// (inline_comment_prefixes=(';', '#'), strict=False, delimiters '=' and ':').
// Existing supervisord.conf files must parse exactly as they do there, so the
// quirks are kept on purpose (see the comments on each rule).

/// One `key = value` of a section, with where it was written.
package struct IniEntry: Sendable, Equatable {
    /// Lowercased, as RawConfigParser's optionxform does.
    package var key: String
    /// Raw (not yet `%`-expanded); continuation lines joined with "\n".
    package var value: String
    package var file: String
    package var line: Int
    /// The inline comment cut from the key's own line (`; b"` of
    /// `command = bash -c "a ; b"`), for messages about the value as read.
    package var cutComment: String?

    package init(key: String, value: String, file: String, line: Int, cutComment: String? = nil) {
        self.key = key
        self.value = value
        self.file = file
        self.line = line
        self.cutComment = cutComment
    }
}

/// One `[name]` section. Keys keep their first-seen order; a repeated key
/// replaces the earlier value (later wins, as with strict=False).
package struct IniSection: Sendable, Equatable {
    /// Case-sensitive, as written between the brackets.
    package var name: String
    package var file: String
    package var line: Int
    package private(set) var entries: [IniEntry] = []

    package init(name: String, file: String, line: Int) {
        self.name = name
        self.file = file
        self.line = line
    }

    package subscript(key: String) -> IniEntry? {
        entries.first { $0.key == key }
    }

    package mutating func set(_ entry: IniEntry) {
        if let i = entries.firstIndex(where: { $0.key == entry.key }) {
            entries[i] = entry
        } else {
            entries.append(entry)
        }
    }
}

/// A parsed file: its sections in file order, plus syntax errors (every one
/// of them; parsing goes on after a bad line, like RawConfigParser does).
package struct IniFile: Sendable {
    package var path: String
    package var sections: [IniSection]
    package var errors: [ConfigDiagnostic]
}

package enum IniParser {
    /// Parses `text` (the contents of `path`; `path` is only used in diagnostics).
    package static func parse(_ text: String, path: String) -> IniFile {
        var sections: [IniSection] = []
        var errors: [ConfigDiagnostic] = []
        // The value being built, as its lines; joined once the entry ends.
        var current: (section: Int, key: String, line: Int, lines: [String], comment: String?)?
        var indentLevel = 0
        var currentSection: Int?

        func flush() {
            guard let c = current else { return }
            // configparser joins with "\n" then rstrip()s: trailing blank
            // lines (and trailing whitespace) go, inner blank lines stay.
            var value = c.lines.joined(separator: "\n")
            while let last = value.unicodeScalars.last, isSpace(last) { value.unicodeScalars.removeLast() }
            sections[c.section].set(IniEntry(key: c.key, value: value, file: path, line: c.line, cutComment: c.comment))
            current = nil
        }

        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }  // a BOM is not part of the first line
        // Python reads in universal-newline mode: CRLF and lone CR end lines too.
        let rawLines = body.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, scalars) in rawLines.enumerated() {
            let lineNumber = index + 1
            var lineScalars = Array(scalars)
            if lineScalars.last == "\r" { lineScalars.removeLast() }
            if index == rawLines.count - 1 && lineScalars.isEmpty { break }

            let commentStart = commentStart(lineScalars)
            let kept = lineScalars[..<(commentStart ?? lineScalars.count)]
            let value = strip(kept)
            if value.isEmpty {
                // empty_lines_in_values: a blank line inside a value is kept,
                // unless the line held a comment (then it is just skipped).
                if commentStart == nil, current != nil {
                    current!.lines.append("")
                }
                continue
            }
            let indent = lineScalars.firstIndex { !isSpace($0) } ?? 0
            if current != nil && indent > indentLevel {
                // Continuation line: more indented than the key's own line.
                current!.lines.append(value)
                continue
            }
            indentLevel = indent
            flush()
            if value.hasPrefix("["), let close = value.lastIndex(of: "]"), close > value.index(after: value.startIndex) {
                // SECTCRE is `\[(?P<header>.+)\]` matched at the start: the
                // name runs to the last `]`; anything after it is ignored.
                let name = String(value[value.index(after: value.startIndex)..<close])
                if let existing = sections.firstIndex(where: { $0.name == name }) {
                    // strict=False: a repeated section merges into the first.
                    currentSection = existing
                } else {
                    sections.append(IniSection(name: name, file: path, line: lineNumber))
                    currentSection = sections.count - 1
                }
                continue
            }
            guard let sectionIndex = currentSection else {
                errors.append(ConfigDiagnostic(file: path, line: lineNumber,
                                               message: "text before the first [section] header: \(value)"))
                continue
            }
            // _OPT_TMPL: `(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$`, the
            // first `=` or `:` is the delimiter (so `programs:gunicorn` works).
            guard let delimiter = value.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                errors.append(ConfigDiagnostic(file: path, line: lineNumber, section: sections[sectionIndex].name,
                                               message: "line is neither `key = value` nor a [section]: \(value)"))
                continue
            }
            let key = strip(Array(value[..<delimiter].unicodeScalars)).lowercased()
            guard !key.isEmpty else {
                errors.append(ConfigDiagnostic(file: path, line: lineNumber, section: sections[sectionIndex].name,
                                               message: "missing key name before `\(value[delimiter])`"))
                continue
            }
            let first = strip(Array(value[value.index(after: delimiter)...].unicodeScalars))
            var comment: String?
            if let commentStart, commentStart > 0 {
                var view = String.UnicodeScalarView()
                view.append(contentsOf: lineScalars[commentStart...])
                comment = String(view)
            }
            current = (sectionIndex, key, lineNumber, [first], comment)
        }
        flush()
        return IniFile(path: path, sections: sections, errors: errors)
    }

    /// Where a comment starts on a raw line, if it has one. Whole-line
    /// comments start with `;` or `#` after optional whitespace; inline
    /// ones only when the `;`/`#` follows whitespace (so
    /// `nginx -g "daemon off;"` and `%(process_num)02d;` keep theirs).
    static func commentStart(_ line: [Unicode.Scalar]) -> Int? {
        if let first = line.first(where: { !isSpace($0) }), first == ";" || first == "#" { return 0 }
        for (i, c) in line.enumerated() where c == ";" || c == "#" {
            if i == 0 || isSpace(line[i - 1]) { return i }
        }
        return nil
    }

    /// Python's str.isspace for the characters that matter in config files.
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace
    }

    static func strip<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        let array = Array(scalars)
        guard let start = array.firstIndex(where: { !isSpace($0) }),
              let end = array.lastIndex(where: { !isSpace($0) }) else { return "" }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: array[start...end])
        return String(view)
    }
}
