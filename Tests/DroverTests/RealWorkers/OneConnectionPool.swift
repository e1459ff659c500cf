import Foundation
import Testing

/// The kind of worker people really run: Python's stdlib `HTTPServer`
/// (not the threading one) with an HTTP/1.1 handler. It serves one
/// connection at a time and stays on a keep-alive connection until the
/// peer closes it, so a second connection waits in its accept backlog.
///
/// `GET /health` → 200; `GET /work?ms=N` sleeps N ms, then answers with its
/// pid. Every request it answers is appended to the served log as
/// `PID PATH` (the worker's own count of what reached it).
enum OneConnectionWorker {
    static let source = """
        import http.server, os, sys, time
        from urllib.parse import urlsplit, parse_qs

        port = int(sys.argv[1])
        served = open(sys.argv[2], "a", buffering=1)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path == "/health":
                    body = b"ok\\n"
                elif url.path == "/work":
                    ms = int(parse_qs(url.query).get("ms", ["0"])[0])
                    time.sleep(ms / 1000)
                    body = b"worked %d ms\\n" % ms
                else:
                    self.send_error(404)
                    return
                served.write("%d %s\\n" % (os.getpid(), self.path))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Worker-Pid", str(os.getpid()))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """

    static let python: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/python3"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()
}

/// A real drover with a pool of `OneConnectionWorker`s behind its
/// `[proxy:front]`, with drover's defaults unless a test says otherwise
/// (the point is what a new user gets).
///
///     [program:py]  numprocs N, port P, health_path = /health
///     [proxy:front] listen = 127.0.0.1:L, upstream = py
final class OneConnectionPool: @unchecked Sendable {
    let dir: TempDir
    let drover: DroverHarness
    let socket: String
    let listenPort: Int
    let workerPort: Int
    let numprocs: Int

    struct Options {
        var numprocs = 3
        /// Replaces the Python worker's command line.
        var command: String?
        /// Extra `[program:py]` lines.
        var program = ""
        /// Extra `[proxy:front]` lines.
        var proxy = ""
        /// Extra `[supervisord]` lines.
        var supervisord = ""
        /// Whole extra sections. In every option `{DIR}` is the test's directory.
        var sections = ""
        var waitUntilServing = true
    }

    init(_ label: String, _ options: Options = Options(), sourceLocation: SourceLocation = #_sourceLocation) throws {
        let python = try #require(OneConnectionWorker.python, "python3 on PATH", sourceLocation: sourceLocation)
        numprocs = options.numprocs
        let base = TestPorts.block(2 * options.numprocs + 1)
        listenPort = base
        workerPort = base + 1
        dir = TempDir("real-\(label)")
        socket = dir.file("drover.sock")
        let script = dir.write("one_connection_worker.py", OneConnectionWorker.source)
        let dirPath = dir.path
        func fill(_ text: String) -> String { text.replacingOccurrences(of: "{DIR}", with: dirPath) }
        let config = """
            [supervisord]
            shutdown_timeout = 5s
            \(fill(options.supervisord))

            [unix_http_server]
            file = \(socket)

            [program:py]
            command = \(options.command.map(fill) ?? "\(python) \(script) %(port)s \(dir.file("served.log"))")
            process_name = py_%(process_num)02d
            numprocs = \(options.numprocs)
            port = \(workerPort)
            health_path = /health
            stopwaitsecs = 2
            stdout_logfile = NONE
            \(fill(options.program))

            [proxy:front]
            listen = 127.0.0.1:\(listenPort)
            upstream = py
            \(fill(options.proxy))

            \(fill(options.sections))
            """
        let path = dir.write("supervisor.conf", config)
        drover = try DroverHarness(arguments: ["run", "-c", path], directory: dir.path)
        let socketPath = socket
        try #require(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: socketPath) },
                     "control socket appears; drover said:\n\(drover.transcript)", sourceLocation: sourceLocation)
        if options.waitUntilServing {
            try #require(waitUntil(timeout: 20) { self.readyWorkers().count == options.numprocs },
                         "all \(options.numprocs) workers ready; status: \(status()); drover said:\n\(drover.transcript)",
                         sourceLocation: sourceLocation)
        }
    }

    deinit {
        drover.terminate()
        dir.cleanup()
    }

    // MARK: Clients

    func connect(timeout: Double = 5) -> WireClient? {
        WireClient.tcp(listenPort, timeout: timeout)
    }

    /// `GET target` on a fresh connection with `Connection: close`.
    func get(_ target: String, timeout: Double = 5) -> WireResponse {
        guard let client = connect(timeout: timeout) else {
            var r = WireResponse(); r.problem = "connect to \(listenPort) failed"; return r
        }
        return client.exchange("GET \(target) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    }

    // MARK: What the workers saw

    /// Lines of a file in the test's directory (none when it is missing).
    func lines(of name: String) -> [String] {
        ((try? String(contentsOfFile: dir.file(name), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Every request the workers answered, as `PID PATH`, in order.
    func served() -> [String] { lines(of: "served.log") }

    // MARK: Control

    func status() -> [[String: Any]] {
        (RawHTTP.json(RawHTTP.get(unix: socket, "/v1/status"))?["processes"] as? [[String: Any]]) ?? []
    }

    /// The `traffic` object of `[proxy:front]` in the status document.
    func traffic() -> [String: Any] {
        let proxies = RawHTTP.json(RawHTTP.get(unix: socket, "/v1/status"))?["proxies"] as? [[String: Any]]
        return proxies?.first?["traffic"] as? [String: Any] ?? [:]
    }

    func queueLength() -> Int? { traffic()["queue_length"] as? Int }

    func workers() -> [[String: Any]] {
        status().filter { $0["program"] as? String == "py" }
    }

    func readyWorkers() -> [[String: Any]] {
        workers().filter { $0["state"] as? String == "RUNNING" && $0["health"] as? String == "ready" }
    }

    /// name → (pid, restarts) of the pool's workers.
    func pidsAndRestarts() -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for worker in workers() {
            if let name = worker["name"] as? String {
                out[name] = [worker["pid"] as? Int ?? 0, worker["restarts"] as? Int ?? -1]
            }
        }
        return out
    }

    func inflight() -> Int {
        workers().compactMap { $0["inflight"] as? Int }.reduce(0, +)
    }
}
