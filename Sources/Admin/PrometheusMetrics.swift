import Config
import Control
import Proxy
import Supervision

/// `GET /metrics`: the snapshot in Prometheus text exposition format 0.0.4
/// (serve as `text/plain; version=0.0.4; charset=utf-8`).
///
/// `drover_process_state` has one series per state for every process, 1 for
/// the current state and 0 for the others (as node_exporter does for systemd
/// units): a series that disappears on a state change makes `rate()` and
/// alerting on `== 0` unreliable, and a fixed set of seven keeps the
/// cardinality bounded. Per-process series that have no value (uptime when
/// there is no process, RSS when not measured) are left out rather than
/// written as 0, which would read as a fact.
package enum PrometheusMetrics {
    package static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    package static func render(_ snapshot: StatusSnapshot) -> String {
        var out = MetricsText()

        out.family("drover_up", .gauge, "1 while the drover supervisor answers.")
        out.sample("drover_up", [], 1)

        out.family("drover_build_info", .gauge, "drover's version, as a label; always 1.")
        out.sample("drover_build_info", [("version", snapshot.version)], 1)

        out.family("drover_uptime_seconds", .gauge, "Seconds since the supervisor started.")
        out.sample("drover_uptime_seconds", [], snapshot.uptimeSeconds)

        out.family("drover_processes", .gauge, "Supervised processes in each state.")
        for state in ProcessState.allCases {
            let count = snapshot.processes.count(where: { $0.state == state })
            out.sample("drover_processes", [("state", state.rawValue)], Double(count))
        }

        let processes = snapshot.processes
        out.family("drover_process_state", .gauge, "1 for the state the process is in, 0 for the others.")
        for process in processes {
            for state in ProcessState.allCases {
                out.sample("drover_process_state", labels(process) + [("state", state.rawValue)], process.state == state ? 1 : 0)
            }
        }

        out.family("drover_process_ready", .gauge, "1 while the process is RUNNING and ready (in its proxy's upstream).")
        for process in processes {
            out.sample("drover_process_ready", labels(process), process.state == .running && process.health == .ready ? 1 : 0)
        }

        out.family("drover_process_restarts_total", .counter, "Times the supervisor started the process again.")
        for process in processes {
            out.sample("drover_process_restarts_total", labels(process), Double(process.restarts))
        }

        out.family("drover_process_uptime_seconds", .gauge, "Seconds since the current process was spawned.")
        for process in processes {
            if let uptime = process.uptimeSeconds {
                out.sample("drover_process_uptime_seconds", labels(process), uptime)
            }
        }

        out.family("drover_process_resident_memory_bytes", .gauge, "Resident memory of the process's process group.")
        for process in processes {
            if let rss = process.rssBytes {
                out.sample("drover_process_resident_memory_bytes", labels(process), Double(rss))
            }
        }

        let slotted = processes.filter { $0.slot != nil }
        if !slotted.isEmpty {
            out.family("drover_process_slot", .gauge,
                       "The worker's slot index; labels say its pinned cores (empty: not pinned), NUMA node and GPU.")
            for process in slotted {
                let slot = process.slot!
                out.sample("drover_process_slot", labels(process) + [
                    ("cores", slot.cores.map(String.init).joined(separator: ",")),
                    ("node", slot.node.map(String.init) ?? ""), ("gpu", slot.gpu ?? ""),
                ], Double(slot.index))
            }
            out.family("drover_process_slot_cpus", .gauge, "CPUs of the worker's slot (its numeric thread count).")
            for process in slotted {
                out.sample("drover_process_slot_cpus", labels(process), Double(process.slot!.cpus))
            }
        }

        out.family("drover_process_inflight", .gauge, "Proxied requests sent to the process and not yet answered.")
        for process in processes {
            out.sample("drover_process_inflight", labels(process), Double(process.inflight))
        }

        if !snapshot.proxies.isEmpty {
            out.family("drover_proxy_ready_workers", .gauge, "Workers of the proxy's upstream that are ready.")
            for proxy in snapshot.proxies {
                out.sample("drover_proxy_ready_workers", proxyLabels(proxy), Double(proxy.readyWorkers))
            }
            out.family("drover_proxy_workers", .gauge, "Workers in the proxy's upstream pool.")
            for proxy in snapshot.proxies {
                out.sample("drover_proxy_workers", proxyLabels(proxy), Double(proxy.totalWorkers))
            }
            renderTraffic(snapshot.proxies, into: &out)
        }
        return out.text
    }

    private static func renderTraffic(_ proxies: [ProxySnapshot], into out: inout MetricsText) {
        let active = proxies.compactMap { proxy in proxy.traffic.map { (proxy, $0) } }
        guard !active.isEmpty else { return }
        out.family("drover_proxy_requests_total", .counter, "Requests answered by the proxy, by HTTP status (drover's own 4xx/5xx included).")
        for (proxy, traffic) in active {
            for entry in traffic.requestsByStatus {
                out.sample("drover_proxy_requests_total", proxyLabels(proxy) + [("code", String(entry.status))], Double(entry.count))
            }
        }
        out.family("drover_proxy_queue_length", .gauge, "Requests waiting in the proxy's queue for a free worker.")
        for (proxy, traffic) in active { out.sample("drover_proxy_queue_length", proxyLabels(proxy), Double(traffic.queueLength)) }
        out.histogram("drover_proxy_queue_wait_seconds", "Time requests waited in the queue before a worker took them.",
                      active.map { (proxyLabels($0.0), $0.1.queueWait) })
        out.histogram("drover_proxy_upstream_seconds", "Time from sending a request to a worker until its answer was complete.",
                      active.map { (proxyLabels($0.0), $0.1.upstreamTime) })
        out.family("drover_proxy_retries_total", .counter, "Requests re-sent to another worker after a refused or reset connection.")
        for (proxy, traffic) in active { out.sample("drover_proxy_retries_total", proxyLabels(proxy), Double(traffic.retries)) }
        out.family("drover_proxy_refused_total", .counter, "Requests answered 503 by the proxy, by reason.")
        for (proxy, traffic) in active {
            out.sample("drover_proxy_refused_total", proxyLabels(proxy) + [("reason", "queue_full")], Double(traffic.refusedQueueFull))
            out.sample("drover_proxy_refused_total", proxyLabels(proxy) + [("reason", "overload")], Double(traffic.refusedOverload))
            out.sample("drover_proxy_refused_total", proxyLabels(proxy) + [("reason", "queue_timeout")], Double(traffic.queueTimeouts))
        }
        out.family("drover_proxy_client_aborts_total", .counter, "Requests whose client left before the answer.")
        for (proxy, traffic) in active { out.sample("drover_proxy_client_aborts_total", proxyLabels(proxy), Double(traffic.clientAborts)) }
        let patient = active.compactMap { proxy, traffic in traffic.clientPatienceSeconds.map { (proxy, $0) } }
        if !patient.isEmpty {
            out.family("drover_proxy_client_patience_seconds", .gauge,
                       "How long clients wait before they close, as they have shown it; admission bounds the wait by it.")
            for (proxy, seconds) in patient { out.sample("drover_proxy_client_patience_seconds", proxyLabels(proxy), seconds) }
        }
        out.family("drover_proxy_connections", .gauge, "Open connections of the proxy, by side.")
        for (proxy, traffic) in active {
            out.sample("drover_proxy_connections", proxyLabels(proxy) + [("side", "client")], Double(traffic.clientConnections))
            out.sample("drover_proxy_connections", proxyLabels(proxy) + [("side", "upstream")], Double(traffic.upstreamConnections))
        }
    }

    static func labels(_ process: ProcessSnapshot) -> [(String, String)] {
        [("process", process.name), ("group", process.group), ("program", process.program)]
    }

    static func proxyLabels(_ proxy: ProxySnapshot) -> [(String, String)] {
        [("proxy", proxy.name), ("upstream", proxy.upstream)]
    }
}

/// The exposition format's lines, with its escaping rules.
struct MetricsText {
    enum Kind: String { case gauge, counter, histogram }

    private(set) var text = ""

    /// `# HELP` and `# TYPE`, written once before a family's samples.
    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.format(value) + "\n"
    }

    /// A histogram family: cumulative `_bucket{le}` series, `_sum`, `_count`.
    mutating func histogram(_ name: String, _ help: String, _ series: [([(String, String)], SecondsHistogram)]) {
        family(name, .histogram, help)
        for (labels, histogram) in series {
            var cumulative: UInt64 = 0
            for (index, bound) in histogram.bounds.enumerated() {
                cumulative += histogram.counts[index]
                sample(name + "_bucket", labels + [("le", Self.format(bound))], Double(cumulative))
            }
            sample(name + "_bucket", labels + [("le", "+Inf")], Double(histogram.count))
            sample(name + "_sum", labels, histogram.sum)
            sample(name + "_count", labels, Double(histogram.count))
        }
    }

    /// Label values escape backslash, double quote and newline.
    static func escapeLabelValue(_ value: String) -> String {
        var out = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// HELP text escapes backslash and newline only.
    static func escapeHelp(_ text: String) -> String {
        var out = ""
        for character in text.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// Whole numbers without a fraction, others in Swift's shortest form
    /// (which Go's ParseFloat reads), and the format's own spellings of the
    /// non-finite values.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value.rounded(.towardZero) == value, abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return value.description
    }
}
