import System

/// Carries a probe of `process` (GET `path`, answered within `timeout`) some other way than a connection of its own, or returns nil to
/// leave it to `HealthProbe`. The daemon routes the probes of a worker in a
/// proxy's upstream through that proxy's connections to it, so a worker
/// that serves one connection at a time is never probed on a second one it
/// cannot accept (WorkerProbe.swift). The completion is never called
/// before this returns.
package typealias HealthProbeTransport = (_ process: ManagedProcess, _ path: String, _ timeout: Duration,
                                  _ completion: @escaping (HealthProbe.Outcome) -> Void) -> ProbeInFlight?
