/// supervisord's process states, with its names (scripts parse them).
package enum ProcessState: String, Sendable, CaseIterable {
    case stopped = "STOPPED"
    case starting = "STARTING"
    case running = "RUNNING"
    case backoff = "BACKOFF"
    case stopping = "STOPPING"
    case exited = "EXITED"
    case fatal = "FATAL"
}

/// drover's health flag on a RUNNING worker. Only `ready` workers are in a
/// proxy's upstream.
package enum HealthFlag: String, Sendable {
    /// In its start period: not yet answered a probe.
    case starting
    case ready
    /// Failed `health_fails` probes in a row; being restarted.
    case unhealthy
    /// Out of the upstream, finishing in-flight requests.
    case draining
}

/// The exponential restart delay: 1s, 2s, 4s … capped at `backoff_max`.
package enum Backoff {
    package static func delay(afterFailures failures: Int, cap: Duration) -> Duration {
        guard failures > 0 else { return .zero }
        let exponent = min(failures - 1, 30)
        return min(.seconds(1 << exponent), max(cap, .zero))
    }
}
