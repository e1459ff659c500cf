import CSystem
import Control
import Glibc
import JSON
import System

/// `drover top [--once]` (SPEC §2): a live view of the pools, as `htop` and
/// `pm2 monit` users expect. Per worker: state, pid, CPU %, RSS, requests
/// in flight, requests/s, upstream p50/p99; per proxy: requests/s, queue
/// length and wait. Refreshed every `--interval` (1 s), `q` or Ctrl-C quits;
/// `--once` prints one frame, measured over one interval, for scripts.
///
/// The daemon's `GET /v1/status` gives states, counters and latencies; CPU
/// and RSS come from /proc (the CLI runs on the daemon's host), summed over
/// each worker's process group as `max_memory` measures it.
enum TopCommand {
    struct Options {
        var socket: String?
        var config: String?
        var once = false
        var interval = 1.0
    }

    static func parse(_ arguments: [String]) throws -> Options {
        let sub = DroverCommand.subcommands.first { $0.name == "top" }
        var options = Options()
        var index = 0
        func value(_ flag: String) throws -> String {
            guard index + 1 < arguments.count else {
                throw DroverCommand.UsageError(message: "missing value for '\(flag)'", subcommand: sub)
            }
            index += 1
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--socket=") { options.socket = String(argument.dropFirst(9)); index += 1; continue }
            if argument.hasPrefix("--config=") { options.config = String(argument.dropFirst(9)); index += 1; continue }
            switch argument {
            case "-s", "--socket": options.socket = try value(argument)
            case "-c", "--config": options.config = try value(argument)
            case "--once": options.once = true
            case "--interval", "-d", "--delay":
                let text = try value(argument)
                guard let seconds = Double(text), seconds >= 0.1, seconds <= 3600 else {
                    throw DroverCommand.UsageError(message: "'\(text)' is not a number of seconds between 0.1 and 3600", subcommand: sub)
                }
                options.interval = seconds
            default:
                throw DroverCommand.UsageError(message: "unexpected argument '\(argument)'", subcommand: sub)
            }
            index += 1
        }
        return options
    }

    static func run(_ arguments: [String]) throws -> Int32 {
        _ = cs_unblock_all_signals()
        Glibc.signal(SIGINT, SIG_DFL)
        Glibc.signal(SIGTERM, SIG_DFL)
        let options = try parse(arguments)
        let client = ControlClient(socketPath: ControlClient.discover(
            explicit: options.socket, configPath: options.config, environment: ProcessEnvironment.current()))
        let first: Sample
        do throws(ControlClient.Unreachable) { first = try Sample.take(client) } catch {
            DroverCommand.writeErr("drover: \(error)\n")
            return ClientCommands.Exit.unreachable
        }
        if options.once {
            usleep(useconds_t(options.interval * 1_000_000))
            let second: Sample
            do throws(ControlClient.Unreachable) { second = try Sample.take(client) } catch {
                DroverCommand.writeErr("drover: \(error)\n")
                return ClientCommands.Exit.unreachable
            }
            print(frame(previous: first, current: second, window: first).joined(separator: "\n"))
            return ClientCommands.Exit.ok
        }
        return LiveView(client: client, interval: options.interval).run(first: first)
    }

    // MARK: Samples

    /// One look at the daemon and /proc, at one instant.
    struct Sample {
        var at: Double
        var wallNs: Int64
        var status: JSONValue
        var proc: ProcTable

        static func take(_ client: ControlClient) throws(ControlClient.Unreachable) -> Sample {
            let response = try client.request("GET", "/v1/status")
            guard response.status == 200, let json = response.json else {
                let message = response.json?["error"]?.stringValue ?? "HTTP \(response.status)"
                throw ControlClient.Unreachable(socket: client.socketPath, reason: "bad status answer: \(message)")
            }
            return Sample(at: Double(cs_monotonic_ns()) / 1e9, wallNs: WallClock.nowNanoseconds(), status: json, proc: ProcTable.read())
        }
    }

    /// CPU ticks and RSS of every process, and their sums per process group.
    struct ProcTable {
        struct Entry {
            var pgrp: Int32
            var ticks: UInt64
            var rssBytes: Int
        }

        var byPid: [Int32: Entry] = [:]
        var ticksByGroup: [Int32: UInt64] = [:]
        var rssByGroup: [Int32: Int] = [:]

        static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

        static func read() -> ProcTable {
            var table = ProcTable()
            guard let dir = opendir("/proc") else { return table }
            defer { closedir(dir) }
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            var buffer = [UInt8](repeating: 0, count: 1024)
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                guard let pid = Int32(name) else { continue }
                let fd = open("/proc/\(name)/stat", O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                let n = Glibc.read(fd, &buffer, buffer.count)
                close(fd)
                guard n > 0, let parsed = parseStat(buffer[..<n], pageSize: pageSize) else { continue }
                table.byPid[pid] = parsed
                table.ticksByGroup[parsed.pgrp, default: 0] += parsed.ticks
                table.rssByGroup[parsed.pgrp, default: 0] += parsed.rssBytes
            }
            return table
        }

        /// `/proc/PID/stat`: after the `(comm)` come state (3), ppid, pgrp (5),
        /// …, utime (14), stime (15), …, rss in pages (24).
        static func parseStat(_ bytes: ArraySlice<UInt8>, pageSize: Int) -> Entry? {
            guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
            let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
            guard fields.count > 21 else { return nil }
            func number(_ index: Int) -> Int64? { Int64(String(decoding: fields[index], as: UTF8.self)) }
            guard let pgrp = number(2), let utime = number(11), let stime = number(12), let rss = number(21) else { return nil }
            return Entry(pgrp: Int32(truncatingIfNeeded: pgrp), ticks: UInt64(max(0, utime + stime)), rssBytes: Int(rss) * pageSize)
        }

        /// A worker runs in its own session: count its whole process group
        /// (its children too); otherwise only the process.
        func ticks(of pid: Int32) -> UInt64? {
            guard let entry = byPid[pid] else { return nil }
            return entry.pgrp == pid ? ticksByGroup[pid] : entry.ticks
        }

        func rss(of pid: Int32) -> Int? {
            guard let entry = byPid[pid] else { return nil }
            return entry.pgrp == pid ? rssByGroup[pid] : entry.rssBytes
        }
    }

    // MARK: Frame

    /// How far back `p50`/`p99` look: long enough for a steady figure,
    /// short enough that a slow minute an hour ago is gone.
    static let latencyWindow = 10.0

    /// The lines of one frame; rates are over `previous → current`,
    /// latency percentiles over `window → current` (the oldest look of the
    /// last `latencyWindow` seconds); `-` without the earlier look.
    static func frame(previous: Sample?, current: Sample, window: Sample? = nil, message: String? = nil) -> [String] {
        let status = current.status
        let elapsed = previous.map { current.at - $0.at } ?? 0
        let processes = status["processes"]?.arrayValue ?? []
        let proxies = status["proxies"]?.arrayValue ?? []
        let before = previous?.status["processes"]?.arrayValue ?? []
        let proxiesBefore = previous?.status["proxies"]?.arrayValue ?? []
        let processesThen = window?.status["processes"]?.arrayValue ?? []
        let proxiesThen = window?.status["proxies"]?.arrayValue ?? []

        /// p50 and p99 of what `histogram` counted since the window began.
        func percentiles(_ histogram: JSONValue?, then: JSONValue?) -> (String, String) {
            guard window != nil, let now = WindowedHistogram(json: histogram) else { return ("-", "-") }
            let recent = now.since(WindowedHistogram(json: then))
            return (latency(recent.quantile(0.5)), latency(recent.quantile(0.99)))
        }

        func rate(_ now: Double?, _ then: Double?) -> Double? {
            guard let now, let then, elapsed > 0 else { return nil }
            return max(0, now - then) / elapsed
        }

        var workerRows: [[String]] = []
        var totalRate = 0.0, totalCPU = 0.0, ready = 0
        for process in processes {
            let name = process["name"]?.stringValue ?? "?"
            let state = process["state"]?.stringValue ?? "?"
            let health = process["health"]?.stringValue
            if state == "RUNNING" && health == "ready" { ready += 1 }
            let pid = process["pid"]?.intValue.map { Int32($0) }
            var cpu: Double?
            if let pid, let previous, elapsed > 0, let now = current.proc.ticks(of: pid), let then = previous.proc.ticks(of: pid), now >= then {
                cpu = Double(now - then) / ProcTable.ticksPerSecond / elapsed * 100
            }
            let rss = process["rss_bytes"]?.intValue ?? pid.flatMap { current.proc.rss(of: $0) }
            let old = before.first { $0["name"]?.stringValue == name }
            let requestRate = rate(process["requests"]?.doubleValue, old?["requests"]?.doubleValue)
            totalRate += requestRate ?? 0
            totalCPU += cpu ?? 0
            let then = processesThen.first { $0["name"]?.stringValue == name }
            let (p50, p99) = percentiles(process["upstream_histogram"], then: then?["upstream_histogram"])
            workerRows.append([
                name, state, health ?? "-", pid.map { String($0) } ?? "-",
                cpu.map { fixed($0, 1) } ?? "-", rss.map(bytes) ?? "-",
                String(process["inflight"]?.intValue ?? 0),
                requestRate.map { fixed($0, 1) } ?? "-", p50, p99,
            ])
        }

        var proxyRows: [[String]] = []
        for proxy in proxies {
            let name = proxy["name"]?.stringValue ?? "?"
            let traffic = proxy["traffic"]
            let old = proxiesBefore.first { $0["name"]?.stringValue == name }?["traffic"]
            let requestRate = rate(traffic?["requests"]?.doubleValue, old?["requests"]?.doubleValue)
            var errors = 0.0
            for (code, count) in traffic?["by_status"]?.objectValue ?? [] where code.hasPrefix("5") { errors += count.doubleValue ?? 0 }
            let then = proxiesThen.first { $0["name"]?.stringValue == name }?["traffic"]
            let (wait50, wait99) = percentiles(traffic?["queue_wait_histogram"], then: then?["queue_wait_histogram"])
            proxyRows.append([
                name, proxy["listen"]?.stringValue ?? "?", proxy["upstream"]?.stringValue ?? "?",
                "\(proxy["ready_workers"]?.intValue ?? 0)/\(proxy["total_workers"]?.intValue ?? 0)",
                requestRate.map { fixed($0, 1) } ?? "-",
                traffic?["queue_length"]?.intValue.map { String($0) } ?? "-",
                wait50, wait99,
                traffic?["retries"]?.intValue.map { String($0) } ?? "-",
                traffic.map { _ in String(Int(errors)) } ?? "-",
            ])
        }

        var lines: [String] = []
        let pid = status["pid"]?.intValue.map { String($0) } ?? "?"
        let uptime = DurationText.uptime(status["uptime"]?.doubleValue ?? 0)
        var head = "drover \(status["version"]?.stringValue ?? "") pid \(pid), up \(uptime), "
        head += "\(ready)/\(processes.count) ready"
        if previous != nil { head += ", \(fixed(totalRate, 1)) req/s, CPU \(fixed(totalCPU, 1))%" }
        if let window { head += ", p50/p99 of the last \(fixed(current.at - window.at, 0))s" }
        head += "  " + WallClock.timeOfDay(current.wallNs)
        lines.append(head)
        if let message { lines.append(message) }
        lines.append("")
        if !proxyRows.isEmpty {
            lines += table(["PROXY", "LISTEN", "UPSTREAM", "READY", "REQ/S", "QUEUE", "WAIT p50", "WAIT p99", "RETRIES", "5XX"],
                           proxyRows, right: [3, 4, 5, 6, 7, 8, 9])
            lines.append("")
        }
        if workerRows.isEmpty {
            lines.append("no processes")
        } else {
            lines += table(["NAME", "STATE", "HEALTH", "PID", "CPU%", "RSS", "INFLIGHT", "REQ/S", "p50", "p99"],
                           workerRows, right: [3, 4, 5, 6, 7, 8, 9])
        }
        return lines
    }

    static func table(_ headers: [String], _ rows: [[String]], right: Set<Int>) -> [String] {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        return ([headers] + rows).map { row in
            var line = ""
            for (index, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: max(0, widths[index] - cell.count))
                if index > 0 { line += "  " }
                line += right.contains(index) ? pad + cell : (index == row.count - 1 ? cell : cell + pad)
            }
            return line
        }
    }

    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = Int((value * scale).rounded())
        guard decimals > 0 else { return String(scaled) }
        let whole = scaled / Int(scale), fraction = abs(scaled % Int(scale))
        let text = String(fraction)
        return "\(whole).\(String(repeating: "0", count: decimals - text.count))\(text)"
    }

    /// `4.0K`, `12.3M`, `1.2G`.
    static func bytes(_ count: Int) -> String {
        let value = Double(count)
        if value >= 1_073_741_824 { return fixed(value / 1_073_741_824, 1) + "G" }
        if value >= 1_048_576 { return fixed(value / 1_048_576, 1) + "M" }
        return fixed(value / 1024, 1) + "K"
    }

    /// `250us`, `4.5ms`, `25ms`, `1.20s`; `-` when not measured yet.
    static func latency(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite else { return "-" }
        if seconds < 0.001 { return "\(Int((seconds * 1_000_000).rounded()))us" }
        if seconds < 0.01 { return fixed(seconds * 1000, 1) + "ms" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        return fixed(seconds, 2) + "s"
    }
}

// MARK: - The live view

/// The terminal settings to put back, reachable from a signal handler.
nonisolated(unsafe) private var savedTerminal = termios()
nonisolated(unsafe) private var terminalIsRaw = false
private let leaveScreen: [UInt8] = Array("\u{1B}[?25h\u{1B}[?1049l".utf8)

private func restoreTerminal() {
    if terminalIsRaw {
        _ = tcsetattr(0, TCSAFLUSH, &savedTerminal)
        terminalIsRaw = false
    }
    leaveScreen.withUnsafeBytes { _ = Glibc.write(1, $0.baseAddress, $0.count) }
}

/// SIGINT, SIGTERM, SIGHUP, SIGQUIT while the view is up: the terminal is
/// given back as it was (tcsetattr and write are async-signal-safe).
private func restoreAndExit(_ signal: Int32) {
    restoreTerminal()
    _exit(128 + signal)
}

struct LiveView {
    let client: ControlClient
    let interval: Double

    func run(first: TopCommand.Sample) -> Int32 {
        let interactive = isatty(0) == 1
        if interactive {
            tcgetattr(0, &savedTerminal)
            var raw = savedTerminal
            // Keys arrive one at a time, unechoed; Ctrl-C arrives as a byte.
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG | IEXTEN)
            raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
            withUnsafeMutableBytes(of: &raw.c_cc) { cc in
                cc[Int(VMIN)] = 0
                cc[Int(VTIME)] = 0
            }
            terminalIsRaw = tcsetattr(0, TCSAFLUSH, &raw) == 0
        }
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            Glibc.signal(signal) { restoreAndExit($0) }
        }
        write("\u{1B}[?1049h\u{1B}[?25l")
        defer { restoreTerminal() }

        var previous: TopCommand.Sample? = nil
        var current = first
        // The looks of the last latencyWindow seconds, oldest first.
        var history = [first]
        draw(TopCommand.frame(previous: nil, current: first))
        // The first rates after a short look, then every interval.
        var next = now() + min(interval, 0.3)
        var key = [UInt8](repeating: 0, count: 64)
        while true {
            let wait = max(0, next - now())
            var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let ready = interactive ? poll(&descriptor, 1, Int32((wait * 1000).rounded(.up))) : 0
            if !interactive { usleep(useconds_t(wait * 1_000_000)) }
            if ready > 0 {
                let n = Glibc.read(0, &key, key.count)
                if n == 0 && descriptor.revents & Int16(POLLHUP) != 0 { return 0 }
                if n > 0 && key[..<n].contains(where: { $0 == UInt8(ascii: "q") || $0 == UInt8(ascii: "Q") || $0 == 3 || $0 == 4 }) {
                    return 0
                }
            }
            guard now() >= next else { continue }
            next = max(next + interval, now() + interval / 2)
            do throws(ControlClient.Unreachable) {
                let sample = try TopCommand.Sample.take(client)
                previous = current
                current = sample
                history.append(sample)
                while history.count > 2 && history[1].at <= sample.at - TopCommand.latencyWindow { history.removeFirst() }
                draw(TopCommand.frame(previous: previous, current: current, window: history.first))
            } catch {
                draw(TopCommand.frame(previous: nil, current: current,
                                      message: "cannot reach the daemon at \(error.socket): \(error.reason); retrying"))
            }
        }
    }

    private func now() -> Double { Double(cs_monotonic_ns()) / 1e9 }

    private func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }

    private func draw(_ lines: [String]) {
        var size = winsize()
        let width = ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 200
        let height = size.ws_row > 0 ? Int(size.ws_row) : 1000
        var shown = lines
        shown.append("")
        shown.append("q or Ctrl-C quits; refresh every \(TopCommand.fixed(interval, 1))s")
        if shown.count > height { shown = Array(shown.prefix(height)) }
        var out = "\u{1B}[H"
        for (index, line) in shown.enumerated() {
            out += String(line.prefix(width)) + "\u{1B}[K" + (index == shown.count - 1 ? "" : "\r\n")
        }
        out += "\u{1B}[J"
        write(out)
    }
}
