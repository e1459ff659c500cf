import CSystem
import Control
import Glibc
import Logs
import Supervision
import System

/// sd_notify(3) without libsystemd (SPEC §8): under systemd (`Type=notify`)
/// `$NOTIFY_SOCKET` names a unix datagram socket, a path or, starting with
/// `@`, an abstract name. drover says
///
/// - `READY=1` once the pools are ready (every proxied pool has a ready
///   worker; without proxies, every autostart program is RUNNING),
/// - `RELOADING=1` (with `MONOTONIC_USEC=`, as `Type=notify-reload` wants)
///   and `READY=1` again around a reload (SIGHUP, `drover reload`),
/// - `STOPPING=1` when a shutdown begins,
/// - `WATCHDOG=1` every half of `$WATCHDOG_USEC` (a reactor timer: a stuck
///   reactor stops the pings, which is what the watchdog is for),
/// - `STATUS=...` whenever the one-line summary changes.
///
/// Everything runs on the reactor thread; a datagram the socket cannot take
/// right now is kept and retried shortly, in order.
final class SystemdNotifier {
    /// Variables meant for drover alone: workers never see them (a gunicorn
    /// or Python worker that finds `NOTIFY_SOCKET` would answer for itself).
    static let variables: Set<String> = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    static func workerEnvironment(_ environment: [String: String]) -> [String: String] {
        environment.filter { !variables.contains($0.key) }
    }

    enum Phase: Equatable {
        case starting, ready, reloading, stopping
    }

    private let reactor: Reactor
    private let log: EventLog
    private let socket: Int32
    private var address = sockaddr_un()
    private var addressLength: socklen_t = 0
    let socketName: String
    /// Seconds between `WATCHDOG=1` pings; nil without a watchdog.
    let watchdogInterval: Duration?
    private(set) var phase: Phase = .starting
    private var readiness: () -> Bool = { true }
    private var summary: () -> String = { "" }
    private var lastStatus = ""
    private var pending: [String] = []
    private var retryTimer: TimerID?
    private var watchdogTimer: TimerID?
    private var reportedFailure = false

    /// Nil when drover does not run under systemd (or the socket cannot be used).
    init?(environment: [String: String], reactor: Reactor, log: EventLog) {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else { return nil }
        self.reactor = reactor
        self.log = log
        socketName = name
        var interval: Duration?
        if let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 {
            // WATCHDOG_PID, when set, says which process the watchdog is for.
            if let owner = environment["WATCHDOG_PID"], !owner.isEmpty, Int32(owner) != getpid() {
                log.info("drover", "sd_notify: WATCHDOG_PID \(owner) is not this process; no watchdog pings")
            } else {
                // Pinged at half the deadline, as sd_watchdog_enabled advises.
                interval = .microseconds(Int64(clamping: usec / 2))
            }
        }
        watchdogInterval = interval
        let path = Array(name.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.first == UInt8(ascii: "/") || path.first == UInt8(ascii: "@"), path.count < capacity else {
            log.warn("drover", "sd_notify: NOTIFY_SOCKET=\(name) is not a unix socket path or @abstract name this drover can use; not notifying")
            return nil
        }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            // An abstract name starts with a NUL byte instead of the `@`.
            if path.first == UInt8(ascii: "@") { raw[0] = 0 }
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        // A path counts its terminating NUL; an abstract name is exactly its bytes.
        addressLength = socklen_t(pathOffset + path.count + (path.first == UInt8(ascii: "@") ? 0 : 1))
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else {
            log.warn("drover", "sd_notify: cannot open a datagram socket: \(String(cString: strerror(errno)))")
            return nil
        }
        socket = fd
    }

    deinit {
        Glibc.close(socket)
    }

    /// Starts following the supervisor: every state or health change may make
    /// the pools ready; the watchdog starts ticking. Call after `startAll()`.
    func start(supervisor: Supervisor, isReady: @escaping () -> Bool) {
        readiness = isReady
        summary = { [unowned supervisor] in Self.describe(supervisor.processes.filter { !$0.removing }) }
        let previous = supervisor.onChange
        supervisor.onChange = { [unowned self] process in
            previous?(process)
            self.update()
        }
        if let watchdogInterval {
            log.info("drover", "sd_notify: \(socketName), watchdog ping every \(DurationText.tenths(watchdogInterval.secondsValue))")
            scheduleWatchdog(after: watchdogInterval)
        } else {
            log.info("drover", "sd_notify: \(socketName)")
        }
        update()
    }

    /// After any change: READY=1 the first time the pools are ready (and
    /// after a reload), STATUS= when the summary changed.
    func update() {
        var fields: [String] = []
        if phase == .starting && readiness() {
            phase = .ready
            fields.append("READY=1")
        }
        if phase != .stopping { appendStatus(prefix: phase == .ready ? "" : "starting: ", to: &fields) }
        if !fields.isEmpty { send(fields) }
    }

    /// Around `reload`: RELOADING=1 now; READY=1 again once the pools are
    /// ready under the new config (at once when they already are).
    func reloading() {
        guard phase != .stopping else { return }
        phase = .reloading
        lastStatus = "reloading the configuration"
        send(["RELOADING=1", "MONOTONIC_USEC=\(cs_monotonic_ns() / 1000)", "STATUS=" + lastStatus])
    }

    func reloaded() {
        guard phase == .reloading else { return }
        phase = .starting
        update()
    }

    func stopping(_ reason: String) {
        guard phase != .stopping else { return }
        phase = .stopping
        lastStatus = "stopping (\(reason))"
        send(["STOPPING=1", "STATUS=" + lastStatus])
    }

    // MARK: Status

    private func appendStatus(prefix: String, to fields: inout [String]) {
        let text = prefix + summary()
        guard text != lastStatus else { return }
        lastStatus = text
        fields.append("STATUS=" + text)
    }

    /// `4 of 4 workers ready` / `2 of 4 workers ready, 1 BACKOFF`.
    static func describe(_ processes: [ManagedProcess]) -> String {
        let serving = processes.filter(\.isServing).count
        var text = "\(serving) of \(processes.count) process\(processes.count == 1 ? "" : "es") ready"
        var others: [String: Int] = [:]
        for process in processes where process.state != .running && process.state != .stopped {
            others[process.state.rawValue, default: 0] += 1
        }
        for (state, count) in others.sorted(by: { $0.key < $1.key }) { text += ", \(count) \(state)" }
        return text
    }

    // MARK: Watchdog

    private func scheduleWatchdog(after interval: Duration) {
        watchdogTimer = reactor.schedule(after: interval) { [unowned self] in
            self.send(["WATCHDOG=1"])
            self.scheduleWatchdog(after: interval)
        }
    }

    // MARK: Sending

    private func send(_ fields: [String]) {
        pending.append(fields.joined(separator: "\n"))
        flush()
    }

    private func flush() {
        while let message = pending.first {
            let result = message.utf8CString.withUnsafeBufferPointer { text in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.sendto(socket, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, addressLength)
                    }
                }
            }
            if result >= 0 {
                pending.removeFirst()
                reportedFailure = false
                continue
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK || code == ENOBUFS {
                // systemd is busy: keep the order, try again shortly.
                if !reactor.isScheduled(retryTimer) {
                    retryTimer = reactor.schedule(after: .milliseconds(20)) { [unowned self] in self.flush() }
                }
                return
            }
            if !reportedFailure {
                reportedFailure = true
                log.warn("drover", "sd_notify: cannot send to \(socketName): \(String(cString: strerror(code)))")
            }
            pending.removeFirst()
        }
    }
}
