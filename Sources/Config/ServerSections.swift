// [supervisord], [unix_http_server] and [supervisorctl]: the daemon's own
// settings. Every supervisord key drover does not implement is a warning
// naming it and why; only `nodaemon = true`, which is what drover always
// does, is accepted silently.

import Glibc

extension ConfigLoadContext {
    /// Keys supervisord has in [supervisord] that drover does not implement,
    /// with why (each is checked as supervisord would, then warned about).
    /// A boolean is silent when it asks for what drover does anyway (`same`).
    static let unimplementedSupervisordKeys: [(key: String, same: Bool?, why: String)] = [
        ("minprocs", nil, "drover does not check the process limit (ulimit -u) at start"),
        ("identifier", nil, "there is no XML-RPC interface to identify"),
        ("nodaemon", true, "drover always runs in the foreground"),
        ("silent", false, "drover's own log always goes to [supervisord] logfile, stdout by default"),
        ("nocleanup", true, "drover does not remove old AUTO child logs at start"),
        ("strip_ansi", false, "worker output is logged as written, escape codes included"),
    ]

    mutating func readSupervisord(_ section: IniSection) -> SupervisordSettings {
        var s = SupervisordSettings()
        var r = ConfigSectionReader(section, base: base)
        if let (v, e) = r.string("logfile", &diags) {
            let t = v.pyStripped
            if t.isEmpty || t.lowercased() == "stdout" || t == "/dev/stdout" {
                s.logfile = nil
            } else {
                s.logfile = checkedLogPath(t, e, section.name)
            }
        }
        if let n = r.size("logfile_maxbytes", &diags) { s.logfileMaxBytes = n }
        if let n = r.int("logfile_backups", &diags, ConfigLimits.backups) { s.logfileBackups = n }
        if let l = r.typed("loglevel", &diags, ConfigValues.logLevel) { s.loglevel = l }
        if let (v, e) = r.string("pidfile", &diags) { s.pidfile = checkedLogPath(v.pyStripped, e, section.name) }
        if let (v, e) = r.string("childlogdir", &diags) {
            let dir = expandTilde(v.pyStripped)
            if isDirectory(dir) { s.childlogdir = dir } else {
                diags.error(e.file, e.line, section.name, "childlogdir", "directory \(dir) does not exist")
            }
        }
        if let n = r.int("minfds", &diags, ConfigLimits.minfds) { s.minfds = n }
        if let env = r.typed("environment", &diags, EnvironmentParser.parse) { s.environment = env }
        if let (v, e) = r.string("directory", &diags) {
            let dir = expandTilde(v.pyStripped)
            if isDirectory(dir) { s.directory = dir } else {
                diags.error(e.file, e.line, section.name, "directory", "directory \(dir) does not exist")
            }
        }
        if let u = r.typed("umask", &diags, ConfigValues.octal) { s.umask = u }
        if let t = r.duration("shutdown_timeout", &diags) { s.shutdownTimeout = t }
        if let a = r.typed("admin_listen", &diags, ConfigValues.listenAddress) {
            s.adminListen = a
            if case .tcp(_, let port) = a, let e = section["admin_listen"] {
                claimPorts(port..<(port + 1), owner: "[supervisord] admin_listen", entry: e, section: section.name)
            }
        }
        if let (v, e) = r.string("admin_token_file", &diags) {
            let path = expandTilde(v.pyStripped)
            s.adminTokenFile = path
            if !ConfigPaths.isReadable(path) {
                problem(e, section.name, "admin_token_file", "cannot read \(path)")
            }
        }
        for (key, same, why) in Self.unimplementedSupervisordKeys {
            guard let (v, e) = r.string(key, &diags) else { continue }
            // A value supervisord would refuse is an error, as there.
            if key == "minprocs", case .failure(let err) = ConfigValues.integer(v, in: ConfigLimits.minprocs) {
                diags.error(e.file, e.line, section.name, key, err.message)
                continue
            }
            if let same {
                switch ConfigValues.boolean(v) {
                case .failure(let err):
                    diags.error(e.file, e.line, section.name, key, err.message)
                    continue
                case .success(let on) where on == same:
                    continue
                case .success:
                    break
                }
            }
            diags.warn(e.file, e.line, section.name, key, "not implemented by drover, ignored (\(why))")
        }
        if let (v, e) = r.string("user", &diags) {
            // drover does not switch its own user; fine when it already is that user.
            let name = v.pyStripped
            if let u = users.user(name) {
                if u.uid != currentUID {
                    diags.warn(e.file, e.line, section.name, "user",
                               "drover does not change its own user; run it as '\(name)' instead (ignored)")
                }
            } else {
                diags.error(e.file, e.line, section.name, "user", "unknown user '\(name)' (not in /etc/passwd)")
            }
        }
        r.reportUnused(unsupported: [:], &diags)
        return s
    }

    mutating func readUnixHTTPServer(_ section: IniSection) -> UnixHTTPServerSettings? {
        var r = ConfigSectionReader(section, base: base)
        var settings: UnixHTTPServerSettings?
        if let (v, _) = r.string("file", &diags) {
            settings = UnixHTTPServerSettings(file: expandTilde(v.pyStripped))
        } else if section["file"] == nil {
            diags.error(section.file, section.line, section.name, "file", "[unix_http_server] needs `file =` (the socket path)")
        }
        if let mode = r.typed("chmod", &diags, ConfigValues.octal) { settings?.chmod = mode }
        if let (v, e) = r.string("chown", &diags) {
            switch SocketOwner.parse(v.pyStripped) {
            case .failure(let error):
                diags.error(e.file, e.line, section.name, "chown", "chown \(error.reason)")
            case .success(let owner):
                if users.user(owner.user) == nil {
                    diags.error(e.file, e.line, section.name, "chown", "unknown user '\(owner.user)' in chown '\(owner)' (not in /etc/passwd)")
                } else if let group = owner.group, users.groupID(group) == nil {
                    diags.error(e.file, e.line, section.name, "chown", "unknown group '\(group)' in chown '\(owner)' (not in /etc/group)")
                } else {
                    settings?.chown = owner
                }
            }
        }
        let why = "the control socket has no password; access is controlled by its chmod/chown"
        r.reportUnused(unsupported: ["username": why, "password": why], &diags)
        return settings
    }

    mutating func readSupervisorctl(_ section: IniSection) -> String? {
        var r = ConfigSectionReader(section, base: base)
        let url = r.string("serverurl", &diags)?.value.pyStripped
        let why = "drover's CLI finds the daemon through -s, $DROVER_SOCKET or [unix_http_server] file"
        r.reportUnused(unsupported: ["username": why, "password": why, "prompt": "no interactive shell",
                                     "history_file": "no interactive shell"], &diags)
        return url
    }
}
