import Glibc
// Reads the keys of one section: expands each value the way supervisord
// does (`%(here)s` is the directory of the file the key was written in),
// parses it into its type, and turns every failure into a diagnostic naming
// file, line, section and key. Remembers which keys were read so the rest
// can be reported as unknown.


struct ConfigSectionReader {
    let section: IniSection
    /// ENV_*, host_node_name and the like (everything but `here`).
    let base: [String: ExpansionValue]
    private(set) var used: Set<String> = []

    init(_ section: IniSection, base: [String: ExpansionValue]) {
        self.section = section
        self.base = base
    }

    var name: String { section.name }

    mutating func entry(_ key: String) -> IniEntry? {
        used.insert(key)
        return section[key]
    }

    /// The value of `key` expanded; nil when absent or not expandable.
    mutating func string(_ key: String, extra: [String: ExpansionValue] = [:],
                         _ diags: inout ConfigDiagnosticList) -> (value: String, entry: IniEntry)? {
        guard let e = entry(key) else { return nil }
        guard let v = expand(e, extra: extra, &diags) else { return nil }
        return (v, e)
    }

    /// Expanded and parsed; nil (with an error recorded) when bad.
    mutating func typed<T>(_ key: String, extra: [String: ExpansionValue] = [:], _ diags: inout ConfigDiagnosticList,
                           _ parse: (String) -> Result<T, ConfigValueError>) -> T? {
        guard let (v, e) = string(key, extra: extra, &diags) else { return nil }
        switch parse(v) {
        case .success(let t): return t
        case .failure(let err):
            diags.error(e.file, e.line, section.name, key, err.message)
            return nil
        }
    }

    /// An integer key, refused outside `range` (see ConfigLimits).
    mutating func int(_ key: String, extra: [String: ExpansionValue] = [:], _ diags: inout ConfigDiagnosticList,
                      _ range: ClosedRange<Int>) -> Int? {
        typed(key, extra: extra, &diags) { ConfigValues.integer($0, in: range) }
    }

    /// A size key in bytes, checked Int64 arithmetic, at most `max`.
    mutating func size(_ key: String, extra: [String: ExpansionValue] = [:], _ diags: inout ConfigDiagnosticList,
                       max: Int64 = ConfigValues.maxByteSize) -> Int? {
        typed(key, extra: extra, &diags) { ConfigValues.byteSize($0, max: max) }
    }

    /// A duration key, at most ConfigValues.maxDuration.
    mutating func duration(_ key: String, extra: [String: ExpansionValue] = [:], _ diags: inout ConfigDiagnosticList) -> Duration? {
        typed(key, extra: extra, &diags) { ConfigValues.duration($0) }
    }

    func expand(_ e: IniEntry, extra: [String: ExpansionValue], _ diags: inout ConfigDiagnosticList) -> String? {
        var values = base
        values["here"] = .string(ConfigSectionReader.directory(of: e.file))
        for (k, v) in extra { values[k] = v }
        do {
            return try PercentExpansion.expand(e.value, values)
        } catch {
            diags.error(e.file, e.line, section.name, e.key, ConfigSectionReader.describe(error, in: e.value, available: values))
            return nil
        }
    }

    /// For the sections drover skips: only `%(ENV_X)s` must resolve
    /// (supervisord would have refused the file otherwise); other names
    /// belong to features drover does not have.
    func checkEnvironmentReferences(keys: Set<String>? = nil, _ diags: inout ConfigDiagnosticList) {
        for e in section.entries where keys?.contains(e.key) ?? true {
            var values = base
            values["here"] = .string(ConfigSectionReader.directory(of: e.file))
            do {
                _ = try PercentExpansion.expand(e.value, values, ignoreMissing: { !$0.hasPrefix("ENV_") })
            } catch {
                // Non-ENV names were ignored above, so only ENV_ ones are left.
                if case .missing = error {
                    diags.error(e.file, e.line, section.name, e.key, ConfigSectionReader.describe(error, in: e.value, available: values))
                }
            }
        }
    }

    /// Keys nobody read: those supervisord knows but drover does not
    /// implement, then everything else, one warning each.
    func reportUnused(unsupported: [String: String], _ diags: inout ConfigDiagnosticList) {
        for e in section.entries where !used.contains(e.key) {
            if let why = unsupported[e.key] {
                diags.warn(e.file, e.line, section.name, e.key, "not implemented by drover, ignored (\(why))")
            } else {
                let advice = UnknownKeyAdvice.advice(for: e.key, section: section.name,
                                                     known: used.union(unsupported.keys))
                diags.warn(e.file, e.line, section.name, e.key, "unknown key, ignored" + advice)
            }
        }
    }

    static func directory(of file: String) -> String {
        ConfigPaths.directory(of: file)
    }

    static func describe(_ error: ExpansionError, in raw: String, available: [String: ExpansionValue]) -> String {
        switch error {
        case .missing(let names):
            var parts: [String] = []
            let env = names.filter { $0.hasPrefix("ENV_") }
            if !env.isEmpty {
                // Name the variable to export (X), and the reference as written.
                let variables = env.map { String($0.dropFirst(4)) }
                parts.append("environment variable\(env.count > 1 ? "s" : "") " + variables.joined(separator: ", ")
                             + (env.count > 1 ? " are" : " is") + " not set (used as "
                             + env.map { "%(\($0))s" }.joined(separator: ", ") + ")")
            }
            if names.contains("port") {
                parts.append("%(port)s is used but the program sets no `port =`")
            }
            let other = names.filter { !$0.hasPrefix("ENV_") && $0 != "port" }
            if !other.isEmpty {
                let known = available.keys.filter { !$0.hasPrefix("ENV_") }.sorted().joined(separator: ", ")
                parts.append("unknown name\(other.count > 1 ? "s" : "") " + other.map { "%(\($0))s" }.joined(separator: ", ")
                             + "; available: \(known) and ENV_*")
            }
            return parts.joined(separator: "; ")
        case .malformed(let why):
            return "bad %-format in '\(raw)': \(why) (write %% for a literal %)"
        }
    }
}
