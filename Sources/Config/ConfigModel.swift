import Glibc
// The resolved configuration: what the supervisor, the proxy and the control
// server consume. Everything here is already expanded, validated and typed;
// `ConfigLoader` turns supervisor.conf files into it.

/// A problem found in a config file, named by file, line, section and key.
package struct ConfigDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    package var file: String
    /// 1-based; 0 when the problem is not tied to one line (e.g. an unreadable file).
    package var line: Int
    package var section: String?
    package var key: String?
    package var message: String

    package init(file: String, line: Int, section: String? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.section = section
        self.key = key
        self.message = message
    }

    /// `FILE:LINE: [section] key: message`, the form editors and CI logs link.
    package var description: String {
        var text = line > 0 ? "\(file):\(line):" : "\(file):"
        if let section { text += " [\(section)]" }
        if let key { text += " \(key):" }
        return text + " " + message
    }
}

/// Every error found in one load (loading does not stop at the first one).
package struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    package var errors: [ConfigDiagnostic]
    package var warnings: [ConfigDiagnostic]

    package init(errors: [ConfigDiagnostic], warnings: [ConfigDiagnostic] = []) {
        self.errors = errors
        self.warnings = warnings
    }

    package var description: String { errors.map(\.description).joined(separator: "\n") }
}

package enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case trace = 0, debug, info, warn, error, critical

    package static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    package var label: String {
        switch self {
        case .trace: "TRAC"
        case .debug: "DEBG"
        case .info: "INFO"
        case .warn: "WARN"
        case .error: "ERRO"
        case .critical: "CRIT"
        }
    }
}

/// Where one output stream of a worker is written, besides the ring buffer.
package enum LogTarget: Sendable, Equatable {
    case none
    /// `maxBytes == 0` disables rotation (always so for /dev/stdout, /dev/fd/N, …).
    case file(path: String, maxBytes: Int, backups: Int)
}

/// `[program:x] fatal_action`: what drover does when that program goes
/// FATAL (SPEC §8; supervisord users write an eventlistener for it).
package enum FatalAction: String, Sendable, Equatable {
    case ignore
    /// Graceful shutdown, exit status 1: the container stops.
    case shutdown
}

/// `[fcgi-program:x] socket =`: bound once by drover, every process of the
/// program gets it as fd 0 (SPEC §3, as supervisord does).
package struct FcgiSocket: Sendable, Equatable, CustomStringConvertible {
    package enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }
    package var address: Address
    /// socket_backlog (default: the kernel's SOMAXCONN).
    package var backlog: Int
    /// unix sockets: socket_mode (default 0700) and socket_owner (uid, gid).
    package var mode: UInt32
    package var owner: (uid: UInt32, gid: UInt32)?

    package init(address: Address, backlog: Int = Int(SOMAXCONN), mode: UInt32 = 0o700, owner: (uid: UInt32, gid: UInt32)? = nil) {
        self.address = address
        self.backlog = backlog
        self.mode = mode
        self.owner = owner
    }

    package static func == (a: FcgiSocket, b: FcgiSocket) -> Bool {
        a.address == b.address && a.backlog == b.backlog && a.mode == b.mode
            && a.owner?.uid == b.owner?.uid && a.owner?.gid == b.owner?.gid
    }

    /// As written in the config: `tcp://HOST:PORT`, `unix:///path`.
    package var description: String {
        switch address {
        case .tcp(let host, let port): "tcp://\(host):\(port)"
        case .unix(let path): "unix://\(path)"
        }
    }
}

package enum AutoRestart: String, Sendable, Equatable {
    case never = "false"
    case always = "true"
    case unexpected
}

package struct HealthCheck: Sendable, Equatable {
    package var path: String
    package var interval: Duration
    package var timeout: Duration
    package var fails: Int
    package var startPeriod: Duration

    package init(path: String, interval: Duration = .seconds(5), timeout: Duration = .seconds(2), fails: Int = 3,
                startPeriod: Duration = .seconds(60)) {
        self.path = path
        self.interval = interval
        self.timeout = timeout
        self.fails = fails
        self.startPeriod = startPeriod
    }
}

/// The account a worker runs as (`user =`), read from /etc/passwd and
/// /etc/group because a static binary cannot call getpwnam.
package struct UserIdentity: Sendable, Equatable {
    package var name: String
    package var uid: UInt32
    package var gid: UInt32
    package var groups: [UInt32]
    package var home: String

    package init(name: String, uid: UInt32, gid: UInt32, groups: [UInt32], home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
    }
}

/// One worker process, fully resolved: what the supervisor spawns.
package struct ProcessSpec: Sendable, Equatable {
    package var programName: String
    package var groupName: String
    /// `process_name` expanded, e.g. `web_01`.
    package var name: String
    /// `process_num`.
    package var number: Int
    /// Position in the pool, 0-based (`number - numprocs_start`); the port offset.
    package var index: Int
    package var argv: [String]
    package var directory: String?
    package var umask: UInt32?
    /// Variables the config adds: `[supervisord] environment`, the program's
    /// `environment`, the slot's thread variables and CUDA_VISIBLE_DEVICES
    /// where neither those nor drover's own environment set them, then
    /// DROVER_SLOT, DROVER_CPUS, DROVER_GPU, PORT, DROVER_PROCESS_NAME,
    /// DROVER_PROCESS_NUM, SUPERVISOR_PROCESS_NAME, SUPERVISOR_GROUP_NAME.
    /// Layered on drover's own.
    package var environment: [String: String]
    package var user: UserIdentity?
    package var port: Int?
    package var stdout: LogTarget
    package var stderr: LogTarget
    package var redirectStderr: Bool
    /// nil: drover decides (true when PID 1 or stdout is not a tty).
    package var stdoutMirror: Bool?
    package var autostart: Bool
    package var startsecs: Duration
    package var startretries: Int
    package var autorestart: AutoRestart
    package var exitcodes: [Int32]
    package var stopsignal: Int32
    package var stopwaitsecs: Duration
    package var stopasgroup: Bool
    package var killasgroup: Bool
    package var priority: Int
    package var health: HealthCheck?
    package var maxRequests: Int
    package var maxMemory: Int
    package var backoffMax: Duration
    /// Why `command` cannot run (empty, or not splittable into words): the
    /// process loads and goes FATAL with this reason instead of starting,
    /// as in supervisord; the rest of the config runs.
    package var commandError: String?
    package var fatalAction: FatalAction = .ignore
    /// `[fcgi-program:x]`: the socket drover binds and passes as fd 0.
    package var fcgiSocket: FcgiSocket?
    /// The worker's slot (CPUs, pinned cores, GPU): a program's and a
    /// config-less `drover run`'s workers have one; nil only for a spec
    /// made by hand.
    package var slot: Slot?
    /// `preload = true`: `command` runs one template that loads the model and
    /// forks this worker from it (docs/preload-protocol.md).
    package var preload = false

    /// `group:name`, how the CLI and the logs name a process.
    package var fullName: String { "\(groupName):\(name)" }

    package init(programName: String, groupName: String, name: String, number: Int, index: Int, argv: [String],
                directory: String? = nil, umask: UInt32? = nil, environment: [String: String] = [:],
                user: UserIdentity? = nil, port: Int? = nil, stdout: LogTarget = .none, stderr: LogTarget = .none,
                redirectStderr: Bool = false, stdoutMirror: Bool? = nil, autostart: Bool = true,
                startsecs: Duration = .seconds(1), startretries: Int = 3, autorestart: AutoRestart = .unexpected,
                exitcodes: [Int32] = [0], stopsignal: Int32 = 15, stopwaitsecs: Duration = .seconds(10),
                stopasgroup: Bool = false, killasgroup: Bool = false, priority: Int = 999,
                health: HealthCheck? = nil, maxRequests: Int = 0, maxMemory: Int = 0, backoffMax: Duration = .seconds(30)) {
        self.programName = programName
        self.groupName = groupName
        self.name = name
        self.number = number
        self.index = index
        self.argv = argv
        self.directory = directory
        self.umask = umask
        self.environment = environment
        self.user = user
        self.port = port
        self.stdout = stdout
        self.stderr = stderr
        self.redirectStderr = redirectStderr
        self.stdoutMirror = stdoutMirror
        self.autostart = autostart
        self.startsecs = startsecs
        self.startretries = startretries
        self.autorestart = autorestart
        self.exitcodes = exitcodes
        self.stopsignal = stopsignal
        self.stopwaitsecs = stopwaitsecs
        self.stopasgroup = stopasgroup
        self.killasgroup = killasgroup
        self.priority = priority
        self.health = health
        self.maxRequests = maxRequests
        self.maxMemory = maxMemory
        self.backoffMax = backoffMax
    }
}

/// One `[program:x]`: a pool of `numprocs` workers built from one template.
package struct ProgramConfig: Sendable {
    package var name: String
    package var groupName: String
    package var priority: Int
    package var numprocs: Int
    package var numprocsStart: Int
    /// First worker port; worker i gets `port + i`.
    package var port: Int?
    /// The `numprocs` workers, in process_num order.
    package var processes: [ProcessSpec]
    /// Builds the worker for any process_num, so `scale` can grow a pool
    /// past the configured numprocs with the same expansions and checks.
    package var template: ProcessTemplate
    /// The pool's slots when the program shapes them (any of
    /// cpus_per_worker, cpu_affinity, gpus, thread_env set, or numprocs =
    /// auto): what `drover check` shows as the slot table.
    package var slots: SlotPlan?

    package init(name: String, groupName: String, priority: Int, numprocs: Int, numprocsStart: Int, port: Int?,
                processes: [ProcessSpec], template: ProcessTemplate) {
        self.name = name
        self.groupName = groupName
        self.priority = priority
        self.numprocs = numprocs
        self.numprocsStart = numprocsStart
        self.port = port
        self.processes = processes
        self.template = template
    }

    package func process(number: Int) throws(ConfigDiagnostic) -> ProcessSpec {
        try template.make(number, nil)
    }

    /// The worker of `number` listening on `port` instead of its own: a
    /// replacement started beside the worker it replaces (SPEC §3 `port`).
    package func process(number: Int, port: Int) throws(ConfigDiagnostic) -> ProcessSpec {
        try template.make(number, port)
    }

    /// `port … port + 2 × numprocs − 1`: where a pool's workers and their
    /// replacements listen.
    package var portRange: Range<Int>? {
        // Never past 65535: at the top of the port space a pool has fewer
        // spare ports (the loader warns), not ports that do not exist.
        port.map { $0..<min($0 + 2 * max(numprocs, 1), 65536) }
    }
}

/// Makes the ProcessSpec of a given process_num, optionally on another
/// port than its own (see ProgramConfig.process).
package struct ProcessTemplate: Sendable {
    package let make: @Sendable (Int, Int?) throws(ConfigDiagnostic) -> ProcessSpec

    package init(_ make: @escaping @Sendable (Int, Int?) throws(ConfigDiagnostic) -> ProcessSpec) {
        self.make = make
    }
}

package enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    package var description: String {
        switch self {
        // An IPv6 host in brackets, as it is written: `[::1]:9000`.
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}

package enum BalancePolicy: String, Sendable, Equatable {
    case leastInflight = "least_inflight"
    case roundRobin = "round_robin"
    case p2c
}

package struct RateLimit: Sendable, Equatable {
    package var perSecond: Double
    package var burst: Int

    package init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
    }
}

package struct AccessLog: Sendable, Equatable {
    package enum Format: String, Sendable { case combined, json }
    /// A path, or "stdout".
    package var target: String
    package var format: Format

    package init(target: String, format: Format) {
        self.target = target
        self.format = format
    }
}

/// One `[proxy:x]` section (served by the front proxy). Timeouts are
/// Durations as parsed (checked, bounded by `ConfigValues.maxDuration`, so
/// 0 or more), carried to the proxy's timers unconverted.
package struct ProxyConfig: Sendable, Equatable {
    package var name: String
    package var listen: ListenAddress
    /// The program or group whose ready workers serve.
    package var upstream: String
    package var balance: BalancePolicy = .leastInflight
    /// Requests at once per worker (SPEC §3): 1, one CPU-bound request per
    /// worker with the rest in the proxy's queue; 0 is no cap (async workers).
    package var maxInflight: Int = 1
    package var queueSize: Int = 1024
    package var queueTimeout: Duration = .seconds(30)
    package var connectTimeout: Duration = .seconds(2)
    package var readTimeout: Duration = .seconds(120)
    package var clientTimeout: Duration = .seconds(30)
    package var keepaliveTimeout: Duration = .seconds(75)
    package var retries: Int = 1
    package var retryNonIdempotent: Bool = false
    package var clientMaxBodySize: Int = 10 * 1024 * 1024
    package var maxHeaderSize: Int = 16 * 1024
    package var rateLimit: RateLimit?
    package var accessLog: AccessLog?

    package init(name: String, listen: ListenAddress, upstream: String) {
        self.name = name
        self.listen = listen
        self.upstream = upstream
    }
}

package struct SupervisordSettings: Sendable, Equatable {
    /// nil: drover's own log goes to stdout.
    package var logfile: String?
    package var logfileMaxBytes: Int = 50 * 1024 * 1024
    package var logfileBackups: Int = 10
    package var loglevel: LogLevel = .info
    package var pidfile: String?
    package var childlogdir: String = "/tmp"
    package var minfds: Int = 1024
    package var environment: [String: String] = [:]
    package var directory: String?
    package var umask: UInt32?
    package var shutdownTimeout: Duration = .seconds(30)
    package var adminListen: ListenAddress?
    package var adminTokenFile: String?

    package init() {}
}

package struct UnixHTTPServerSettings: Sendable, Equatable {
    package var file: String
    package var chmod: UInt32 = 0o700
    package var chown: SocketOwner?

    package init(file: String) {
        self.file = file
    }
}

/// `chown = USER` or `USER:GROUP` of `[unix_http_server]`, checked when
/// read: both names are non-empty, so nothing later indexes an empty list.
package struct SocketOwner: Sendable, Equatable, CustomStringConvertible {
    package var user: String
    /// nil: the user's primary group.
    package var group: String?

    package init(user: String, group: String?) {
        self.user = user
        self.group = group
    }

    /// nil with the reason when the text is not `USER` or `USER:GROUP`.
    package static func parse(_ text: String) -> Result<SocketOwner, OwnerError> {
        if text.isEmpty { return .failure(OwnerError("is empty: write `chown = USER` or `USER:GROUP`, or leave the line out")) }
        guard let colon = text.firstIndex(of: ":") else { return .success(SocketOwner(user: text, group: nil)) }
        let user = String(text[..<colon]), group = String(text[text.index(after: colon)...])
        if user.isEmpty { return .failure(OwnerError("'\(text)' names no user: write `USER:GROUP`")) }
        if group.isEmpty { return .failure(OwnerError("'\(text)' names no group after ':': write `USER` or `USER:GROUP`")) }
        if group.contains(":") { return .failure(OwnerError("'\(text)' has more than one ':': write `USER:GROUP`")) }
        return .success(SocketOwner(user: user, group: group))
    }

    package struct OwnerError: Error {
        package let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    package var description: String { group.map { "\(user):\($0)" } ?? user }
}

/// One `[group:x]`: programs managed together under one name.
package struct GroupConfig: Sendable, Equatable {
    package var name: String
    /// supervisord orders groups by this when starting (default 999).
    package var priority: Int
    /// Program names, as listed in `programs =`.
    package var programs: [String]

    package init(name: String, priority: Int = 999, programs: [String]) {
        self.name = name
        self.priority = priority
        self.programs = programs
    }
}

/// A whole loaded configuration.
package struct DroverConfig: Sendable {
    /// The main file, absolute; nil for config-less `drover run -- CMD`.
    package var path: String?
    package var supervisord: SupervisordSettings
    package var unixHTTPServer: UnixHTTPServerSettings?
    package var supervisorctlServerURL: String?
    /// In file order; start order is by priority (see Supervisor).
    package var programs: [ProgramConfig]
    package var proxies: [ProxyConfig]
    /// Reported once each, never fatal.
    package var warnings: [ConfigDiagnostic]
    /// The `[group:x]` sections, in file order (programs not in one form
    /// their own group, named like the program, and are not listed here).
    package var groups: [GroupConfig] = []
    /// The machine the slots were laid out on (`drover check`'s slot table).
    package var machine: MachineShape?

    package init(path: String?, supervisord: SupervisordSettings = SupervisordSettings(),
                unixHTTPServer: UnixHTTPServerSettings? = nil, supervisorctlServerURL: String? = nil,
                programs: [ProgramConfig] = [], proxies: [ProxyConfig] = [], warnings: [ConfigDiagnostic] = []) {
        self.path = path
        self.supervisord = supervisord
        self.unixHTTPServer = unixHTTPServer
        self.supervisorctlServerURL = supervisorctlServerURL
        self.programs = programs
        self.proxies = proxies
        self.warnings = warnings
    }
}
