/// What a health check found, however it reached the worker: on a
/// connection of its own (Supervision's HealthProbe) or through a proxy's
/// pooled connection (Proxy's WorkerProbe). Shared here so neither layer
/// needs the other's types.
package enum ProbeOutcome: Equatable, Sendable {
    case passed
    case failed(String)
    /// Nothing listens on the port yet (connection refused): a worker still
    /// starting, asked again within milliseconds since asking costs it nothing.
    case refused
    case timedOut
    /// Never reached the worker: every slot it has was answering a proxied
    /// request for the whole timeout (not a failure, SPEC §5).
    case busy
}

/// A health check under way; the supervisor cancels it when the worker
/// goes (its completion is then never called).
package protocol ProbeInFlight: AnyObject {
    func cancel()
}
