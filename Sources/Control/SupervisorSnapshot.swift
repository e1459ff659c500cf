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
        let upstreams = Set(proxies.map(\.upstream))
        let list = processes.filter { !$0.removing }.map { process -> ProcessSnapshot in
            ProcessSnapshot(process, now: now, rssBytes: process.pid > 0 ? memory[process.pid] : nil,
                            proxied: upstreams.contains(process.spec.programName) || upstreams.contains(process.spec.groupName))
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
