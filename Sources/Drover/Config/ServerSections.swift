// [supervisord], [unix_http_server] and [supervisorctl]: the daemon's own
// settings. supervisord keys with no meaning for drover are accepted
// silently when ignoring them changes nothing a user would notice
// (nodaemon: drover always runs in the foreground), else warned about.

import Glibc

extension ConfigLoadContext {
    /// Keys supervisord has in [supervisord] that drover ignores on purpose.
    static let silentSupervisordKeys: Set<String> = ["nodaemon", "silent", "identifier", "nocleanup", "strip_ansi", "minprocs"]

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
        if let n = r.typed("logfile_maxbytes", &diags, ConfigValues.byteSize) { s.logfileMaxBytes = n }
        if let n = r.typed("logfile_backups", &diags, { ConfigValues.integer($0, min: 0) }) { s.logfileBackups = n }
        if let l = r.typed("loglevel", &diags, ConfigValues.logLevel) { s.loglevel = l }
        if let (v, e) = r.string("pidfile", &diags) { s.pidfile = checkedLogPath(v.pyStripped, e, section.name) }
        if let (v, e) = r.string("childlogdir", &diags) {
            let dir = expandTilde(v.pyStripped)
            if isDirectory(dir) { s.childlogdir = dir } else {
                diags.error(e.file, e.line, section.name, "childlogdir", "directory \(dir) does not exist")
            }
        }
        if let n = r.typed("minfds", &diags, { ConfigValues.integer($0, min: 0) }) { s.minfds = n }
        if let env = r.typed("environment", &diags, EnvironmentParser.parse) { s.environment = env }
        if let (v, e) = r.string("directory", &diags) {
            let dir = expandTilde(v.pyStripped)
            if isDirectory(dir) { s.directory = dir } else {
                diags.error(e.file, e.line, section.name, "directory", "directory \(dir) does not exist")
            }
        }
        if let u = r.typed("umask", &diags, ConfigValues.octal) { s.umask = u }
        if let t = r.typed("shutdown_timeout", &diags, ConfigValues.duration) { s.shutdownTimeout = t }
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
        for key in Self.silentSupervisordKeys {
            guard let (v, e) = r.string(key, &diags) else { continue }
            if key == "minprocs" {
                if case .failure(let err) = ConfigValues.integer(v) { diags.error(e.file, e.line, section.name, key, err.message) }
            } else if key != "identifier", case .failure(let err) = ConfigValues.boolean(v) {
                diags.error(e.file, e.line, section.name, key, err.message)
            }
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
            let owner = v.pyStripped
            let parts = owner.split(separator: ":", maxSplits: 1).map(String.init)
            if let user = parts.first, users.user(user) == nil {
                diags.error(e.file, e.line, section.name, "chown", "unknown user '\(user)' in chown '\(owner)' (not in /etc/passwd)")
            } else if parts.count == 2, users.groupID(parts[1]) == nil {
                diags.error(e.file, e.line, section.name, "chown", "unknown group '\(parts[1])' in chown '\(owner)' (not in /etc/group)")
            } else {
                settings?.chown = owner
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
