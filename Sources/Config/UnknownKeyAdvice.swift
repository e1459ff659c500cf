// What to write instead of a key drover does not know: the keys other
// supervisors' configs carry into supervisord files (the Go supervisord's
// `depends_on`, supervisorctl's `serverurl` in the wrong section), and for
// a typo the nearest key the section does read. Appended to the "unknown
// key, ignored" warning, so `drover check` says what to do, not only what
// is wrong.

package enum UnknownKeyAdvice {
    /// "; ..." to append to the warning, or "" when there is nothing useful to say.
    static func advice(for key: String, section: String, known: Set<String>) -> String {
        let kind = section.split(separator: ":", maxSplits: 1).first.map(String.init) ?? section
        if let said = foreign(key, kind: kind) { return "; " + said }
        let near = nearest(to: key, in: known)
        if !near.isEmpty { return "; did you mean " + near.map { "`\($0)`" }.joined(separator: " or ") + "?" }
        return ""
    }

    private static func foreign(_ key: String, kind: String) -> String? {
        switch (kind, key) {
        case ("program", "depends_on"), ("fcgi-program", "depends_on"):
            return "`depends_on` is the Go supervisord's (ochinchina/supervisord), not supervisord's: "
                + "drover starts programs in `priority` order (lower first), so give what this program "
                + "needs a lower priority"
        case ("program", "group"), ("fcgi-program", "group"):
            return "a process runs with the primary group of `user`; to manage programs together, "
                + "list them in a [group:NAME] section (`programs = a,b`)"
        case ("program", "redirect_stdout"):
            return "stdout always goes to `stdout_logfile`; `redirect_stderr = true` sends stderr there too"
        case ("supervisord", "serverurl"):
            return "`serverurl` belongs to [supervisorctl]; drover's client finds the daemon through "
                + "`-s PATH`, $DROVER_SOCKET or [unix_http_server] file"
        case ("supervisord", "username"), ("supervisord", "password"):
            return "[supervisord] takes `user` (the account to switch to); a username and password belong to "
                + "[unix_http_server], where drover ignores them: the socket's chmod and chown control who may use it"
        case ("program", "autostart_delay"), ("program", "startdelay"):
            return "drover has no start delay; `priority` orders start-up, `health_path` says when a worker is ready"
        default:
            return nil
        }
    }

    /// The known keys within two edits (insert, delete, substitute, swap of
    /// neighbours) of `key`, the closest ones only, at most two of them:
    /// `autorstart` is one edit from both `autostart` and `autorestart`.
    package static func nearest(to key: String, in known: Set<String>) -> [String] {
        let word = Array(key.lowercased().utf8)
        guard word.count >= 3 else { return [] }
        var best: [String] = []
        var bestDistance = 3
        for name in known.sorted() where name != key {
            let d = distance(word, Array(name.utf8), limit: 2)
            if d < bestDistance {
                best = [name]; bestDistance = d
            } else if d == bestDistance {
                best.append(name)
            }
        }
        return best.count <= 2 ? best : []
    }

    /// Optimal-string-alignment distance, giving up past `limit`.
    private static func distance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowBest = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d = min(d, before[j - 2] + 1) }
                current[j] = d
                rowBest = min(rowBest, d)
            }
            if rowBest > limit { return limit + 1 }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }
}
