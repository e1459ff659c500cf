import Config
import Glibc
import Logs
import System

/// One supervised worker: its spec, where it is in the state machine, and
/// what it owns at run time (pid, timers, output streams, health probe).
package final class ManagedProcess {
    package internal(set) var spec: ProcessSpec
    /// The spec the config gives this worker's slot (its own port). Differs
    /// from `spec` only in the port when it was started beside a worker it
    /// replaced; reload compares against this one.
    var baseSpec: ProcessSpec
    package internal(set) var state: ProcessState = .stopped
    package internal(set) var health: HealthFlag = .starting
    /// 0 when not running.
    package internal(set) var pid: pid_t = 0
    package internal(set) var spawnedAt: Instant?
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
    package internal(set) var failures = 0
    /// Times the supervisor started it again after the first start.
    package internal(set) var restarts = 0
    package internal(set) var retryAt: Instant?
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

    var stateTimer: TimerID?
    var startsecsTimer: TimerID?
    var probe: ProbeInFlight?
    var probeTimer: TimerID?
    /// Round trip of the last health probe that passed while the worker was
    /// idle: the proxy's floor for a request's cost before it has measured one.
    package var probeSeconds: Double?
    var healthFailures = 0
    var stopCompletions: [() -> Void] = []
    var restartAfterStop = false
    var killedDuringStop = false
    package var everStarted = false
    /// Called after each state or health change; return true to stop watching.
    var observers: [(ManagedProcess) -> Bool] = []
    /// Being stopped for good by a scale-down.
    package var removing = false
    /// A recycle of this worker is queued or under way.
    var recycling = false
    /// Being replaced (rolling restart, reload, recycle), or the replacement
    /// itself until it takes over: operator start/stop/restart are refused
    /// meanwhile, so the replacement and the operator never fight over it.
    var replacing = false
    /// Spawn errors are said once, not at every backoff retry.
    var spawnNotice = FaultNotice()

    init(spec: ProcessSpec, stdout: OutputCapture, stderr: OutputCapture?) {
        self.spec = spec
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
