// [fcgi-program:x]: a [program:x] plus the socket drover binds once and
// hands to every process as fd 0 (supervisord's `socket`, `socket_backlog`,
// `socket_owner`, `socket_mode`). And the supervisord sections drover does
// not run, each with the warning that says what to use instead.

extension ConfigLoadContext {
    /// `socket = tcp://HOST:PORT` or `unix:///absolute/path`, expanded with
    /// here, program_name and ENV_* as supervisord does (no process_num: one
    /// socket serves the whole pool).
    mutating func readFcgiSocket(_ r: inout ConfigSectionReader, _ section: IniSection, programName: String) -> FcgiSocket? {
        let name = section.name
        let extra: [String: ExpansionValue] = ["program_name": .string(programName)]
        let backlog = r.int("socket_backlog", extra: extra, &diags, ConfigLimits.socketBacklog)
        let mode = r.typed("socket_mode", extra: extra, &diags, ConfigValues.octal)
        let ownerEntry = r.string("socket_owner", extra: extra, &diags)
        guard let (text, e) = r.string("socket", extra: extra, &diags) else {
            if section["socket"] == nil {
                diags.error(section.file, section.line, name, "socket",
                            "[\(name)] needs `socket =` (tcp://HOST:PORT or unix:///path)")
            }
            return nil
        }
        let value = text.pyStripped
        var socket: FcgiSocket
        if value.hasPrefix("unix://") {
            let path = String(value.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                diags.error(e.file, e.line, name, "socket", "'\(value)': the unix socket path must be absolute (unix:///path)")
                return nil
            }
            guard path.utf8.count < 108 else {
                diags.error(e.file, e.line, name, "socket", "'\(value)': unix socket paths are limited to 107 bytes")
                return nil
            }
            let dir = ConfigPaths.directory(of: path)
            if !dir.isEmpty && !isDirectory(dir) {
                diags.error(e.file, e.line, name, "socket", "directory \(dir) does not exist (for \(path))")
                return nil
            }
            socket = FcgiSocket(address: .unix(path: path))
        } else if value.hasPrefix("tcp://") {
            let rest = String(value.dropFirst("tcp://".count))
            guard let colon = rest.lastIndex(of: ":") else {
                diags.error(e.file, e.line, name, "socket", "'\(value)' is not tcp://HOST:PORT")
                return nil
            }
            var host = String(rest[..<colon])
            if host.isEmpty || host == "*" { host = "0.0.0.0" }
            if host == "localhost" { host = "127.0.0.1" }
            guard Self.isIPv4(host) else {
                diags.error(e.file, e.line, name, "socket", "'\(value)': the host must be an IPv4 address, localhost or *")
                return nil
            }
            switch ConfigValues.integer(String(rest[rest.index(after: colon)...]), in: ConfigLimits.port) {
            case .success(let port):
                socket = FcgiSocket(address: .tcp(host: host, port: port))
                claimPorts(port..<(port + 1), owner: "[\(name)] socket", entry: e, section: name)
            case .failure(let err):
                diags.error(e.file, e.line, name, "socket", "'\(value)': port " + err.message)
                return nil
            }
        } else {
            diags.error(e.file, e.line, name, "socket", "'\(value)' is not tcp://HOST:PORT or unix:///path")
            return nil
        }
        if let backlog { socket.backlog = backlog }
        let isUnix: Bool
        if case .unix = socket.address { isUnix = true } else { isUnix = false }
        if let mode {
            if isUnix { socket.mode = mode } else if let me = section["socket_mode"] {
                diags.error(me.file, me.line, name, "socket_mode", "only for unix:// sockets")
            }
        }
        if let (owner, oe) = ownerEntry {
            guard isUnix else {
                diags.error(oe.file, oe.line, name, "socket_owner", "only for unix:// sockets")
                return socket
            }
            let parts = owner.pyStripped.split(separator: ":", maxSplits: 1).map(String.init)
            guard let userName = parts.first, let user = users.user(userName) else {
                diags.error(oe.file, oe.line, name, "socket_owner", "unknown user '\(parts.first ?? owner)' (not in /etc/passwd)")
                return socket
            }
            var gid = user.gid
            if parts.count == 2 {
                guard let g = users.groupID(parts[1]) else {
                    diags.error(oe.file, oe.line, name, "socket_owner", "unknown group '\(parts[1])' (not in /etc/group)")
                    return socket
                }
                gid = g
            }
            socket.owner = (user.uid, gid)
        }
        return socket
    }

    static func isIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && (Int(p) ?? 256) <= 255
        }
    }

    // MARK: sections drover does not run

    /// The warning for a supervisord section drover skips; nil when
    /// skipping it changes nothing (the XML-RPC boilerplate every
    /// echo_supervisord_conf file carries).
    static func skippedSectionWarning(_ section: IniSection) -> String? {
        let name = section.name
        if name == "rpcinterface:supervisor" {
            let boilerplate = section.entries.allSatisfy {
                $0.key == "supervisor.rpcinterface_factory" && $0.value.pyStripped == "supervisor.rpcinterface:make_main_rpcinterface"
            }
            if boilerplate { return nil }
        }
        if name.hasPrefix("eventlistener:") {
            let events = section["events"]?.value.pyStripped ?? ""
            var text = "event listeners are not implemented by drover, ignored"
            if !events.isEmpty { text += " (events=\(events))" }
            text += "; to stop the container when a program goes FATAL, drover's native form is "
                + "`fatal_action = shutdown` in that [program:x]"
            let upper = events.uppercased()
            if upper.contains("PROCESS_LOG") {
                text += "; worker output is already copied to drover's stdout (stdout_mirror)"
            }
            if upper.contains("TICK") {
                text += "; for memmon/httpok-style checks use max_memory and health_path"
            }
            return text
        }
        if name == "inet_http_server" {
            return "supervisord section not implemented by drover, ignored (drover's HTTP control is the unix socket; "
                + "for TCP use [supervisord] admin_listen)"
        }
        let known = ["rpcinterface", "ctlplugin"].contains { name == $0 || name.hasPrefix($0 + ":") }
        return known ? "supervisord section not implemented by drover, ignored" : "unknown section, ignored"
    }
}
