import Config
import Glibc
import Supervision
import System

extension Supervisor {
    /// The state every renderer reads: status, `--json`, metrics, the page.
    package func snapshot(startedWallNs: Int64, startedAt: Instant, configPath: String?, proxies: [ProxyConfig],
                  withMemory: Bool = false) -> StatusSnapshot {
        let now = Instant.now
        let memory = withMemory ? MemoryWatch.rssByProcessGroup() : [:]
        let list = processes.filter { !$0.removing }.map { process -> ProcessSnapshot in
            var snapshot = ProcessSnapshot(
                name: process.name, group: process.spec.groupName, program: process.spec.programName,
                process: process.spec.name, state: process.state, health: process.health,
                pid: process.pid > 0 ? process.pid : nil,
                uptimeSeconds: process.pid > 0 ? process.spawnedAt.map { now.seconds(since: $0) } : nil,
                startedWallNs: process.spawnedWallNs > 0 ? process.spawnedWallNs : nil,
                exitedWallNs: process.exitedWallNs > 0 ? process.exitedWallNs : nil,
                lastExit: process.lastExit,
                retryInSeconds: process.state == .backoff ? process.retryAt.map { $0.seconds(since: now) } : nil,
                spawnError: process.lastSpawnError,
                restarts: process.restarts, inflight: process.inflight,
                rssBytes: process.pid > 0 ? memory[process.pid] : nil,
                port: process.spec.port)
            snapshot.requests = process.requestsTotal
            snapshot.upstreamP50 = process.upstreamTime.quantile(0.5)
            snapshot.upstreamP99 = process.upstreamTime.quantile(0.99)
            return snapshot
        }
        let proxySnapshots = proxies.map { proxy -> ProxySnapshot in
            let pool = list.filter { $0.program == proxy.upstream || $0.group == proxy.upstream }
            return ProxySnapshot(name: proxy.name, listen: proxy.listen.description, upstream: proxy.upstream,
                                 readyWorkers: pool.filter { $0.state == .running && $0.health == .ready }.count,
                                 totalWorkers: pool.count)
        }
        return StatusSnapshot(supervisorPid: getpid(), version: DroverVersion.current, startedWallNs: startedWallNs,
                              uptimeSeconds: now.seconds(since: startedAt), configPath: configPath,
                              processes: list, proxies: proxySnapshots)
    }

}
