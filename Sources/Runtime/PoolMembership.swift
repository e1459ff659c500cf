import Proxy
import Supervision
import System

/// The daemon's translator between the supervisor and the proxies. State
/// and health changes become membership events (`joined`, `left`,
/// `draining`); the proxies' reports (in flight, served, refused
/// connects) go back to the process they concern; a pool member's health
/// probe goes through its pool. Neither side holds the other's objects:
/// Proxy does not import Supervision at all.
final class PoolMembership {
    private unowned let supervisor: Supervisor
    private let proxies: [ProxyServer]
    /// Every worker that ever joined a pool and is not gone, by the id the
    /// proxies know it by (a draining worker still reports its requests).
    private var members: [WorkerID: Member] = [:]

    /// One worker's end of its proxies' reports: they call it directly
    /// (WorkerReportSink), with no lookup per request.
    private final class Member: WorkerReportSink {
        weak var process: ManagedProcess?
        unowned let supervisor: Supervisor

        init(process: ManagedProcess, supervisor: Supervisor) {
            self.process = process
            self.supervisor = supervisor
        }

        func inflightChanged(by change: Int) {
            guard let process else { return }
            process.inflight = max(0, process.inflight + change)
        }

        func served(seconds: Double?) {
            guard let process else { return }
            if let seconds { process.upstreamTime.observe(seconds) }
            process.requestsTotal += 1
            process.proxiedRequests += 1
            let limit = process.spec.maxRequests
            if limit > 0, process.proxiedRequests >= limit, process.isServing {
                supervisor.recycle(process, reason: "served max_requests = \(limit) proxied requests")
            }
        }

        func connectRefused() {
            if let process { supervisor.recheckReadiness(process) }
        }
    }

    init(supervisor: Supervisor, proxies: [ProxyServer]) {
        self.supervisor = supervisor
        self.proxies = proxies
    }

    static func id(of process: ManagedProcess) -> WorkerID { WorkerID(process.id) }

    /// Whether `process` belongs to `proxy`'s upstream (its program or group).
    static func serves(_ proxy: ProxyServer, _ process: ManagedProcess) -> Bool {
        process.spec.programName == proxy.config.upstream || process.spec.groupName == proxy.config.upstream
    }

    /// After every state or health change of `process`.
    func changed(_ process: ManagedProcess) {
        let id = Self.id(of: process)
        for proxy in proxies where Self.serves(proxy, process) {
            if process.isServing, !process.removing, let port = process.spec.port {
                let member = members[id] ?? Member(process: process, supervisor: supervisor)
                members[id] = member
                proxy.apply(.joined(id, name: process.name, port: port, probeSeconds: process.probeSeconds))
                proxy.attach(member, to: id)
            } else if process.health == .draining && process.hasProcess {
                proxy.apply(.draining(id))
            } else {
                proxy.apply(.left(id))
            }
        }
        if process.removing && !process.hasProcess { members[id] = nil }
    }

    /// Reports from a proxy about a worker it has no sink for (attached
    /// ones go to their Member directly).
    func report(_ report: WorkerReport) {
        switch report {
        case .inflight(let id, let change): members[id]?.inflightChanged(by: change)
        case .served(let id, let seconds): members[id]?.served(seconds: seconds)
        case .connectRefused(let id): members[id]?.connectRefused()
        }
    }

    /// A pool member is probed through that pool's connections to it
    /// (WorkerProbe), never on a second one it may not accept; nil leaves
    /// the probe to a connection of its own.
    func probe(_ process: ManagedProcess, path: String, timeout: Duration,
               completion: @escaping (ProbeOutcome) -> Void) -> ProbeInFlight? {
        for proxy in proxies where Self.serves(proxy, process) {
            if let probe = proxy.probe(Self.id(of: process), path: path, timeout: timeout, completion: completion) {
                return probe
            }
        }
        return nil
    }
}
