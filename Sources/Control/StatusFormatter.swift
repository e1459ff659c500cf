import JSON
import System

/// One line of `drover status`: what the CLI needs, whether it comes from a
/// snapshot in-process or from the `/v1/status` JSON over the socket.
package struct StatusRow: Sendable, Equatable {
    /// As supervisorctl shows it: `web:web_00`, and `cron` for a program
    /// whose only process has the program's name (not `cron:cron`).
    package var name: String
    package var state: String
    package var description: String
    /// What the rows are sorted by: supervisorctl lists groups by name, then
    /// the processes of each by name.
    package var group: String
    package var process: String

    package init(name: String, state: String, description: String) {
        let parts = name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        self.init(group: parts[0], process: parts.count > 1 ? parts[1] : parts[0], state: state, description: description)
    }

    package init(group: String, process: String, state: String, description: String) {
        self.name = NameSelector.displayName(group: group, process: process)
        self.group = group
        self.process = process
        self.state = state
        self.description = description
    }

    package init(_ process: ProcessSnapshot) {
        self.init(group: process.group, process: process.process, state: process.state.rawValue, description: process.description)
    }

    /// From one element of `/v1/status`'s `processes`: its `group`,
    /// `process` (else `name`), `state` and `description` (the daemon words
    /// the description, so the CLI and the API agree and exit times are in
    /// the daemon's local time).
    package init?(json: JSONValue) {
        guard let state = json["state"]?.stringValue else { return nil }
        let description = json["description"]?.stringValue ?? ""
        if let group = json["group"]?.stringValue, let process = json["process"]?.stringValue {
            self.init(group: group, process: process, state: state, description: description)
        } else if let name = json["name"]?.stringValue {
            self.init(name: name, state: state, description: description)
        } else {
            return nil
        }
    }
}

/// `drover status` output, as supervisorctl 4 prints it:
///
///     cron                             RUNNING   pid 4120, uptime 0:12:03
///     web:web_00                       RUNNING   pid 4121, uptime 0:12:03, ready, 1 in flight
///     web:web_01                       BACKOFF   exited with 1 at Dec 07 07:25 PM: boom, retry in 2.0s
///
/// The name column is as wide as the longest name (at least 30) plus three
/// spaces; the state column is ten wide (`STOPPING` plus two), so
/// descriptions line up and a script that cuts columns cuts the same ones.
package enum StatusFormatter {
    package static let stateColumnWidth = 10
    package static let nameColumnGap = 3
    package static let nameColumnMinimum = 30

    package static func lines(_ rows: [StatusRow]) -> [String] {
        let nameWidth = max(nameColumnMinimum, rows.map(\.name.count).max() ?? 0) + nameColumnGap
        return rows.map { row in
            let line = padded(row.name, to: nameWidth) + padded(row.state, to: stateColumnWidth) + row.description
            return trimmingTrailingSpaces(line)
        }
    }

    package static func lines(_ processes: [ProcessSnapshot]) -> [String] {
        lines(processes.map(StatusRow.init))
    }

    /// In supervisorctl's order: by group name, then process name (byte
    /// order, so `web_10` comes before `web_2`, as there).
    package static func sortedByName(_ rows: [StatusRow]) -> [StatusRow] {
        rows.sorted { precedesByName(($0.group, $0.process), ($1.group, $1.process)) }
    }

    package static func precedesByName(_ a: (group: String, process: String), _ b: (group: String, process: String)) -> Bool {
        a.group != b.group ? a.group.utf8.lexicographicallyPrecedes(b.group.utf8)
                           : a.process.utf8.lexicographicallyPrecedes(b.process.utf8)
    }

    /// The lines joined, each ending in a newline (empty for no processes).
    package static func render(_ processes: [ProcessSnapshot]) -> String {
        lines(processes).map { $0 + "\n" }.joined()
    }

    /// Rows of a `/v1/status` document; nil when it has no `processes` array
    /// (elements that are not process objects are skipped).
    package static func rows(statusJSON: JSONValue) -> [StatusRow]? {
        guard let processes = statusJSON["processes"]?.arrayValue else { return nil }
        return processes.compactMap(StatusRow.init(json:))
    }

    static func padded(_ text: String, to width: Int) -> String {
        let count = text.count
        // A state longer than its column still gets one space after it.
        if count >= width { return text + " " }
        return text + String(repeating: " ", count: width - count)
    }

    static func trimmingTrailingSpaces(_ line: String) -> String {
        var end = line.endIndex
        while end > line.startIndex, line[line.index(before: end)] == " " { end = line.index(before: end) }
        return String(line[..<end])
    }
}

extension ProcessSnapshot: CustomStringConvertible {
    /// The status line's third column (and the JSON `description` field),
    /// worded like supervisorctl's (`pid 7, uptime 0:01:02`, a stop dated
    /// `Dec 07 07:25 PM` in local time), plus what drover knows beyond it:
    /// how the last run ended and its last line of stderr, the ready flag,
    /// requests in flight.
    package var description: String {
        switch state {
        case .running:
            var parts = [String]()
            if let pid { parts.append("pid \(pid)") }
            parts.append("uptime " + DurationText.uptime(uptimeSeconds ?? 0))
            // supervisorctl's line ends at the uptime; drover's flag follows
            // only where a health check or a proxy makes "ready" mean something.
            if hasReadiness { parts.append(health.rawValue) }
            if inflight > 0 { parts.append("\(inflight) in flight") }
            return parts.joined(separator: ", ")
        case .starting:
            return pid.map { "pid \($0), starting" } ?? "starting"
        case .stopping:
            var parts = [pid.map { "pid \($0), stopping" } ?? "stopping"]
            if inflight > 0 { parts.append("\(inflight) in flight") }
            return parts.joined(separator: ", ")
        case .backoff:
            var text = lastEnding
            if let retryInSeconds { text += ", retry in " + DurationText.tenths(retryInSeconds) }
            return text
        case .exited:
            return lastEnding
        case .fatal:
            return "gave up: " + lastEnding
        case .stopped:
            guard startedWallNs != nil else { return "Not started" }
            return exitedWallNs.map(WallClock.statusDate) ?? "stopped"
        }
    }

    /// How the last attempt ended: a spawn failure wins, since it is the
    /// newer news (the process never ran, so there was no exit).
    private var lastEnding: String {
        if let spawnError { return "spawn error: " + spawnError }
        let at = exitedWallNs.map { " at " + WallClock.statusDate($0) } ?? ""
        let when = at + (lastOutput.last.map { ": " + $0 } ?? "")
        switch lastExit {
        case .exited(let code): return "exited with \(code)" + when
        case .signaled(let signal, let core):
            return "killed by \(Signals.name(signal))" + (core ? " (core dumped)" : "") + when
        case nil: return "exited" + when
        }
    }
}
