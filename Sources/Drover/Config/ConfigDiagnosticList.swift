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
