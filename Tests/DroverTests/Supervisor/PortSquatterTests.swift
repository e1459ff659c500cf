import Foundation
import Testing
@testable import Supervision

/// Issue 14: the port is the worker's. Another process on a worker's port
/// is named before a spawn, and its answers never pass the worker's probe.
@Suite struct PortSquatterTests {
    static let squatter = """
        import http.server, sys
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.send_header("Content-Length", "8"); self.end_headers(); self.wfile.write(b"squatter")
            def log_message(self, *a): pass
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """

    @Test func aSquatterIsNamedAndTheWorkerNeverJoinsThePool() throws {
        let port = TestPorts.block(3)
        let dir = TempDir("squatter")
        defer { dir.cleanup() }
        let script = dir.write("squatter.py", Self.squatter)
        let squatter = Process()
        squatter.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        squatter.arguments = ["python3", script, String(port)]
        try squatter.run()
        defer {
            // python3 may be a shim that runs the real one as its child: kill the listener itself.
            for holder in PortOwnership().listeners(port: port) ?? [] { kill(holder.pid, SIGKILL) }
            squatter.terminate()
            squatter.waitUntilExit()
        }
        #expect(waitUntil(timeout: 10) { RawHTTP.get(port: port, "/")?.body == "squatter" })
        let holder = try #require(PortOwnership().listeners(port: port)?.first)

        let daemon = try ControlledDrover("""
            [program:web]
            command = \(Binaries.demoWorker) --port %(port)s
            port = \(port)
            health_path = /health
            startretries = 1
            backoff_max = 200ms

            [proxy:front]
            listen = 127.0.0.1:\(port + 1)
            upstream = web
            queue_timeout = 1s
            """, label: "squat")
        // Before: the worker died of EADDRINUSE, drover logged `RUNNING … passed
        // health check` (the squatter's answer) and proxied to the squatter.
        let named = "port \(port) is in use by pid \(holder.pid) ("
        #expect(holder.command.hasSuffix("\(script) \(port)"), "\(holder)")
        #expect(daemon.drover.waitForLine("web:web cannot start: \(named)", "\(script) \(port))") != nil)
        #expect(waitUntil(timeout: 10) { daemon.status().first?["state"] as? String == "FATAL" }, "\(daemon.status())")
        #expect(daemon.status().first?["spawn_error"] as? String == named + holder.command + ")", "\(daemon.status())")
        #expect(daemon.drover.lines(containing: "passed health check").isEmpty)
        let reply = RawHTTP.get(port: port + 1, "/")
        #expect(reply?.status == 503, "never the squatter's answer: \(reply.map { "\($0.status) \($0.body)" } ?? "none")")
    }

    @Test func aProbeAnsweredOutsideTheWorkersSessionDoesNotCount() throws {
        let port = TestPorts.block(2)
        // The worker starts a server in a session of its own (as a daemonizing
        // child would) and never listens itself: the answers are not its own.
        let daemon = try ControlledDrover("""
            [program:web]
            command = /bin/sh -c 'setsid python3 %(here)s/squatter.py %(port)s & exec sleep 60'
            port = \(port)
            health_path = /health
            health_interval = 100ms
            startsecs = 0
            """, label: "stranger", files: ["squatter.py": Self.squatter])
        defer {
            for holder in PortOwnership().listeners(port: port) ?? [] { kill(holder.pid, SIGKILL) }
        }
        #expect(daemon.drover.waitForLine("web:web", "answers from pid", "not from this worker") != nil)
        usleep(300_000)
        let web = daemon.status().first ?? [:]
        #expect(web["state"] as? String == "RUNNING" && web["health"] as? String == "starting", "\(web)")
        #expect(daemon.drover.lines(containing: "ready (health check passed)").isEmpty)
    }

    @Test func procTablesParse() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
               1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1
               2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
            """
        #expect(PortOwnership.listeningInodes(inTable: table, port: 8080) == [4242], "LISTEN rows only")
        #expect(PortOwnership.listeningInodes(inTable: table, port: 8081) == [4444])
        #expect(PortOwnership.listeningInodes(inTable: table, port: 9) == [])
        #expect(PortOwnership.session(fromStat: "4242 (python3 a) b) S 1 4242 4240 0 -1 4194560") == 4240,
                "the command name may hold spaces and parentheses")
        #expect(PortOwnership.session(fromStat: "garbage") == nil)
    }

    /// The kernel's own answer (sock_diag, LISTEN sockets only) agrees with
    /// the tables on a real listener of this process, and sees it gone.
    @Test func theKernelNamesThisProcessesListener() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        #expect(listen(listener, 4) == 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let ownership = PortOwnership()
        let fromKernel = ownership.listeningInodes(port: port)
        // The same /proc by another name: read from its tables, not asked.
        let fromTables = PortOwnership(procRoot: "/proc/self/..").listeningInodes(port: port)
        #expect(fromKernel.count == 1)
        #expect(fromKernel == fromTables, "sock_diag and /proc/net/tcp agree")
        #expect(ownership.holdsListener(pid: getpid(), port: port))
        #expect(!ownership.holdsListener(pid: getppid(), port: port))
        close(listener)
        #expect(ownership.listeningInodes(port: port).isEmpty)
    }
}
