@testable import Config
@testable import Logs
@testable import Supervision
@testable import System

/// Tests that play the supervisor move a process the only way it moves:
/// events into its lifecycle (the actions are the supervisor's business).
extension ManagedProcess {
    static func forTest(_ spec: ProcessSpec, policy: Lifecycle.Policy = Lifecycle.Policy()) -> ManagedProcess {
        ManagedProcess(spec: spec, policy: policy,
                       stdout: OutputCapture(ringCapacity: 64, sink: nil, mirror: nil, prefix: spec.name), stderr: nil)
    }

    func drive(_ events: Lifecycle.Event..., at now: Instant = .now) {
        for event in events { _ = lifecycle.handle(event, now: now) }
    }

    /// RUNNING and ready, as after a passed port probe.
    func driveToReady(pid: Int32, at now: Instant = .now) {
        drive(.start, .spawned(pid: pid), .timerFired(.startsecs), at: now)
        if lifecycle.policy.readiness != .immediate { drive(.timerFired(.probe), .probeFinished(.passed), at: now) }
    }
}

extension Lifecycle.Policy {
    static func portAccepts(port: Int) -> Lifecycle.Policy {
        var policy = Lifecycle.Policy()
        policy.readiness = .portAccepts
        policy.port = port
        return policy
    }
}
