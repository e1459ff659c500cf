import Foundation
import Testing

/// A unix datagram socket playing systemd's part for `Type=notify`: it
/// collects what drover sends to `$NOTIFY_SOCKET`, each with its arrival time.
final class FakeSystemd: @unchecked Sendable {
    struct Message {
        var at: Date
        var fields: [String]
        func has(_ field: String) -> Bool { fields.contains(field) }
    }

    /// The value for `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket.
    let notifySocket: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [Message] = []
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(path: String) {
        notifySocket = path
        fd = Self.bound(Array(path.utf8), lengthExtra: 1)
        start()
    }

    init(abstract name: String) {
        notifySocket = "@" + name
        fd = Self.bound([0] + Array(name.utf8), lengthExtra: 0)
        start()
    }

    private static func bound(_ path: [UInt8], lengthExtra: Int) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        precondition(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + lengthExtra)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        precondition(result == 0, "bind: \(String(cString: strerror(errno)))")
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private func start() {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                lock.lock(); let stop = stopped; lock.unlock()
                if stop { break }
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { continue }
                let text = String(decoding: buffer[..<n], as: UTF8.self)
                lock.lock()
                received.append(Message(at: Date(), fields: text.split(separator: "\n").map(String.init)))
                lock.unlock()
            }
            done.signal()
        }
        thread.start()
    }

    var messages: [Message] {
        lock.lock(); defer { lock.unlock() }
        return received
    }

    /// Index of the first message from `start` on with `field`.
    func wait(for field: String, from start: Int = 0, timeout: Double = 10) -> Int? {
        var index: Int?
        _ = waitUntil(timeout: timeout) {
            let all = self.messages
            index = all.indices.first { $0 >= start && all[$0].has(field) }
            return index != nil
        }
        return index
    }

    /// The lifecycle fields in order (WATCHDOG and STATUS left out).
    var events: [String] {
        messages.flatMap { $0.fields.filter { ["READY=1", "RELOADING=1", "STOPPING=1"].contains($0) } }
    }

    func close() {
        lock.lock(); stopped = true; lock.unlock()
        done.wait()
        Glibc.close(fd)
    }
}

/// SPEC §8 / issue 9: drover speaks sd_notify through `$NOTIFY_SOCKET`.
@Suite struct SystemdNotifyTests {
    static func environment(_ extra: [String: String]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "DROVER_SOCKET"] { environment[key] = nil }
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    /// A proxied pool whose workers take 0.6 s to load: READY=1 only once a
    /// worker is ready, watchdog pings at half of WATCHDOG_USEC, RELOADING=1
    /// then READY=1 around SIGHUP, STOPPING=1 on SIGTERM; workers never see
    /// NOTIFY_SOCKET.
    @Test func proxiedPoolLifecycle() throws {
        let dir = TempDir("notify")
        defer { dir.cleanup() }
        let base = TestPorts.block(6)
        let systemd = FakeSystemd(path: dir.file("notify"))
        defer { systemd.close() }
        let config = dir.write("supervisor.conf", """
            [supervisord]
            shutdown_timeout = 2s
            admin_listen = 127.0.0.1:\(base + 5)

            [unix_http_server]
            file = %(here)s/drover.sock

            [program:w]
            command = \(Binaries.demoWorker) --port %(port)s --startup-delay 0.6
            process_name = w_%(process_num)02d
            numprocs = 2
            port = \(base + 1)
            health_path = /health
            health_interval = 1s
            startsecs = 0

            [proxy:front]
            listen = 127.0.0.1:\(base)
            upstream = w
            """)
        let launched = Date()
        let drover = try DroverHarness(arguments: ["run", "-c", config], directory: dir.path,
                                       environment: Self.environment(["NOTIFY_SOCKET": systemd.notifySocket,
                                                                      "WATCHDOG_USEC": "300000"]))
        defer { drover.terminate() }

        let ready = try #require(systemd.wait(for: "READY=1"), "READY=1 arrives; drover said:\n\(drover.transcript)")
        let readyAt = systemd.messages[ready].at
        #expect(readyAt.timeIntervalSince(launched) >= 0.55, "READY=1 before any worker could have loaded")
        // Ready means served: the proxy answers and /readyz agrees.
        #expect(RawHTTP.get(port: base, "/health")?.status == 200)
        #expect(RawHTTP.get(port: base + 5, "/readyz")?.status == 200)
        let before = systemd.messages.prefix(ready + 1).flatMap(\.fields)
        #expect(before.contains { $0.hasPrefix("STATUS=starting") }, "\(before)")
        #expect(systemd.messages[ready].fields.contains { $0.hasPrefix("STATUS=") && $0.contains("ready") })

        // Watchdog: every 0.15 s from the reactor.
        Thread.sleep(forTimeInterval: 0.8)
        let pings = systemd.messages.filter { $0.has("WATCHDOG=1") }.map(\.at)
        #expect(pings.count >= 3, "\(pings.count) WATCHDOG=1 in ~1.4 s")
        let gaps = zip(pings.dropFirst(), pings).map { $0.timeIntervalSince($1) }
        #expect(gaps.allSatisfy { $0 > 0.08 && $0 < 1.0 }, "gaps \(gaps) (every 0.15 s, late only on a starved host)")

        // Workers do not inherit the notify variables.
        let worker = try #require(pidIn(drover.waitForLine("w:w_00", "RUNNING")))
        let environ = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(worker)/environ")), as: UTF8.self)
            .split(separator: "\0").map(String.init)
        #expect(environ.contains { $0.hasPrefix("PORT=") })
        #expect(!environ.contains { $0.hasPrefix("NOTIFY_SOCKET=") || $0.hasPrefix("WATCHDOG_USEC=") }, "\(environ)")

        drover.signal(SIGHUP)
        let reloading = try #require(systemd.wait(for: "RELOADING=1", from: ready + 1), "RELOADING=1 after SIGHUP")
        #expect(systemd.messages[reloading].fields.contains { $0.hasPrefix("MONOTONIC_USEC=") })
        #expect(systemd.wait(for: "READY=1", from: reloading + 1) != nil, "READY=1 after the reload")

        drover.signal(SIGTERM)
        #expect(systemd.wait(for: "STOPPING=1", from: reloading + 1) != nil, "STOPPING=1 on SIGTERM")
        #expect(drover.waitForExit() == 0)
        #expect(systemd.events == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], "\(systemd.messages.map(\.fields))")
    }

    /// Without proxies READY=1 waits for every autostart program to be
    /// RUNNING (startsecs); an abstract `@name` socket works; a watchdog for
    /// another pid (WATCHDOG_PID) is not drover's to feed.
    @Test func abstractSocketWithoutProxies() throws {
        let dir = TempDir("notify-abstract")
        defer { dir.cleanup() }
        let systemd = FakeSystemd(abstract: "drover-test-\(UUID().uuidString.prefix(12))")
        defer { systemd.close() }
        let config = dir.write("supervisor.conf", """
            [unix_http_server]
            file = %(here)s/drover.sock

            [program:sleeper]
            command = /bin/sleep 30
            startsecs = 1

            [program:manual]
            command = /bin/sleep 30
            autostart = false
            """)
        let launched = Date()
        let drover = try DroverHarness(arguments: ["run", "-c", config], directory: dir.path,
                                       environment: Self.environment(["NOTIFY_SOCKET": systemd.notifySocket,
                                                                      "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"]))
        defer { drover.terminate() }
        let ready = try #require(systemd.wait(for: "READY=1"), "READY=1 arrives; drover said:\n\(drover.transcript)")
        #expect(systemd.messages[ready].at.timeIntervalSince(launched) >= 0.9, "READY=1 before startsecs passed")
        #expect(drover.waitForLine("sleeper", "RUNNING") != nil)
        Thread.sleep(forTimeInterval: 0.5)
        drover.signal(SIGTERM)
        #expect(systemd.wait(for: "STOPPING=1") != nil)
        #expect(drover.waitForExit() == 0)
        #expect(systemd.events == ["READY=1", "STOPPING=1"])
        #expect(!systemd.messages.contains { $0.has("WATCHDOG=1") }, "WATCHDOG_PID names another process")
    }
}
