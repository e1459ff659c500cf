// Reads the main file and everything its `[include] files =` pulls in.
// supervisord reads the main file, then each include in sorted glob order,
// into one parser, so a section repeated in another file merges into the
// first (later keys win). drover does the same, and also follows [include]
// inside included files (supervisord ignores those), which makes include
// loops possible: they are an error naming the [include] line.

import Glibc

struct ConfigIncludeReader {
    let environmentValues: [String: ExpansionValue]
    var sections: [IniSection] = []
    var diags = ConfigDiagnosticList()
    /// Every file read, in the order read (the main file first): the order
    /// diagnostics are reported in.
    private(set) var files: [String] = []
    private var stack: [String] = []
    private var done: Set<String> = []

    init(environmentValues: [String: ExpansionValue]) {
        self.environmentValues = environmentValues
    }

    /// Reads `path`; `from` is the [include] entry that named it (nil for the main file).
    mutating func read(_ path: String, from include: IniEntry?) {
        let real = Self.realPath(path)
        if stack.contains(real) {
            let chain = (stack + [real]).joined(separator: " -> ")
            if let include {
                diags.error(include.file, include.line, "include", "files", "include loop: \(chain)")
            }
            return
        }
        if done.contains(real) {
            if let include {
                diags.warn(include.file, include.line, "include", "files", "\(path) is already included, read once")
            }
            return
        }
        let read = ConfigPaths.read(path)
        guard case .success(let data) = read else {
            // The diagnostic names the file already; an include names the includer.
            var reason = include == nil ? "no such file" : "no such file \(path)"
            if case .failure(let error) = read, error.errno == EFBIG {
                reason = "\(path) is larger than \(ConfigPaths.maxConfigBytes >> 20)MB; not a config file"
            } else if case .failure(let error) = read, error.errno != ENOENT {
                reason = "cannot read \(path): \(String(cString: strerror(error.errno)))"
            }
            if let include {
                diags.error(include.file, include.line, "include", "files", reason)
            } else {
                diags.error(path, 0, nil, nil, reason)
            }
            return
        }
        if files.count >= Self.maxFiles {
            if let include {
                diags.error(include.file, include.line, "include", "files", "more than \(Self.maxFiles) files included; \(path) and the rest are not read")
            }
            return
        }
        done.insert(real)
        files.append(path)
        stack.append(real)
        defer { stack.removeLast() }

        let text = String(decoding: data, as: UTF8.self)
        let file = IniParser.parse(text, path: path)
        for e in file.errors { diags.append(e, warning: false) }
        var includeSection: IniSection?
        for section in file.sections {
            if section.name == "include" { includeSection = section; continue }
            merge(section)
        }
        if let inc = includeSection { follow(inc, of: path) }
    }

    private mutating func merge(_ section: IniSection) {
        guard let i = sections.firstIndex(where: { $0.name == section.name }) else {
            sections.append(section)
            return
        }
        let first = sections[i]
        diags.warn(section.file, section.line, section.name, nil,
                   "section also defined at \(first.file):\(first.line); keys merged, later ones win (as supervisord does)")
        for e in section.entries { sections[i].set(e) }
    }

    private mutating func follow(_ include: IniSection, of path: String) {
        var reader = ConfigSectionReader(include, base: environmentValues)
        guard let (files, entry) = reader.string("files", &diags) else {
            if include["files"] == nil {
                diags.error(include.file, include.line, "include", "files", "[include] needs `files =`")
            }
            reader.reportUnused(unsupported: [:], &diags)
            return
        }
        reader.reportUnused(unsupported: [:], &diags)
        let base = ConfigSectionReader.directory(of: path)
        for pattern in files.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
            let full = pattern.hasPrefix("/") ? String(pattern) : base + "/" + pattern
            let matches = Self.glob(full)
            if matches.isEmpty {
                diags.warn(entry.file, entry.line, "include", "files", "no file matches \(full)")
                continue
            }
            for m in matches.sorted() { read(m, from: entry) }
        }
    }

    /// At most this many files in one load, the main one included.
    static let maxFiles = 1000

    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        var out: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
        }
        // supervisord's glob also returns directories, which then fail to
        // parse; drover keeps regular files only (never a device or a fifo).
        return out.filter { ConfigPaths.isRegularFile($0) }
    }

    static func realPath(_ path: String) -> String {
        guard let r = realpath(path, nil) else { return absolute(path) }
        defer { free(r) }
        return String(cString: r)
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return ConfigPaths.currentDirectory() + "/" + path
    }
}
