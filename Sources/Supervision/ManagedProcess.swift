import Config
import Glibc
import Logs
import Synchronization
import System

/// One supervised worker: its spec, where it is in the state machine, and
/// what it owns at run time (pid, timers, output streams, health probe).
package final class ManagedProcess {
    /// Never reused: a replacement in the same slot is another process (the
    /// proxies know workers by it, Runtime/PoolMembership.swift).
    package let id: Int
    private static let ids = Atomic<Int>(0)
    package internal(set) var spec: ProcessSpec
    /// The spec the config gives this worker's slot (its own port). Differs
    /// from `spec` only in the port when it was started beside a worker it
    /// replaced; reload compares against this one.
    var baseSpec: ProcessSpec
    /// Where it is in SPEC §4's state machine: the one place its state,
    /// health, failures and restarts change (Lifecycle.swift).
    package internal(set) var lifecycle: Lifecycle
    package var state: ProcessState { lifecycle.state }
    package var health: HealthFlag { lifecycle.health }
    /// 0 when not running.
    package var pid: pid_t { lifecycle.pid }
    package var spawnedAt: Instant? { lifecycle.spawnedAt }
    package internal(set) var spawnedWallNs: Int64 = 0
    package internal(set) var exitedWallNs: Int64 = 0
    package internal(set) var lastExit: ExitStatus?
    package internal(set) var lastSpawnError: String?
    /// The last lines the worker wrote to stderr (stdout when redirected)
    /// before its last exit: why it died, where `status` and the log say it.
    package internal(set) var lastExitOutput: [String] = []
    /// Where this run's output begins in the capture (see `lastExitOutput`).
    var outputMarkAtSpawn: UInt64 = 0
    /// Failed starts in a row; drives the backoff and FATAL.
    package var failures: Int { lifecycle.failures }
    /// Times the supervisor started it again after the first start.
    package var restarts: Int { lifecycle.restarts }
    package var retryAt: Instant? { lifecycle.retryAt }
    package var everStarted: Bool { lifecycle.everStarted }
    package var killedDuringStop: Bool { lifecycle.killedDuringStop }
    /// Requests the proxy has sent and not yet seen finished.
    package var inflight = 0 {
        didSet {
            if inflight == 0 && !idleWaiters.isEmpty {
                let waiters = idleWaiters
                idleWaiters = []
                for waiter in waiters { waiter() }
            }
        }
    }
    /// Requests the proxy completed for this run of the worker (max_requests).
    package var proxiedRequests = 0
    /// Requests the proxy completed in this slot, across restarts.
    package var requestsTotal: UInt64 = 0
    /// Time at the worker per proxied request (for `drover top`).
    package var upstreamTime = LatencyHistogram()
    /// Run once in-flight requests reach 0 (draining before a stop).
    var idleWaiters: [() -> Void] = []

    package let stdout: OutputCapture
    /// nil when `redirect_stderr` sends stderr into stdout's pipe.
    package let stderr: OutputCapture?

    /// The reactor timers its lifecycle asked for.
    var timers: [Lifecycle.Timer: TimerID] = [:]
    var probe: ProbeInFlight?
    /// Round trip of the last health probe that passed while the worker was
    /// idle: the proxy's floor for a request's cost before it has measured one.
    package var probeSeconds: Double?
    var stopCompletions: [() -> Void] = []
    /// The pid it had, kept past its exit for the group's stragglers.
    var exitedPid: pid_t = 0
    /// Called after each state or health change; return true to stop watching.
    var observers: [(ManagedProcess) -> Bool] = []
    /// Being stopped for good by a scale-down or a replacement: once
    /// stopped it never starts again.
    package var removing = false {
        didSet { if removing { lifecycle.markLeaving() } }
    }
    /// A recycle of this worker is queued or under way.
    var recycling = false
    /// Being replaced (rolling restart, reload, recycle), or the replacement
    /// itself until it takes over: operator start/stop/restart are refused
    /// meanwhile, so the replacement and the operator never fight over it.
    var replacing = false
    /// Spawn errors are said once, not at every backoff retry.
    var spawnNotice = FaultNotice()

    init(spec: ProcessSpec, policy: Lifecycle.Policy, stdout: OutputCapture, stderr: OutputCapture?) {
        self.id = Self.ids.add(1, ordering: .relaxed).newValue
        self.spec = spec
        self.lifecycle = Lifecycle(policy: policy)
        self.baseSpec = spec
        self.stdout = stdout
        self.stderr = stderr
    }

    package var name: String { spec.fullName }

    /// The stream a worker's error output lands in.
    var errorOutput: OutputCapture { stderr ?? stdout }

    /// In a proxy's upstream: RUNNING and ready.
    package var isServing: Bool { state == .running && health == .ready }

    package var hasProcess: Bool { pid > 0 }
}
