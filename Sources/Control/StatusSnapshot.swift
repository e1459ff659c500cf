import Config
import Proxy
import Supervision
import System

/// One process as every status view shows it (CLI lines, `/v1/status`
/// JSON, `/metrics`, the admin page). The daemon fills it on its reactor
/// thread; renderers are pure functions of it, so they are tested without
/// a running supervisor.
package struct ProcessSnapshot: Sendable, Equatable {
    /// `group:process`, the name commands take.
    package var name: String
    package var group: String
    package var program: String
    package var process: String
    package var state: ProcessState
    /// Meaningful only while RUNNING; the JSON writes null otherwise.
    package var health: HealthFlag
    /// Whether a health check (`health_path`) or a proxy in front gives
    /// `health` a meaning; without either, every RUNNING process is "ready"
    /// and the status line says nothing about it, as supervisorctl's.
    package var hasReadiness: Bool
    package var pid: Int32?
    /// Seconds since the current process was spawned; nil when there is no process.
    package var uptimeSeconds: Double?
    /// When it was last spawned; nil when it never was.
    package var startedWallNs: Int64?
    /// When it last exited or was stopped; nil when it never did.
    package var exitedWallNs: Int64?
    /// How it last ended, kept structured so views can say "exited with 1"
    /// or "killed by SIGKILL" without parsing text.
    package var lastExit: ExitStatus?
    /// Seconds until the next start attempt (BACKOFF).
    package var retryInSeconds: Double?
    /// Why the last spawn failed (no such file, permission…).
    package var spawnError: String?
    package var restarts: Int
    package var inflight: Int
    /// Resident memory of the process group, when measured.
    package var rssBytes: Int?
    package var port: Int?
    /// Proxied requests this worker's slot has answered (across restarts).
    package var requests: UInt64 = 0
    /// Time at the worker per proxied request: bucket bounds of p50 and p99.
    package var upstreamP50: Double?
    package var upstreamP99: Double?
    /// The whole histogram behind them (cumulative), so `drover top` can
    /// read percentiles over a window from the difference of two looks.
    package var upstreamTime: SecondsHistogram?
    /// The last lines of stderr (stdout when redirected) before the last
    /// exit: why it died.
    package var lastOutput: [String] = []
    /// The worker's slot (CPUs, pinned cores, NUMA node, GPU); nil outside a pool.
    package var slot: Slot?

    package init(name: String, group: String, program: String, process: String, state: ProcessState,
                health: HealthFlag = .starting, pid: Int32? = nil, uptimeSeconds: Double? = nil,
                startedWallNs: Int64? = nil, exitedWallNs: Int64? = nil, lastExit: ExitStatus? = nil,
                retryInSeconds: Double? = nil, spawnError: String? = nil, restarts: Int = 0, inflight: Int = 0,
                rssBytes: Int? = nil, port: Int? = nil, hasReadiness: Bool = true) {
        self.name = name
        self.hasReadiness = hasReadiness
        self.group = group
        self.program = program
        self.process = process
        self.state = state
        self.health = health
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.startedWallNs = startedWallNs
        self.exitedWallNs = exitedWallNs
        self.lastExit = lastExit
        self.retryInSeconds = retryInSeconds
        self.spawnError = spawnError
        self.restarts = restarts
        self.inflight = inflight
        self.rssBytes = rssBytes
        self.port = port
    }

    /// `exit status 1` / `terminated by SIGKILL`, as the event log words it.
    package var exitDescription: String? { lastExit?.description }

    /// The health flag where it means something: on a RUNNING process.
    package var runningHealth: HealthFlag? { state == .running ? health : nil }
}

extension ProcessSnapshot {
    /// Reads a managed process at `now`. Call on the thread that owns it.
    init(_ managed: ManagedProcess, now: Instant, rssBytes: Int? = nil, proxied: Bool = false) {
        let running = managed.pid > 0
        self.init(
            name: managed.name, group: managed.spec.groupName, program: managed.spec.programName,
            process: managed.spec.name, state: managed.state, health: managed.health,
            pid: running ? managed.pid : nil,
            uptimeSeconds: running ? managed.spawnedAt.map { now.seconds(since: $0) } : nil,
            startedWallNs: managed.everStarted && managed.spawnedWallNs != 0 ? managed.spawnedWallNs : nil,
            exitedWallNs: managed.exitedWallNs != 0 ? managed.exitedWallNs : nil,
            lastExit: managed.lastExit,
            retryInSeconds: managed.state == .backoff ? managed.retryAt.map { $0.seconds(since: now) } : nil,
            spawnError: managed.lastSpawnError,
            restarts: managed.restarts, inflight: managed.inflight,
            rssBytes: rssBytes, port: managed.spec.port, hasReadiness: proxied || managed.spec.health != nil)
        requests = managed.requestsTotal
        upstreamP50 = managed.upstreamTime.quantile(0.5)
        upstreamP99 = managed.upstreamTime.quantile(0.99)
        upstreamTime = SecondsHistogram(managed.upstreamTime)
        lastOutput = managed.lastExitOutput
        slot = managed.spec.slot
    }
}

/// One `[proxy:x]` as status views show it.
package struct ProxySnapshot: Sendable, Equatable {
    package var name: String
    /// As configured: `127.0.0.1:8080`, `:8080`, `unix:/path`.
    package var listen: String
    /// The program or group whose ready workers serve.
    package var upstream: String
    package var readyWorkers: Int
    package var totalWorkers: Int
    /// What the proxy has done since drover started (nil where no proxy runs).
    package var traffic: ProxyTraffic?

    package init(name: String, listen: String, upstream: String, readyWorkers: Int, totalWorkers: Int,
                traffic: ProxyTraffic? = nil) {
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.readyWorkers = readyWorkers
        self.totalWorkers = totalWorkers
        self.traffic = traffic
    }
}

/// The whole supervisor at one instant.
package struct StatusSnapshot: Sendable, Equatable {
    package var supervisorPid: Int32
    package var version: String
    package var startedWallNs: Int64
    package var uptimeSeconds: Double
    package var configPath: String?
    /// In the supervisor's order (groups by priority, then process number).
    package var processes: [ProcessSnapshot]
    package var proxies: [ProxySnapshot]

    package init(supervisorPid: Int32, version: String, startedWallNs: Int64, uptimeSeconds: Double,
                configPath: String? = nil, processes: [ProcessSnapshot] = [], proxies: [ProxySnapshot] = []) {
        self.supervisorPid = supervisorPid
        self.version = version
        self.startedWallNs = startedWallNs
        self.uptimeSeconds = uptimeSeconds
        self.configPath = configPath
        self.processes = processes
        self.proxies = proxies
    }
}
