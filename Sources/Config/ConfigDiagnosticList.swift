import Glibc
// Collects every error and warning of one load, so `drover check` can show
// them all at once instead of one per run.

struct ConfigDiagnosticList: Sendable {
    var errors: [ConfigDiagnostic] = []
    var warnings: [ConfigDiagnostic] = []
    private var seen: Set<String> = []

    mutating func error(_ file: String, _ line: Int, _ section: String?, _ key: String?, _ message: String) {
        append(ConfigDiagnostic(file: file, line: line, section: section, key: key, message: message), warning: false)
    }

    mutating func warn(_ file: String, _ line: Int, _ section: String?, _ key: String?, _ message: String) {
        append(ConfigDiagnostic(file: file, line: line, section: section, key: key, message: message), warning: true)
    }

    mutating func append(_ d: ConfigDiagnostic, warning: Bool) {
        // The same problem reached twice (e.g. through two processes of one
        // pool) is reported once.
        let id = (warning ? "w " : "e ") + d.description
        guard seen.insert(id).inserted else { return }
        if warning { warnings.append(d) } else { errors.append(d) }
    }

    mutating func merge(_ other: ConfigDiagnosticList) {
        for e in other.errors { append(e, warning: false) }
        for w in other.warnings { append(w, warning: true) }
    }
}

extension [ConfigDiagnostic] {
    /// Sorted by the position of their file in `files` (files not listed
    /// last, by name) then by line; equal positions keep their order.
    func inFileOrder(_ files: [String]) -> [ConfigDiagnostic] {
        var rank: [String: Int] = [:]
        for (i, f) in files.enumerated() where rank[f] == nil { rank[f] = i }
        return enumerated().sorted { a, b in
            let ra = rank[a.element.file] ?? files.count, rb = rank[b.element.file] ?? files.count
            if ra != rb { return ra < rb }
            if ra == files.count && a.element.file != b.element.file { return a.element.file < b.element.file }
            if a.element.line != b.element.line { return a.element.line < b.element.line }
            return a.offset < b.offset
        }.map(\.element)
    }
}
