import Admin
import Config
import Glibc
import System

/// What `drover run` makes of a loaded config before it binds, opens or
/// spawns anything: the control socket (path, mode, owner), the admin and
/// proxy listeners' addresses, the fcgi sockets' addresses, the descriptor
/// limit to ask for, the ports a replacement must leave alone, and what to
/// warn about. The daemon starts from this plan; `drover run --dry-run` and
/// the config fuzzer stop once it is made. So whatever `drover check`
/// accepts, `run` either starts or is refused here with a message, never a
/// trap halfway through binding.
///
/// Made with `FileAccess.none` (the fuzzer) it reads no file at all; with
/// `.readOnly` (the daemon, `--dry-run`) it looks at the filesystem the way
/// start-up will (directories of log files, the admin token file) but
/// writes nothing.
package struct StartupPlan {
    package enum FileAccess: Sendable {
        case none
        case readOnly
    }

    /// The control socket every CLI command talks to.
    package struct ControlSocket: Equatable {
        package var path: String
        /// `[unix_http_server] file` (an error if it cannot be made) rather
        /// than the best-effort default ($DROVER_SOCKET, ./drover.sock).
        package var explicit: Bool
        package var mode: UInt32
        package var owner: SocketOwner?
        /// The owner's uid and gid, looked up when the plan was made (nil:
        /// no chown, or an owner that is not in /etc/passwd).
        package var ownerIDs: (uid: UInt32, gid: UInt32)?

        package static func == (a: ControlSocket, b: ControlSocket) -> Bool {
            a.path == b.path && a.explicit == b.explicit && a.mode == b.mode && a.owner == b.owner
                && a.ownerIDs?.uid == b.ownerIDs?.uid && a.ownerIDs?.gid == b.ownerIDs?.gid
        }
    }

    /// Why `drover run` would not start; each line is one reason.
    package struct Refusal: Error, CustomStringConvertible {
        package var reasons: [String]
        package var description: String { reasons.joined(separator: "\n") }
    }

    package var control: ControlSocket?
    package var admin: ListenAddress?
    package var adminToken: [UInt8]?
    package var proxies: [ProxyConfig]
    /// The soft descriptor limit start-up asks for (supervisord's minfds,
    /// 65536 with a proxy, as nginx's worker_rlimit_nofile would).
    package var descriptorLimit: Int
    /// Ports no replacement may take: the proxies' and the admin listener's.
    package var reservedPorts: Set<Int>
    /// Processes start-up adds to the table, and how many start on their own.
    package var processCount: Int
    package var autostartCount: Int
    /// Said once at start-up; the daemon runs on.
    package var warnings: [String] = []

    package static func make(config: DroverConfig, environment: [String: String], tiniMode: Bool = false,
                             users: UserDatabase, files: FileAccess) throws(Refusal) -> StartupPlan {
        var refusals: [String] = []
        var warnings: [String] = []

        // supervisord's logfile: opened before anything else; failing that, nothing starts.
        if let path = config.supervisord.logfile, let problem = unwritable(path, files) {
            refusals.append("logfile \(path): \(problem)")
        }

        var control = controlSocket(config, environment: environment, tiniMode: tiniMode)
        if var socket = control {
            do throws(SystemError) {
                _ = try Listener.unixAddress(socket.path)
                if socket.explicit, let problem = unwritable(socket.path, files, socket: true) {
                    refusals.append("bind \(socket.path): \(problem)")
                }
                if let owner = socket.owner {
                    if let user = users.user(owner.user) {
                        socket.ownerIDs = (user.uid, owner.group.flatMap { users.groupID($0) } ?? user.gid)
                    } else {
                        warnings.append("chown \(owner) \(socket.path): no user '\(owner.user)' in /etc/passwd; left as it is")
                    }
                }
                control = socket
            } catch {
                // The default socket is best effort: one that cannot be made is said once, here.
                if socket.explicit { refusals.append(error.description) } else {
                    warnings.append("no control socket (\(error)); drover status and friends will not reach this daemon")
                    control = nil
                }
            }
        }

        var adminToken: [UInt8]?
        if let admin = config.supervisord.adminListen {
            if let problem = addressProblem(admin) ?? socketFileProblem(admin, files) {
                refusals.append("admin_listen \(admin): \(problem)")
            }
            if let path = config.supervisord.adminTokenFile, files == .readOnly {
                switch BearerToken.load(path: path) {
                case .success(let loaded):
                    adminToken = loaded.token
                    if let warning = loaded.warning { warnings.append(warning) }
                case .failure(let error):
                    refusals.append("admin_token_file: \(error)")
                }
            }
        }

        for proxy in config.proxies {
            if let problem = addressProblem(proxy.listen) ?? socketFileProblem(proxy.listen, files) {
                refusals.append("[proxy:\(proxy.name)] listen \(proxy.listen): \(problem)")
            }
            if let log = proxy.accessLog, log.target != "stdout", let problem = unwritable(log.target, files) {
                refusals.append("[proxy:\(proxy.name)] access_log \(log.target): \(problem)")
            }
            let workers = config.programs.filter { $0.name == proxy.upstream || $0.groupName == proxy.upstream }
            if workers.contains(where: { $0.port == nil }) {
                warnings.append("[proxy:\(proxy.name)]: program \(proxy.upstream) has no `port =`; its workers cannot be proxied")
            }
        }

        var processCount = 0, autostartCount = 0
        for program in config.programs {
            processCount += program.processes.count
            autostartCount += program.processes.filter(\.autostart).count
            // One socket per program, handed to every process as fd 0.
            if let socket = program.processes.first?.fcgiSocket, let problem = fcgiProblem(socket) {
                warnings.append("[fcgi-program:\(program.name)] socket \(socket): \(problem); its processes will not start")
            }
        }

        var reservedPorts = Set(config.proxies.compactMap { proxy -> Int? in
            if case .tcp(_, let port) = proxy.listen { return port }
            return nil
        })
        if case .tcp(_, let port)? = config.supervisord.adminListen { reservedPorts.insert(port) }

        guard refusals.isEmpty else { throw Refusal(reasons: refusals) }
        return StartupPlan(control: control, admin: config.supervisord.adminListen, adminToken: adminToken,
                           proxies: config.proxies,
                           descriptorLimit: max(config.supervisord.minfds, config.proxies.isEmpty ? 0 : 65536),
                           reservedPorts: reservedPorts, processCount: processCount, autostartCount: autostartCount,
                           warnings: warnings)
    }

    /// `[unix_http_server] file`, else $DROVER_SOCKET or ./drover.sock; none
    /// for a lone tini-style child unless asked for.
    static func controlSocket(_ config: DroverConfig, environment: [String: String], tiniMode: Bool) -> ControlSocket? {
        if let settings = config.unixHTTPServer {
            return ControlSocket(path: settings.file, explicit: true, mode: settings.chmod, owner: settings.chown)
        }
        let fromEnvironment = environment["DROVER_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if tiniMode && fromEnvironment == nil { return nil }
        return ControlSocket(path: fromEnvironment ?? "drover.sock", explicit: false, mode: 0o700, owner: nil)
    }

    /// Why a listener on `address` cannot be made (nil: it can, if the port is free).
    static func addressProblem(_ address: ListenAddress) -> String? {
        do throws(SystemError) {
            switch address {
            case .tcp(let host, let port): _ = try Listener.tcpAddress(host: host, port: port)
            case .unix(let path): _ = try Listener.unixAddress(path)
            }
            return nil
        } catch {
            return error.context.map { "\($0): \(String(cString: strerror(error.errno)))" } ?? error.description
        }
    }

    /// Why a unix socket cannot be made at `address`'s path, looking only.
    static func socketFileProblem(_ address: ListenAddress, _ files: FileAccess) -> String? {
        guard case .unix(let path) = address else { return nil }
        return unwritable(path, files, socket: true)
    }

    /// Why an fcgi program's socket cannot be bound: its TCP host is an
    /// IPv4 literal (as FcgiSockets binds it), its unix path fits a sockaddr.
    static func fcgiProblem(_ socket: FcgiSocket) -> String? {
        switch socket.address {
        case .tcp(let host, let port):
            var address = in_addr()
            guard inet_pton(AF_INET, host, &address) == 1 else { return "\(host) is not an IPv4 address" }
            return (1...65535).contains(port) ? nil : "\(port) is not a port number"
        case .unix(let path):
            return addressProblem(.unix(path: path))
        }
    }

    /// Why a file at `path` cannot be created or appended to, looking only
    /// (its directory exists; nothing in the way is a directory, or for a
    /// socket, anything but a socket). Nil without file access.
    static func unwritable(_ path: String, _ files: FileAccess, socket: Bool = false) -> String? {
        guard files == .readOnly else { return nil }
        if path.isEmpty { return "an empty path" }
        var info = stat()
        if lstat(path, &info) == 0 {
            let type = info.st_mode & S_IFMT
            if type == S_IFDIR { return "is a directory" }
            if socket && type != S_IFSOCK { return "a file that is not a socket is in the way" }
            return nil
        }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        if !isDirectory(directory.isEmpty ? "/" : directory) { return "directory \(directory.isEmpty ? "/" : directory) does not exist" }
        return nil
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
