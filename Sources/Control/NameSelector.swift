/// Names given to `drover start|stop|restart|status|signal` and the
/// `/v1/processes/NAME/...` paths, resolved against the processes the
/// supervisor has, as supervisorctl resolves them.
package enum NameSelector {
    /// What a name is matched against: one supervised process.
    package struct Entry: Sendable, Equatable {
        package var group: String
        package var process: String
        package var program: String

        package init(group: String, process: String, program: String) {
            self.group = group
            self.process = process
            self.program = program
        }

        package var fullName: String { "\(group):\(process)" }
    }

    /// Some names matched nothing. Callers map it to their exit code (the CLI:
    /// 1 for start/stop, 4 for status) or HTTP 404.
    package struct UnknownNames: Error, Sendable, Equatable, CustomStringConvertible {
        package var names: [String]

        package init(names: [String]) { self.names = names }

        /// `no such process: 'x'`, or `no such process: 'x', 'y'`.
        package var description: String {
            "no such process: " + names.map { "'\($0)'" }.joined(separator: ", ")
        }
    }

    /// How supervisorctl shows a process: `group:process`, or just `cron`
    /// when the process has its group's name (a standalone program with one
    /// process). Both forms are accepted as input.
    package static func displayName(group: String, process: String) -> String {
        group == process ? process : group + ":" + process
    }

    /// `displayName` of a `group:process` name (anything else unchanged).
    package static func displayName(_ fullName: String) -> String {
        guard let colon = fullName.firstIndex(of: ":") else { return fullName }
        return displayName(group: String(fullName[..<colon]), process: String(fullName[fullName.index(after: colon)...]))
    }

    /// Indices into `entries` of every process the names select, ascending and
    /// without repeats (so `web web:web_00` acts on web_00 once). Each name is:
    ///
    /// - `all`: every process;
    /// - `group:process`: that one process;
    /// - `group:*` or `group`: every process of the group;
    /// - `program`: every process of that program (a program inside a
    ///   `[group:x]` is also reachable by its own name);
    /// - a bare process name such as `web_01`, when exactly one process has it
    ///   and no group or program is called that (the stdout mirror prefixes
    ///   lines with it, so people type it).
    ///
    /// Fails with every name that matched nothing, not just the first.
    package static func resolve(_ names: [String], in entries: [Entry]) -> Result<[Int], UnknownNames> {
        var selected = [Bool](repeating: false, count: entries.count)
        var unknown: [String] = []
        for name in names {
            let matches = indices(matching: name, in: entries)
            if matches.isEmpty { unknown.append(name) }
            for index in matches { selected[index] = true }
        }
        guard unknown.isEmpty else { return .failure(UnknownNames(names: unknown)) }
        return .success(selected.indices.filter { selected[$0] })
    }

    static func indices(matching name: String, in entries: [Entry]) -> [Int] {
        if name == "all" { return Array(entries.indices) }
        if let colon = name.firstIndex(of: ":") {
            let group = String(name[..<colon])
            let process = String(name[name.index(after: colon)...])
            if process == "*" { return entries.indices.filter { entries[$0].group == group } }
            return entries.indices.filter { entries[$0].group == group && entries[$0].process == process }
        }
        let whole = entries.indices.filter { entries[$0].group == name || entries[$0].program == name }
        if !whole.isEmpty { return whole }
        let byProcess = entries.indices.filter { entries[$0].process == name }
        return byProcess.count == 1 ? byProcess : []
    }
}
