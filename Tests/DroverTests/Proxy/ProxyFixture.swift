import Foundation
import Testing

/// A real drover running a pool of demo workers (with `--test-routes`)
/// behind its `[proxy:front]`, on ports and a directory of its own.
///
///     [program:w]  numprocs N, port P (replacements may use P … P+2N−1)
///     [proxy:front] listen = 127.0.0.1:L, upstream = w, max_inflight = 1
final class ProxyFixture: @unchecked Sendable {
    let dir: TempDir
    let drover: DroverHarness
    let socket: String
    let numprocs: Int
    /// The proxy's TCP port (also reserved when the proxy listens elsewhere).
    let listenPort: Int
    /// Worker i listens on `workerPort + i`.
    let workerPort: Int

    struct Options {
        var numprocs = 2
        /// Extra `[program:w]` lines (`startsecs = 0` unless set here). In every option `{P}` is replaced by
        /// the first worker port, `{L}` by the proxy port, `{A}` by a spare port (admin),
        /// `{DIR}` by the directory.
        var program = ""
        /// Extra arguments to the demo worker.
        var workerArguments = ""
        /// Extra `[proxy:front]` lines (`max_inflight = 1` and `queue_timeout = 2s` unless overridden here).
        var proxy = ""
        /// Replaces `127.0.0.1:L` as the proxy's listen address.
        var listen: String?
        var supervisord = ""
        /// Wait for every worker to be ready and the proxy to answer.
        var waitUntilServing = true
        /// Run drover through this wrapper (e.g. prlimit) with these arguments before drover's path.
        var wrapper: (executable: String, arguments: [String])?
    }

    init(_ label: String, _ options: Options = Options(), sourceLocation: SourceLocation = #_sourceLocation) throws {
        numprocs = options.numprocs
        let base = TestPorts.block(2 * options.numprocs + 2)
        listenPort = base
        workerPort = base + 1
        dir = TempDir("proxy-\(label)")
        socket = dir.file("drover.sock")
        let dirPath = dir.path, firstWorker = workerPort, spare = base + 2 * options.numprocs + 1
        func fill(_ text: String) -> String {
            text.replacingOccurrences(of: "{P}", with: String(firstWorker))
                .replacingOccurrences(of: "{L}", with: String(base))
                .replacingOccurrences(of: "{A}", with: String(spare))
                .replacingOccurrences(of: "{DIR}", with: dirPath)
        }
        let programLines = options.program.contains("startsecs") ? fill(options.program) : "startsecs = 0\n" + fill(options.program)
        var proxyLines = fill(options.proxy)
        if !proxyLines.contains("max_inflight") { proxyLines = "max_inflight = 1\n" + proxyLines }
        if !proxyLines.contains("queue_timeout") { proxyLines = "queue_timeout = 2s\n" + proxyLines }
        let config = """
            [supervisord]
            shutdown_timeout = 2s
            \(fill(options.supervisord))

            [unix_http_server]
            file = \(socket)

            [program:w]
            command = \(Binaries.demoWorker) --test-routes --port %(port)s \(fill(options.workerArguments))
            process_name = w_%(process_num)02d
            numprocs = \(options.numprocs)
            port = \(workerPort)
            stopwaitsecs = 2
            stdout_logfile = NONE
            \(programLines)

            [proxy:front]
            listen = \(options.listen.map(fill) ?? "127.0.0.1:\(listenPort)")
            upstream = w
            \(proxyLines)
            """
        let path = dir.write("supervisor.conf", config)
        if let wrapper = options.wrapper {
            drover = try DroverHarness(arguments: wrapper.arguments + [Binaries.drover, "run", "-c", path],
                                       directory: dir.path, executable: wrapper.executable)
        } else {
            drover = try DroverHarness(arguments: ["run", "-c", path], directory: dir.path)
        }
        let socketPath = socket
        try #require(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: socketPath) },
                     "control socket appears; drover said:\n\(drover.transcript)", sourceLocation: sourceLocation)
        if options.waitUntilServing {
            try #require(waitUntil(timeout: 10) { self.readyWorkers().count == options.numprocs },
                         "all \(options.numprocs) workers ready; status: \(status()); drover said:\n\(drover.transcript)",
                         sourceLocation: sourceLocation)
            for i in 0..<options.numprocs {
                let port = workerPort + i
                try #require(waitUntil(timeout: 10) { WireClient.tcp(port) != nil }, "worker \(i) listens on \(port)", sourceLocation: sourceLocation)
            }
            if options.listen == nil {
                try #require(waitUntil(timeout: 10) { self.get("/pid").status == 200 },
                             "the proxy answers on 127.0.0.1:\(listenPort); drover said:\n\(drover.transcript)",
                             sourceLocation: sourceLocation)
            }
        }
    }

    deinit {
        drover.terminate()
        dir.cleanup()
    }

    var pid: Int32 { drover.pid }

    // MARK: Clients

    func connect(timeout: Double = 5, receiveBuffer: Int? = nil) -> WireClient? {
        WireClient.tcp(listenPort, timeout: timeout, receiveBuffer: receiveBuffer)
    }

    /// One request (exact bytes) on a fresh connection; the response read
    /// by its framing (a failed connect yields status 0).
    func send(_ request: String, method: String? = nil, timeout: Double = 5) -> WireResponse {
        guard let client = connect(timeout: timeout) else {
            var r = WireResponse(); r.problem = "connect to \(listenPort) failed"; return r
        }
        return client.exchange(request, method: method)
    }

    /// `GET target` with `Connection: close`.
    func get(_ target: String, headers: [String] = [], timeout: Double = 5) -> WireResponse {
        send("GET \(target) HTTP/1.1\r\nHost: t\r\n" + headers.map { $0 + "\r\n" }.joined() + "Connection: close\r\n\r\n", timeout: timeout)
    }

    // MARK: Control

    func status() -> [[String: Any]] {
        (RawHTTP.json(RawHTTP.get(unix: socket, "/v1/status"))?["processes"] as? [[String: Any]]) ?? []
    }

    /// Processes RUNNING and ready.
    func readyWorkers() -> [[String: Any]] {
        status().filter { $0["state"] as? String == "RUNNING" && $0["health"] as? String == "ready" }
    }

    func workerPids() -> [Int32] {
        status().compactMap { ($0["pid"] as? Int).map(Int32.init) }.filter { $0 > 0 }
    }

    /// Sum of the workers' `inflight` counts.
    func inflight() -> Int {
        status().compactMap { $0["inflight"] as? Int }.reduce(0, +)
    }

    /// Runs `drover ARGS -s SOCKET`.
    @discardableResult
    func cli(_ arguments: String..., timeout: Double = 30) throws -> ProcessResult {
        try runCommand(Binaries.drover, arguments + ["-s", socket], timeout: timeout)
    }
}

// MARK: - Assertions and helpers

/// An error answer drover made itself: the status, a JSON body
/// `{"error": "...", "code": "..."}`, and, when `closes`, `Connection: close`
/// followed by the connection being closed.
func expectDroverError(_ r: WireResponse, _ status: Int, closes: Bool, on client: WireClient? = nil,
                       _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status == status, "\(what): expected \(status), got:\n\(r.summary)", sourceLocation: sourceLocation)
    guard r.status == status else { return }
    // RFC 9110 §6.6.1: drover has a clock, so its own answers carry Date.
    #expect(r.headers("date").count == 1 && isIMFFixdate(r.header("date") ?? ""),
            "\(what): one Date, an IMF-fixdate:\n\(r.summary)", sourceLocation: sourceLocation)
    #expect(r.header("content-type")?.lowercased().hasPrefix("application/json") == true,
            "\(what): Content-Type application/json:\n\(r.summary)", sourceLocation: sourceLocation)
    let object = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any]
    #expect((object?["error"] as? String)?.isEmpty == false && (object?["code"] as? String)?.isEmpty == false,
            "\(what): body is {\"error\":\"...\",\"code\":\"...\"}: \(r.text)", sourceLocation: sourceLocation)
    if closes {
        #expect(r.connectionTokens.contains("close"), "\(what): Connection: close:\n\(r.summary)", sourceLocation: sourceLocation)
        if let client {
            let (ending, extra) = client.waitForClose(timeout: 3)
            #expect(ending != .timeout, "\(what): connection closed after the error", sourceLocation: sourceLocation)
            #expect(extra.isEmpty, "\(what): nothing after the error answer: \(String(decoding: extra, as: UTF8.self))",
                    sourceLocation: sourceLocation)
        }
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7), within a minute of now.
func isIMFFixdate(_ value: String) -> Bool {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
    guard value.utf8.count == 29, let date = formatter.date(from: value) else { return false }
    return abs(date.timeIntervalSinceNow) < 60 && formatter.string(from: date) == value
}

/// A `Retry-After` that is a whole number of seconds.
func expectRetryAfter(_ r: WireResponse, sourceLocation: SourceLocation = #_sourceLocation) {
    let value = r.header("retry-after") ?? ""
    #expect(!value.isEmpty && value.allSatisfy(\.isNumber), "Retry-After is integer seconds:\n\(r.summary)",
            sourceLocation: sourceLocation)
}

/// What the worker received, split from an `/echo` answer: the request line,
/// the header lines exactly as received, and the body.
struct Echoed {
    var requestLine = ""
    var headerLines: [String] = []
    var body = ""
    /// Every line of the forwarded head ended in CRLF.
    var allCRLF = true

    init(_ r: WireResponse) {
        let text = r.text
        guard let end = text.range(of: "\r\n\r\n") else { return }
        let head = String(text[..<end.lowerBound])
        body = String(text[end.upperBound...])
        let lines = head.components(separatedBy: "\r\n")
        allCRLF = !lines.contains { $0.contains("\n") || $0.contains("\r") }
        requestLine = lines[0]
        headerLines = Array(lines.dropFirst())
    }

    func values(_ name: String) -> [String] {
        headerLines.compactMap { line in
            guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name.lowercased() else { return nil }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }

    func has(_ name: String) -> Bool { !values(name).isEmpty }
}

/// Runs `body` on a thread of its own and hands back its result later: for
/// clients that must wait concurrently (the test's cooperative thread must
/// not be the only one blocked in recv).
final class Background<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: T?
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> T) {
        let thread = Thread { [self] in
            let value = body()
            lock.lock(); result = value; lock.unlock()
            done.signal()
        }
        thread.start()
    }

    /// The result, waiting up to `timeout`; nil if it is not there by then.
    func value(timeout: Double = 15) -> T? {
        if done.wait(timeout: .now() + timeout) == .success { done.signal() }
        lock.lock(); defer { lock.unlock() }
        return result
    }

    var isDone: Bool {
        lock.lock(); defer { lock.unlock() }
        return result != nil
    }
}

/// The local non-loopback IPv4 addresses of this machine.
func nonLoopbackIPv4() -> [String] {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0, let first = list else { return [] }
    defer { freeifaddrs(list) }
    var out: [String] = []
    var node: UnsafeMutablePointer<ifaddrs>? = first
    while let n = node {
        if let addr = n.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET) {
            var sin = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            inet_ntop(AF_INET, &sin.sin_addr, &text, socklen_t(INET_ADDRSTRLEN))
            let s = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !s.hasPrefix("127.") { out.append(s) }
        }
        node = n.pointee.ifa_next
    }
    return out
}
