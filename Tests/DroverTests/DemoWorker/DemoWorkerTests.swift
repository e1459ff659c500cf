// End-to-end tests of the real `drover-demo-worker` binary over real TCP
// sockets. The client below is deliberately raw (Glibc sockets, hand-parsed
// HTTP) so the tests can send pipelined, malformed and chunked requests and
// observe exactly when each streamed chunk arrives.

import Foundation
import Testing

// MARK: - Worker process

/// A running demo worker on a free port; `stop()` kills it.
final class DemoWorkerProcess {
    let process = Process()
    let port: Int
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()

    init(port: Int? = nil, _ arguments: [String] = [], waitUntilListening: Bool = true) throws {
        self.port = port ?? freePort()
        process.executableURL = URL(fileURLWithPath: Binaries.demoWorker)
        process.arguments = ["--port", String(self.port)] + arguments
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        if waitUntilListening {
            try #require(waitForListening(self.port, timeout: 10), "worker never started listening on \(self.port)")
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits for exit; nil if still running after `timeout` seconds.
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(2_000) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Everything the worker wrote to stdout (only valid after it exited).
    func stdout() -> String {
        String(decoding: stdoutPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A port nobody listens on right now: bind port 0, read it back, close.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

func canConnect(_ port: Int) -> Bool {
    guard let client = try? RawHTTPClient(port: port) else { return false }
    client.close()
    return true
}

func waitForListening(_ port: Int, timeout: Double) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if canConnect(port) { return true }
        usleep(10_000)
    }
    return false
}

// MARK: - Raw HTTP client

struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    /// For chunked responses: each chunk's payload and when it was received.
    var chunks: [(data: String, at: Date)] = []

    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

struct ClientError: Error, CustomStringConvertible {
    var description: String
}

final class RawHTTPClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, receiveTimeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { Glibc.close(fd); throw ClientError(description: "connect to \(port) failed: errno \(errno)") }
        var tv = timeval(tv_sec: Int(receiveTimeout), tv_usec: Int((receiveTimeout - Double(Int(receiveTimeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func close() { Glibc.close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ClientError(description: "send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Reads more bytes into the buffer; false on EOF, throws on timeout.
    @discardableResult
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { buffer += chunk[0..<n]; return true }
        if n == 0 { return false }
        throw ClientError(description: "recv failed or timed out: errno \(errno)")
    }

    /// True when the server has closed the connection (EOF with no data).
    func isClosedByPeer() throws -> Bool { buffer.isEmpty ? try !fill() : false }

    private func readLine() throws -> String {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<nl])
                buffer.removeFirst(nl + 1)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw ClientError(description: "connection closed mid-line") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw ClientError(description: "connection closed mid-body") }
        }
        let out = Array(buffer[..<count])
        buffer.removeFirst(count)
        return out
    }

    func readResponse() throws -> RawResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw ClientError(description: "bad status line: \(statusLine)")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw ClientError(description: "bad header: \(line)") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var response = RawResponse(status: status, headers: headers, body: [])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                    throw ClientError(description: "bad chunk size: \(sizeLine)")
                }
                if size == 0 { _ = try readLine(); break }
                let data = try readExactly(size)
                _ = try readExactly(2)
                response.body += data
                response.chunks.append((String(decoding: data, as: UTF8.self), Date()))
            }
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            response.body = try readExactly(length)
        } else {
            while try fill() {}
            response.body = buffer
            buffer.removeAll()
        }
        return response
    }

    /// One request on a fresh connection.
    static func request(port: Int, _ raw: String) throws -> RawResponse {
        let client = try RawHTTPClient(port: port)
        defer { client.close() }
        try client.send(raw)
        return try client.readResponse()
    }
}

func post(_ path: String, _ body: String, extraHeaders: String = "") -> String {
    "POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n\(body)"
}

func get(_ path: String, extraHeaders: String = "") -> String {
    "GET \(path) HTTP/1.1\r\nHost: t\r\n\(extraHeaders)\r\n"
}

/// The JSON object of a response body, via Foundation (tests only).
func json(_ response: RawResponse) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
}

// MARK: - Tests

@Suite("DemoWorker")
struct DemoWorkerTests {
    // Debug builds are ~10x slower than release; a lower cost keeps the
    // suite fast while still exercising the ensemble.
    static let fast = ["--cost", "0.2"]

    @Test func healthReportsPid() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        let response = try RawHTTPClient.request(port: worker.port, get("/health"))
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        let body = try json(response)
        #expect(body["status"] as? String == "ok")
        #expect(body["pid"] as? Int == Int(worker.pid))

        let root = try RawHTTPClient.request(port: worker.port, get("/"))
        #expect(root.status == 200)
        #expect(root.text.contains("/predict"))
    }

    @Test func predictsSentimentLabels() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        let cases: [(String, String)] = [
            ("I absolutely love it, what a wonderful and friendly place", "positive"),
            ("great quality, I am very happy with it", "positive"),
            ("terrible, the worst service ever, I hate it", "negative"),
            ("it broke after a day and support was rude", "negative"),
            ("the meeting is moved to tuesday at nine", "neutral"),
        ]
        let client = try RawHTTPClient(port: worker.port)
        defer { client.close() }
        for (text, expected) in cases {
            try client.send(post("/predict", text))
            let response = try client.readResponse()
            #expect(response.status == 200)
            let body = try json(response)
            #expect(body["label"] as? String == expected, "\(text)")
            #expect(body["pid"] as? Int == Int(worker.pid))
            #expect(body["port"] as? Int == worker.port)
            let cpu = try #require(body["cpu_ms"] as? Double)
            #expect(cpu > 0)
            let scores = try #require(body["scores"] as? [String: Double])
            #expect(Set(scores.keys) == ["positive", "negative", "neutral"])
            #expect(abs(scores.values.reduce(0, +) - 1) < 0.01)
            #expect(scores[expected]! == scores.values.max()!, "\(text): \(scores)")
        }
        // A JSON body works too, and an invalid one is a 400.
        try client.send(post("/predict", #"{"text": "this is awful and disappointing"}"#,
                             extraHeaders: "Content-Type: application/json\r\n"))
        let jsonResponse = try client.readResponse()
        #expect(jsonResponse.status == 200)
        #expect(try json(jsonResponse)["label"] as? String == "negative")
        try client.send(post("/predict", #"{"text": "#, extraHeaders: "Content-Type: application/json\r\n"))
        #expect(try client.readResponse().status == 400)
        try client.send(post("/predict", ""))
        #expect(try client.readResponse().status == 400)
    }

    @Test func costFlagScalesCPUWork() throws {
        let cheap = try DemoWorkerProcess(["--cost", "0.05"])
        defer { cheap.stop() }
        let dear = try DemoWorkerProcess(["--cost", "1"])
        defer { dear.stop() }
        func cpu(_ port: Int) throws -> Double {
            var best = Double.infinity   // minimum of a few: robust to a busy machine
            for _ in 0..<3 {
                let body = try json(RawHTTPClient.request(port: port, post("/predict", "the staff were friendly and the food was great")))
                best = min(best, try #require(body["cpu_ms"] as? Double))
            }
            return best
        }
        let low = try cpu(cheap.port), high = try cpu(dear.port)
        #expect(high > low * 4, "cost 1: \(high) ms, cost 0.05: \(low) ms")
    }

    @Test func streamArrivesIncrementally() throws {
        let worker = try DemoWorkerProcess(Self.fast + ["--token-delay-ms", "100"])
        defer { worker.stop() }
        let client = try RawHTTPClient(port: worker.port)
        defer { client.close() }
        let words = ["the", "food", "was", "great", "and", "the", "staff", "were", "lovely"]
        let started = Date()
        try client.send(get("/stream?text=" + words.joined(separator: "+")))
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.header("content-type") == "text/event-stream")
        #expect(response.header("transfer-encoding") == "chunked")
        // One chunk per word, one with the prediction, one [DONE].
        #expect(response.chunks.count == words.count + 2)
        let events = response.chunks.map(\.data)
        #expect(events.allSatisfy { $0.hasPrefix("data: ") && $0.hasSuffix("\n\n") })
        #expect(events.first?.contains("\"token\":\"the\"") == true)
        #expect(events.dropLast().last?.contains("\"label\":\"positive\"") == true)
        #expect(events.last == "data: [DONE]\n\n")
        // Streamed, not buffered: the first token came long before the last.
        let first = try #require(response.chunks.first).at, last = try #require(response.chunks.last).at
        #expect(last.timeIntervalSince(first) > 0.7)
        #expect(first.timeIntervalSince(started) < last.timeIntervalSince(started) - 0.7)

        // The connection stays usable afterwards, and POST /stream works.
        try client.send(post("/stream", "awful"))
        let second = try client.readResponse()
        #expect(second.status == 200)
        #expect(second.chunks.last?.data == "data: [DONE]\n\n")
    }

    @Test func longStreamIsCappedAndQuick() throws {
        let worker = try DemoWorkerProcess(Self.fast + ["--token-delay-ms", "0"])
        defer { worker.stop() }
        let client = try RawHTTPClient(port: worker.port)
        defer { client.close() }
        let started = Date()
        try client.send(post("/stream", String(repeating: "lovely day ", count: 30_000)))
        let response = try client.readResponse()
        #expect(response.status == 200)
        // 256 explained words, an "omitted" marker, the prediction, [DONE].
        #expect(response.chunks.count == 256 + 3)
        #expect(response.chunks[256].data.contains("\"omitted_words\":59744"))
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        let client = try RawHTTPClient(port: worker.port)
        defer { client.close() }
        try client.send(get("/health"))
        let first = try client.readResponse()
        #expect(first.status == 200)
        #expect(first.header("connection") == nil)
        try client.send(post("/predict", "I love it"))
        #expect(try client.readResponse().status == 200)
        // Connection: close is honoured: answer, then EOF.
        try client.send(get("/health", extraHeaders: "Connection: close\r\n"))
        let last = try client.readResponse()
        #expect(last.status == 200)
        #expect(last.header("connection") == "close")
        #expect(try client.isClosedByPeer())
    }

    @Test func http10ClosesUnlessKeepAliveRequested() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        let plain = try RawHTTPClient(port: worker.port)
        defer { plain.close() }
        try plain.send("GET /health HTTP/1.0\r\n\r\n")
        #expect(try plain.readResponse().status == 200)
        #expect(try plain.isClosedByPeer())

        let kept = try RawHTTPClient(port: worker.port)
        defer { kept.close() }
        for _ in 0..<2 {
            try kept.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let response = try kept.readResponse()
            #expect(response.status == 200)
            #expect(response.header("connection") == "keep-alive")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        let client = try RawHTTPClient(port: worker.port)
        defer { client.close() }
        // Three requests in one write, then a fourth split across writes.
        try client.send(post("/predict", "terrible and rude") + get("/health") + get("/missing"))
        let statuses = try (0..<3).map { _ in try client.readResponse() }
        #expect(statuses.map(\.status) == [200, 200, 404])
        #expect(try json(statuses[0])["label"] as? String == "negative")
        #expect(try json(statuses[1])["status"] as? String == "ok")
        let request = Array(post("/predict", "what a wonderful day").utf8)
        try client.send(Array(request[..<20]))
        usleep(50_000)
        try client.send(Array(request[20...]))
        #expect(try json(client.readResponse())["label"] as? String == "positive")
    }

    @Test func chunkedRequestBodyIsAccepted() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        let client = try RawHTTPClient(port: worker.port)
        defer { client.close() }
        try client.send("POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "9\r\nI love it\r\n")
        usleep(30_000)
        try client.send("1b;ext=1\r\n, the staff were wonderful\r\n0\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(try json(response)["label"] as? String == "positive")
        // Still in sync for the next request.
        try client.send(get("/health"))
        #expect(try client.readResponse().status == 200)
    }

    @Test func garbageGets400AndWorkerKeepsServing() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        let bad = [
            "garbage\r\n\r\n",
            "GET /health\r\n\r\n",
            "GET /health HTTP/1.1\r\nno colon here\r\n\r\n",
            "POST /predict HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
            "POST /predict HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "POST /predict HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
            "\u{1}\u{2}\u{3}\u{ff} HTTP/1.1\r\n\r\n",
        ]
        for raw in bad {
            let client = try RawHTTPClient(port: worker.port)
            defer { client.close() }
            try client.send(raw)
            let response = try client.readResponse()
            #expect(response.status == 400, "\(raw.debugDescription) → \(response.status)")
            #expect(try client.isClosedByPeer(), "\(raw.debugDescription)")
        }
        // Random binary junk must not crash it either.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5 {
            let client = try RawHTTPClient(port: worker.port)
            try client.send((0..<2000).map { _ in UInt8.random(in: 0...255, using: &generator) } + [13, 10, 13, 10])
            _ = try? client.readResponse()
            client.close()
        }
        #expect(worker.process.isRunning)
        #expect(try RawHTTPClient.request(port: worker.port, get("/health")).status == 200)
    }

    @Test func unknownPathIs404AndWrongMethodIs405() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        #expect(try RawHTTPClient.request(port: worker.port, get("/nope")).status == 404)
        let wrong = try RawHTTPClient.request(port: worker.port, get("/predict"))
        #expect(wrong.status == 405)
        #expect(wrong.header("allow") == "POST")
        #expect(try RawHTTPClient.request(port: worker.port, post("/health", "x")).status == 405)
    }

    @Test func oversizedBodyIs413() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        // Declared too large: refused before the body is read.
        let declared = try RawHTTPClient(port: worker.port)
        defer { declared.close() }
        try declared.send("POST /predict HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n" + String(repeating: "a", count: 100_000))
        #expect(try declared.readResponse().status == 413)

        // Chunked, growing past 1 MiB.
        let chunked = try RawHTTPClient(port: worker.port)
        defer { chunked.close() }
        let piece = String(repeating: "b", count: 0x40000)
        try chunked.send("POST /predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + String(repeating: "40000\r\n\(piece)\r\n", count: 5))
        #expect(try chunked.readResponse().status == 413)

        // Exactly at the limit is fine.
        let body = String(repeating: "good ", count: 1024 * 1024 / 5)
        #expect(try RawHTTPClient.request(port: worker.port, post("/predict", body)).status == 200)
        #expect(try RawHTTPClient.request(port: worker.port, get("/health")).status == 200)
    }

    @Test func sigtermExitsZeroPromptly() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        // An idle keep-alive connection must not hold the worker up.
        let idle = try RawHTTPClient(port: worker.port)
        defer { idle.close() }
        usleep(100_000)
        let sent = Date()
        kill(worker.pid, SIGTERM)
        let status = worker.waitForExit(timeout: 2)
        #expect(status == 0)
        #expect(Date().timeIntervalSince(sent) < 0.5)
        #expect(worker.stdout() == "demo worker pid \(worker.pid) listening on 127.0.0.1:\(worker.port)\n")
    }

    @Test func sigtermDuringStreamExitsPromptly() throws {
        let worker = try DemoWorkerProcess(Self.fast + ["--token-delay-ms", "1000"])
        defer { worker.stop() }
        let client = try RawHTTPClient(port: worker.port)
        defer { client.close() }
        try client.send(get("/stream?text=one+two+three+four"))
        usleep(300_000)
        let sent = Date()
        kill(worker.pid, SIGTERM)
        #expect(worker.waitForExit(timeout: 2) == 0)
        #expect(Date().timeIntervalSince(sent) < 0.5)
    }

    @Test func startupDelayPostponesListening() throws {
        let worker = try DemoWorkerProcess(Self.fast + ["--startup-delay", "0.5"], waitUntilListening: false)
        defer { worker.stop() }
        let started = Date()
        usleep(200_000)
        #expect(!canConnect(worker.port))
        #expect(waitForListening(worker.port, timeout: 1.3))
        #expect(Date().timeIntervalSince(started) >= 0.45)
        #expect(try RawHTTPClient.request(port: worker.port, get("/health")).status == 200)
    }

    @Test func portInUseExitsOneWithClearError() throws {
        let worker = try DemoWorkerProcess(Self.fast)
        defer { worker.stop() }
        let result = try runCommand(Binaries.demoWorker, ["--port", String(worker.port)], timeout: 10)
        #expect(result.status == 1)
        #expect(result.stderr.contains("already in use"))
    }

    @Test func badFlagsAndHelp() throws {
        let help = try runCommand(Binaries.demoWorker, ["--help"], timeout: 10)
        #expect(help.status == 0)
        #expect(help.stdout.contains("--startup-delay"))
        let bad = try runCommand(Binaries.demoWorker, ["--cost", "lots"], timeout: 10)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--cost"))
    }
}
