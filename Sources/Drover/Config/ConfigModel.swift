import Glibc
// The resolved configuration: what the supervisor, the proxy and the control
// server consume. Everything here is already expanded, validated and typed;
// `ConfigLoader` turns supervisor.conf files into it.

/// A problem found in a config file, named by file, line, section and key.
public struct ConfigDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the problem is not tied to one line (e.g. an unreadable file).
    public var line: Int
    public var section: String?
    public var key: String?
    public var message: String

    public init(file: String, line: Int, section: String? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.section = section
        self.key = key
        self.message = message
    }

    /// `FILE:LINE: [section] key: message`, the form editors and CI logs link.
    public var description: String {
        var text = line > 0 ? "\(file):\(line):" : "\(file):"
        if let section { text += " [\(section)]" }
        if let key { text += " \(key):" }
        return text + " " + message
    }
}

/// Every error found in one load (loading does not stop at the first one).
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigDiagnostic]
    public var warnings: [ConfigDiagnostic]

    public init(errors: [ConfigDiagnostic], warnings: [ConfigDiagnostic] = []) {
        self.errors = errors
        self.warnings = warnings
    }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case trace = 0, debug, info, warn, error, critical

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    public var label: String {
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
public enum LogTarget: Sendable, Equatable {
    case none
    /// `maxBytes == 0` disables rotation (always so for /dev/stdout, /dev/fd/N, …).
    case file(path: String, maxBytes: Int, backups: Int)
}

/// `[program:x] fatal_action`: what drover does when that program goes
/// FATAL (SPEC §8; supervisord users write an eventlistener for it).
public enum FatalAction: String, Sendable, Equatable {
    case ignore
    /// Graceful shutdown, exit status 1: the container stops.
    case shutdown
}

/// `[fcgi-program:x] socket =`: bound once by drover, every process of the
/// program gets it as fd 0 (SPEC §3, as supervisord does).
public struct FcgiSocket: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }
    public var address: Address
    /// socket_backlog (default: the kernel's SOMAXCONN).
    public var backlog: Int
    /// unix sockets: socket_mode (default 0700) and socket_owner (uid, gid).
    public var mode: UInt32
    public var owner: (uid: UInt32, gid: UInt32)?

    public init(address: Address, backlog: Int = Int(SOMAXCONN), mode: UInt32 = 0o700, owner: (uid: UInt32, gid: UInt32)? = nil) {
        self.address = address
        self.backlog = backlog
        self.mode = mode
        self.owner = owner
    }

    public static func == (a: FcgiSocket, b: FcgiSocket) -> Bool {
        a.address == b.address && a.backlog == b.backlog && a.mode == b.mode
            && a.owner?.uid == b.owner?.uid && a.owner?.gid == b.owner?.gid
    }

    /// As written in the config: `tcp://HOST:PORT`, `unix:///path`.
    public var description: String {
        switch address {
        case .tcp(let host, let port): "tcp://\(host):\(port)"
        case .unix(let path): "unix://\(path)"
        }
    }
}

public enum AutoRestart: String, Sendable, Equatable {
    case never = "false"
    case always = "true"
    case unexpected
}

public struct HealthCheck: Sendable, Equatable {
    public var path: String
    public var interval: Duration
    public var timeout: Duration
    public var fails: Int
    public var startPeriod: Duration

    public init(path: String, interval: Duration = .seconds(5), timeout: Duration = .seconds(2), fails: Int = 3,
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
public struct UserIdentity: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public var home: String

    public init(name: String, uid: UInt32, gid: UInt32, groups: [UInt32], home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
    }
}

/// One worker process, fully resolved: what the supervisor spawns.
public struct ProcessSpec: Sendable, Equatable {
    public var programName: String
    public var groupName: String
    /// `process_name` expanded, e.g. `web_01`.
    public var name: String
    /// `process_num`.
    public var number: Int
    /// Position in the pool, 0-based (`number - numprocs_start`); the port offset.
    public var index: Int
    public var argv: [String]
    public var directory: String?
    public var umask: UInt32?
    /// Variables the config adds: `[supervisord] environment`, the program's
    /// `environment`, then PORT, DROVER_PROCESS_NAME, DROVER_PROCESS_NUM,
    /// SUPERVISOR_PROCESS_NAME, SUPERVISOR_GROUP_NAME. Layered on drover's own.
    public var environment: [String: String]
    public var user: UserIdentity?
    public var port: Int?
    public var stdout: LogTarget
    public var stderr: LogTarget
    public var redirectStderr: Bool
    /// nil: drover decides (true when PID 1 or stdout is not a tty).
    public var stdoutMirror: Bool?
    public var autostart: Bool
    public var startsecs: Duration
    public var startretries: Int
    public var autorestart: AutoRestart
    public var exitcodes: [Int32]
    public var stopsignal: Int32
    public var stopwaitsecs: Duration
    public var stopasgroup: Bool
    public var killasgroup: Bool
    public var priority: Int
    public var health: HealthCheck?
    public var maxRequests: Int
    public var maxMemory: Int
    public var backoffMax: Duration
    /// Why `command` cannot run (empty, or not splittable into words): the
    /// process loads and goes FATAL with this reason instead of starting,
    /// as in supervisord; the rest of the config runs.
    public var commandError: String?
    public var fatalAction: FatalAction = .ignore
    /// `[fcgi-program:x]`: the socket drover binds and passes as fd 0.
    public var fcgiSocket: FcgiSocket?

    /// `group:name`, how the CLI and the logs name a process.
    public var fullName: String { "\(groupName):\(name)" }

    public init(programName: String, groupName: String, name: String, number: Int, index: Int, argv: [String],
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
public struct ProgramConfig: Sendable {
    public var name: String
    public var groupName: String
    public var priority: Int
    public var numprocs: Int
    public var numprocsStart: Int
    /// First worker port; worker i gets `port + i`.
    public var port: Int?
    /// The `numprocs` workers, in process_num order.
    public var processes: [ProcessSpec]
    /// Builds the worker for any process_num, so `scale` can grow a pool
    /// past the configured numprocs with the same expansions and checks.
    public var template: ProcessTemplate

    public init(name: String, groupName: String, priority: Int, numprocs: Int, numprocsStart: Int, port: Int?,
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

    public func process(number: Int) throws(ConfigDiagnostic) -> ProcessSpec {
        try template.make(number, nil)
    }

    /// The worker of `number` listening on `port` instead of its own: a
    /// replacement started beside the worker it replaces (SPEC §3 `port`).
    public func process(number: Int, port: Int) throws(ConfigDiagnostic) -> ProcessSpec {
        try template.make(number, port)
    }

    /// `port … port + 2 × numprocs − 1`: where a pool's workers and their
    /// replacements listen.
    public var portRange: Range<Int>? {
        port.map { $0..<($0 + 2 * max(numprocs, 1)) }
    }
}

/// Makes the ProcessSpec of a given process_num, optionally on another
/// port than its own (see ProgramConfig.process).
public struct ProcessTemplate: Sendable {
    public let make: @Sendable (Int, Int?) throws(ConfigDiagnostic) -> ProcessSpec

    public init(_ make: @escaping @Sendable (Int, Int?) throws(ConfigDiagnostic) -> ProcessSpec) {
        self.make = make
    }
}

public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }
}

public enum BalancePolicy: String, Sendable, Equatable {
    case leastInflight = "least_inflight"
    case roundRobin = "round_robin"
    case p2c
}

public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
    }
}

public struct AccessLog: Sendable, Equatable {
    public enum Format: String, Sendable { case combined, json }
    /// A path, or "stdout".
    public var target: String
    public var format: Format

    public init(target: String, format: Format) {
        self.target = target
        self.format = format
    }
}

/// One `[proxy:x]` section (served by the front proxy). Timeouts are
/// seconds, parsed as a checked Duration and bounded by
/// `ConfigValues.maxDuration`, so always finite, 0 or more.
public struct ProxyConfig: Sendable, Equatable {
    public var name: String
    public var listen: ListenAddress
    /// The program or group whose ready workers serve.
    public var upstream: String
    public var balance: BalancePolicy = .leastInflight
    /// Requests at once per worker (SPEC §3): 1, one CPU-bound request per
    /// worker with the rest in the proxy's queue; 0 is no cap (async workers).
    public var maxInflight: Int = 1
    public var queueSize: Int = 1024
    public var queueTimeout: Double = 30
    public var connectTimeout: Double = 2
    public var readTimeout: Double = 120
    public var clientTimeout: Double = 30
    public var keepaliveTimeout: Double = 75
    public var retries: Int = 1
    public var retryNonIdempotent: Bool = false
    public var clientMaxBodySize: Int = 10 * 1024 * 1024
    public var maxHeaderSize: Int = 16 * 1024
    public var rateLimit: RateLimit?
    public var accessLog: AccessLog?

    public init(name: String, listen: ListenAddress, upstream: String) {
        self.name = name
        self.listen = listen
        self.upstream = upstream
    }
}

public struct SupervisordSettings: Sendable, Equatable {
    /// nil: drover's own log goes to stdout.
    public var logfile: String?
    public var logfileMaxBytes: Int = 50 * 1024 * 1024
    public var logfileBackups: Int = 10
    public var loglevel: LogLevel = .info
    public var pidfile: String?
    public var childlogdir: String = "/tmp"
    public var minfds: Int = 1024
    public var environment: [String: String] = [:]
    public var directory: String?
    public var umask: UInt32?
    public var shutdownTimeout: Duration = .seconds(30)
    public var adminListen: ListenAddress?
    public var adminTokenFile: String?

    public init() {}
}

public struct UnixHTTPServerSettings: Sendable, Equatable {
    public var file: String
    public var chmod: UInt32 = 0o700
    public var chown: String?

    public init(file: String) {
        self.file = file
    }
}

/// One `[group:x]`: programs managed together under one name.
public struct GroupConfig: Sendable, Equatable {
    public var name: String
    /// supervisord orders groups by this when starting (default 999).
    public var priority: Int
    /// Program names, as listed in `programs =`.
    public var programs: [String]

    public init(name: String, priority: Int = 999, programs: [String]) {
        self.name = name
        self.priority = priority
        self.programs = programs
    }
}

/// A whole loaded configuration.
public struct DroverConfig: Sendable {
    /// The main file, absolute; nil for config-less `drover run -- CMD`.
    public var path: String?
    public var supervisord: SupervisordSettings
    public var unixHTTPServer: UnixHTTPServerSettings?
    public var supervisorctlServerURL: String?
    /// In file order; start order is by priority (see Supervisor).
    public var programs: [ProgramConfig]
    public var proxies: [ProxyConfig]
    /// Reported once each, never fatal.
    public var warnings: [ConfigDiagnostic]
    /// The `[group:x]` sections, in file order (programs not in one form
    /// their own group, named like the program, and are not listed here).
    public var groups: [GroupConfig] = []

    public init(path: String?, supervisord: SupervisordSettings = SupervisordSettings(),
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
