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

    /// A class, so looking one up (three times per proxied request, in
    /// `report`) moves a reference, not a copy of a weak one.
    private final class Member {
        weak var process: ManagedProcess?
        init(process: ManagedProcess) { self.process = process }
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
                members[id] = Member(process: process)
                proxy.apply(.joined(id, name: process.name, port: port, probeSeconds: process.probeSeconds))
            } else if process.health == .draining && process.hasProcess {
                proxy.apply(.draining(id))
            } else {
                proxy.apply(.left(id))
            }
        }
        if process.removing && !process.hasProcess { members[id] = nil }
    }

    func report(_ report: WorkerReport) {
        switch report {
        case .inflight(let id, let change):
            guard let process = members[id]?.process else { return }
            process.inflight = max(0, process.inflight + change)
        case .served(let id, let seconds):
            guard let process = members[id]?.process else { return }
            if let seconds { process.upstreamTime.observe(seconds) }
            process.requestsTotal += 1
            process.proxiedRequests += 1
            let limit = process.spec.maxRequests
            if limit > 0, process.proxiedRequests >= limit, process.isServing {
                supervisor.recycle(process, reason: "served max_requests = \(limit) proxied requests")
            }
        case .connectRefused(let id):
            if let process = members[id]?.process { supervisor.recheckReadiness(process) }
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
