import Config
import JSON
import Proxy
import System

/// The `/v1/status` document (and `drover status --json`). Keys are
/// snake_case; every key is always present, null when it does not apply, so
/// a script can index without checking. Times of day are unix seconds
/// (float, millisecond precision); durations are seconds.
extension ProcessSnapshot {
    package var json: JSONValue {
        var exitCode: JSONValue = .null
        var exitSignal: JSONValue = .null
        switch lastExit {
        case .exited(let code): exitCode = .number(code)
        case .signaled(let signal, _): exitSignal = .string(Signals.name(signal))
        case nil: break
        }
        return .object([
            ("name", .string(name)),
            ("group", .string(group)),
            ("program", .string(program)),
            ("process", .string(process)),
            ("state", .string(state.rawValue)),
            ("health", .string(runningHealth?.rawValue)),
            ("pid", .number(pid)),
            ("uptime", .number(uptimeSeconds)),
            ("started_at", .number(startedWallNs.map(StatusSnapshot.unixSeconds))),
            ("exited_at", .number(exitedWallNs.map(StatusSnapshot.unixSeconds))),
            ("exit_status", .string(exitDescription)),
            ("exit_code", exitCode),
            ("exit_signal", exitSignal),
            ("retry_in", .number(retryInSeconds)),
            ("spawn_error", .string(spawnError)),
            ("last_output", .array(lastOutput.map { .string($0) })),
            ("restarts", .number(restarts)),
            ("inflight", .number(inflight)),
            ("rss_bytes", .number(rssBytes)),
            ("port", .number(port)),
            ("slot", slot?.json ?? .null),
            ("requests", .number(Double(requests))),
            ("upstream_p50", .number(upstreamP50.flatMap { $0.isFinite ? $0 : nil })),
            ("upstream_p99", .number(upstreamP99.flatMap { $0.isFinite ? $0 : nil })),
            ("upstream_histogram", upstreamTime?.json ?? .null),
            ("description", .string(description)),
        ])
    }
}

extension ProxySnapshot {
    package var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("name", .string(name)),
            ("listen", .string(listen)),
            ("upstream", .string(upstream)),
            ("ready_workers", .number(readyWorkers)),
            ("total_workers", .number(totalWorkers)),
        ]
        if let traffic { members.append(("traffic", traffic.json)) }
        return .object(members)
    }
}

extension ProxyTraffic {
    package var json: JSONValue {
        .object([
            ("requests", .number(Double(requests))),
            ("by_status", .object(requestsByStatus.map { (String($0.status), .number(Double($0.count))) })),
            ("queue_length", .number(queueLength)),
            ("queue_wait_p50", upstreamQuantile(queueWait, 0.5)),
            ("queue_wait_p99", upstreamQuantile(queueWait, 0.99)),
            ("upstream_p50", upstreamQuantile(upstreamTime, 0.5)),
            ("upstream_p99", upstreamQuantile(upstreamTime, 0.99)),
            ("queue_wait_histogram", queueWait.json),
            ("upstream_histogram", upstreamTime.json),
            ("retries", .number(Double(retries))),
            ("refused_queue_full", .number(Double(refusedQueueFull))),
            ("refused_overload", .number(Double(refusedOverload))),
            ("queue_timeouts", .number(Double(queueTimeouts))),
            ("client_aborts", .number(Double(clientAborts))),
            ("client_patience_seconds", clientPatienceSeconds.map { .number($0) } ?? .null),
            ("client_connections", .number(clientConnections)),
            ("upstream_connections", .number(upstreamConnections)),
        ])
    }

    private func upstreamQuantile(_ histogram: SecondsHistogram, _ q: Double) -> JSONValue {
        guard let value = histogram.quantile(q), value.isFinite else { return .null }
        return .number(value)
    }
}

extension SecondsHistogram {
    /// Cumulative since the process (or proxy) started: `bounds` in seconds,
    /// one count per bound plus the overflow bucket last (not cumulative
    /// across buckets), and the sum of every observation.
    package var json: JSONValue {
        .object([
            ("bounds", .array(bounds.map { .number($0) })),
            ("counts", .array(counts.map { .number(Double($0)) })),
            ("sum", .number(sum)),
            ("count", .number(Double(count))),
        ])
    }
}

extension StatusSnapshot {
    package var json: JSONValue {
        .object([
            ("pid", .number(supervisorPid)),
            ("version", .string(version)),
            ("started_at", .number(StatusSnapshot.unixSeconds(startedWallNs))),
            ("uptime", .number(uptimeSeconds)),
            ("config", .string(configPath)),
            ("processes", .array(processes.map(\.json))),
            ("proxies", .array(proxies.map(\.json))),
        ])
    }
}

extension StatusSnapshot {
    /// Wall-clock nanoseconds as unix seconds with millisecond precision (a
    /// Double cannot hold the nanoseconds exactly, and nobody needs them).
    static func unixSeconds(_ wallNs: Int64) -> Double {
        Double(wallNs / 1_000_000) / 1000
    }
}

extension Slot {
    /// `{"index":0,"cpus":1,"cores":[0],"node":0,"gpu":null}`; `cores` is
    /// empty when the worker is not pinned.
    package var json: JSONValue {
        .object([
            ("index", .number(index)),
            ("cpus", .number(cpus)),
            ("cores", .array(cores.map { .number($0) })),
            ("node", .number(node)),
            ("gpu", .string(gpu)),
        ])
    }
}
