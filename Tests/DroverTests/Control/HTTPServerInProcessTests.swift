import Foundation
import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

/// Flags shared between a client thread and the loop thread.
final class SharedFlags: @unchecked Sendable {
    private let lock = NSLock()
    private var flags: Set<String> = []
    private var values: [String: Int] = [:]
    private var texts: [String: String] = [:]

    /// Poked on every `set`, so a loop that does not poll notices.
    private let driver: LoopDriver?

    init(poking driver: LoopDriver? = nil) { self.driver = driver }

    func set(_ name: String) {
        lock.lock(); flags.insert(name); lock.unlock()
        driver?.poke()
    }
    func isSet(_ name: String) -> Bool { lock.lock(); defer { lock.unlock() }; return flags.contains(name) }
    func put(_ name: String, _ value: Int) { lock.lock(); values[name] = value; lock.unlock() }
    func value(_ name: String) -> Int? { lock.lock(); defer { lock.unlock() }; return values[name] }
    func put(_ name: String, text: String) { lock.lock(); texts[name] = text; lock.unlock() }
    func text(_ name: String) -> String? { lock.lock(); defer { lock.unlock() }; return texts[name] }

    /// Waits (on the client thread) until the loop sets `name`.
    @discardableResult
    func wait(for name: String, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if isSet(name) { return true }
            usleep(1_000)
        }
        return isSet(name)
    }
}

/// A blocking client connection that reads whole HTTP/1.1 answers
/// (Content-Length or chunked), keeping what follows for the next one.
final class TestClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init?(unix path: String) {
        guard let fd = RawHTTP.connectUnix(path) else { return nil }
        self.fd = fd
    }

    deinit { close(fd) }

    func send(_ text: String) { RawHTTP.send(fd, Array(text.utf8)) }
    func send(_ bytes: [UInt8]) { RawHTTP.send(fd, bytes) }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[..<n])
        return true
    }

    struct Answer {
        var status: Int
        var head: String
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    /// The next answer (interim 1xx answers included), or nil at EOF / timeout.
    func readAnswer() -> Answer? {
        let marker: [UInt8] = [13, 10, 13, 10]
        var end: Int?
        while true {
            if buffer.count >= 4 {
                for index in 0...(buffer.count - 4) where buffer[index..<(index + 4)].elementsEqual(marker) {
                    end = index
                    break
                }
            }
            if end != nil { break }
            if !fill() { return nil }
        }
        let head = String(decoding: buffer[..<end!], as: UTF8.self)
        buffer.removeFirst(end! + 4)
        let status = Int(head.split(separator: " ")[1]) ?? 0
        var answer = Answer(status: status, head: head, body: [])
        if status < 200 { return answer }
        if let length = answer.header("content-length").flatMap(Int.init) {
            while buffer.count < length { if !fill() { return nil } }
            answer.body = Array(buffer[..<length])
            buffer.removeFirst(length)
        } else if answer.header("transfer-encoding") == "chunked" {
            while true {
                guard let line = readLine(), let size = Int(line, radix: 16) else { return nil }
                if size == 0 { _ = readLine(); break }
                while buffer.count < size + 2 { if !fill() { return nil } }
                answer.body.append(contentsOf: buffer[..<size])
                buffer.removeFirst(size + 2)
            }
        }
        return answer
    }

    private func readLine() -> String? {
        while true {
            if let index = buffer.indices.dropLast().first(where: { buffer[$0] == 13 && buffer[$0 + 1] == 10 }) {
                let line = String(decoding: buffer[..<index], as: UTF8.self)
                buffer.removeFirst(index + 2)
                return line
            }
            if !fill() { return nil }
        }
    }

    /// True when the server closed (EOF or reset) with nothing more sent.
    func readsEOF() -> Bool {
        var byte: UInt8 = 0
        return buffer.isEmpty && recv(fd, &byte, 1, 0) <= 0
    }
}

/// The control/admin HTTP server in this process: a unix listener in a
/// temporary directory, its loop run on the test's thread by a LoopDriver,
/// clients on threads of their own.
final class InProcessServer {
    let driver: LoopDriver
    let dir = TempDir("httpsrv")
    let path: String
    var server: HTTPServer!
    var handled = 0

    init(options: HTTPServerConnection.Options = .init(), maxConnections: Int = 256, tick: Duration? = .milliseconds(5),
         handler: @escaping (HTTPRequest, HTTPResponder, Reactor) -> Void = InProcessServer.echo) throws {
        driver = try LoopDriver(tick: tick)
        path = dir.file("s.sock")
        let listener = try Listener.unix(path: path, mode: 0o700)
        let reactor = driver.reactor
        server = try HTTPServer(name: "test", listener: listener, reactor: reactor, options: options,
                                maxConnections: maxConnections) { [unowned self] request, responder in
            self.handled += 1
            handler(request, responder, reactor)
        }
    }

    /// Answers with the target and the body's length.
    static func echo(_ request: HTTPRequest, _ responder: HTTPResponder, _ reactor: Reactor) {
        responder.respond(status: 200, text: "\(request.head.target) \(request.body.count)")
    }

    /// Runs `body` on a new thread; the loop is poked when it ends.
    func client(_ flags: SharedFlags, _ name: String, _ body: @escaping @Sendable () -> Void) {
        let driver = self.driver
        Thread {
            body()
            flags.set(name)
            driver.poke()
        }.start()
    }

    deinit {
        server.close()
        dir.cleanup()
    }
}

@Suite("HTTP server for control and admin, in process") struct HTTPServerInProcessTests {
    @Test func slowRequestGets408AndASilentConnectionIsClosed() throws {
        var options = HTTPServerConnection.Options()
        options.requestTimeout = .milliseconds(150)
        options.idleTimeout = .milliseconds(300)
        let host = try InProcessServer(options: options)
        let flags = SharedFlags()
        let path = host.path
        host.client(flags, "slow") {
            guard let client = TestClient(unix: path) else { return }
            client.send("GET /v1/status HTTP/1.1\r\nHost: x\r\n")
            let answer = client.readAnswer()
            flags.put("slow.status", answer?.status ?? 0)
            flags.put("slow.body", text: answer?.text ?? "")
            flags.put("slow.connection", text: answer?.header("connection") ?? "")
            if client.readsEOF() { flags.set("slow.closed") }
        }
        host.client(flags, "silent") {
            guard let client = TestClient(unix: path) else { return }
            let start = Date()
            if client.readsEOF() { flags.put("silent.ms", Int(Date().timeIntervalSince(start) * 1000)) }
        }
        host.driver.when("both clients done", { flags.isSet("slow") && flags.isSet("silent") })
        #expect(host.driver.run() == nil)
        #expect(flags.value("slow.status") == 408)
        #expect(flags.text("slow.body")?.contains(#""code":"timeout""#) == true, "\(flags.text("slow.body") ?? "")")
        #expect(flags.text("slow.connection") == "close")
        #expect(flags.isSet("slow.closed"))
        #expect((flags.value("silent.ms") ?? 0) >= 250, "closed after the idle timeout, not before")
        #expect(host.handled == 0)
        #expect(host.server.openConnections == 0)
    }

    @Test func pipelinedAnswersStayInOrderWhenGivenLaterAndHeldInputIsParsed() throws {
        var options = HTTPServerConnection.Options()
        options.maxQueued = 2
        // Later requests are answered sooner: order must come from the connection.
        let host = try InProcessServer(options: options) { request, responder, reactor in
            let index = Int(request.head.target.dropFirst(2)) ?? 0
            reactor.schedule(after: .milliseconds(max(0, 8 - index % 9))) {
                responder.respond(status: 200, text: request.head.target)
            }
        }
        let flags = SharedFlags()
        let path = host.path
        let count = 60
        host.client(flags, "client") {
            guard let client = TestClient(unix: path) else { return }
            var text = ""
            for index in 0..<count {
                text += "GET /r\(index) HTTP/1.1\r\nHost: x\r\n" + (index == count - 1 ? "Connection: close\r\n" : "") + "\r\n"
            }
            client.send(text)
            var got: [String] = []
            while let answer = client.readAnswer() { got.append(answer.text) }
            flags.put("answers", text: got.joined(separator: ","))
        }
        host.driver.when("client done", { flags.isSet("client") })
        #expect(host.driver.run() == nil)
        #expect(flags.text("answers") == (0..<count).map { "/r\($0)" }.joined(separator: ","))
        #expect(host.handled == count)
    }

    @Test func afterTheClientsEOFQueuedRequestsAreAnsweredAndACutOffOneIsDropped() throws {
        var options = HTTPServerConnection.Options()
        options.requestTimeout = .seconds(30)
        let host = try InProcessServer(options: options) { request, responder, reactor in
            reactor.schedule(after: .milliseconds(20)) { responder.respond(status: 200, text: request.head.target) }
        }
        let flags = SharedFlags()
        let path = host.path
        host.client(flags, "pipelined") {
            guard let client = TestClient(unix: path) else { return }
            client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
            shutdown(client.fd, Int32(SHUT_WR))
            var got: [String] = []
            while let answer = client.readAnswer() { got.append("\(answer.text):\(answer.header("connection") ?? "")") }
            flags.put("pipelined", text: got.joined(separator: ","))
        }
        host.client(flags, "cut") {
            guard let client = TestClient(unix: path) else { return }
            let start = Date()
            client.send("GET /v1/status HTTP/1.1\r\nHost: x\r\n")
            shutdown(client.fd, Int32(SHUT_WR))
            if client.readsEOF() { flags.put("cut.ms", Int(Date().timeIntervalSince(start) * 1000)) }
        }
        host.driver.when("clients done", { flags.isSet("pipelined") && flags.isSet("cut") })
        #expect(host.driver.run() == nil)
        #expect(flags.text("pipelined") == "/a:keep-alive,/b:keep-alive,/c:close", "all answered; only the last says close")
        #expect((flags.value("cut.ms") ?? .max) < 5_000, "a request cut off by EOF closes at once, not at the request timeout")
        #expect(host.handled == 3)
        #expect(host.server.openConnections == 0)
    }

    @Test func refusedOnItsHeadTheBodyIsNeverRead() throws {
        var options = HTTPServerConnection.Options()
        options.inspectHead = { head in
            head.method == "POST" && head.headers["authorization"] != "yes"
                ? .error(401, "no", code: "unauthorized", headers: [("WWW-Authenticate", "Bearer")]) : nil
        }
        let host = try InProcessServer(options: options)
        let flags = SharedFlags()
        let path = host.path
        host.client(flags, "big") {
            guard let client = TestClient(unix: path) else { return }
            // The head only: the answer must come without a byte of the 9 MiB body.
            client.send("POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: \(9 << 20)\r\n\r\n")
            let answer = client.readAnswer()
            flags.put("big.status", answer?.status ?? 0)
            flags.put("big.auth", text: answer?.header("www-authenticate") ?? "")
            if client.readsEOF() { flags.set("big.closed") }
        }
        host.client(flags, "bodiless") {
            guard let client = TestClient(unix: path) else { return }
            // Refused without a body: the connection goes on to the next request.
            client.send("POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            flags.put("bodiless.1", client.readAnswer()?.status ?? 0)
            flags.put("bodiless.2", text: client.readAnswer()?.text ?? "")
        }
        host.client(flags, "continue") {
            guard let client = TestClient(unix: path) else { return }
            client.send("POST /v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: yes\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
            flags.put("continue.1", client.readAnswer()?.status ?? 0)
            client.send("hello")
            flags.put("continue.2", text: client.readAnswer()?.text ?? "")
        }
        host.driver.when("clients done", { flags.isSet("big") && flags.isSet("bodiless") && flags.isSet("continue") })
        #expect(host.driver.run() == nil)
        #expect(flags.value("big.status") == 401)
        #expect(flags.text("big.auth") == "Bearer")
        #expect(flags.isSet("big.closed"), "closed after the refusal")
        #expect(flags.value("bodiless.1") == 401)
        #expect(flags.text("bodiless.2") == "/after 0")
        #expect(flags.value("continue.1") == 100, "100 Continue for an accepted head")
        #expect(flags.text("continue.2") == "/v1/reload 5")
        #expect(host.handled == 2, "only the accepted requests reach the handler")
    }

    /// The control and admin listeners read heads with the proxy's rules
    /// (HTTPHeadScanner + HTTPRequestHeadRanges): what the proxy refuses is
    /// refused here too, after the requests before it are answered.
    @Test func requestsTheProxyRefusesAreRefusedHere() throws {
        let host = try InProcessServer()
        let flags = SharedFlags()
        let path = host.path
        let refused: [(name: String, head: String, status: Int)] = [
            ("expect", "PUT /x HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\nok", 417),
            ("connect", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 501),
            ("twoLengths", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 400),
            ("asterisk", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ]
        for (name, head, _) in refused {
            host.client(flags, name) {
                guard let client = TestClient(unix: path) else { return }
                client.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n" + head + "GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
                flags.put("\(name).1", text: client.readAnswer()?.text ?? "")
                let answer = client.readAnswer()
                flags.put("\(name).2", answer?.status ?? 0)
                flags.put("\(name).connection", text: answer?.header("connection") ?? "")
                if client.readsEOF() { flags.set("\(name).closed") }
            }
        }
        host.driver.when("clients done", { refused.allSatisfy { flags.isSet($0.name) } })
        #expect(host.driver.run() == nil)
        for (name, _, status) in refused {
            #expect(flags.text("\(name).1") == "/first 0", "\(name)")
            #expect(flags.value("\(name).2") == status, "\(name)")
            #expect(flags.text("\(name).connection") == "close", "\(name)")
            #expect(flags.isSet("\(name).closed"), "\(name)")
        }
        #expect(host.handled == refused.count, "only the first request of each connection")
    }

    @Test func bodiesOverOneMebibyteAre413() throws {
        let host = try InProcessServer()
        let flags = SharedFlags()
        let path = host.path
        let limit = 1 << 20
        host.client(flags, "length") {
            guard let client = TestClient(unix: path) else { return }
            client.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: \(limit + 1)\r\n\r\n")
            let answer = client.readAnswer()
            flags.put("length.status", answer?.status ?? 0)
            flags.put("length.body", text: answer?.text ?? "")
        }
        host.client(flags, "chunked") {
            guard let client = TestClient(unix: path) else { return }
            client.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n")
            client.send([UInt8](repeating: 0x61, count: limit + 4096))
            flags.put("chunked.status", client.readAnswer()?.status ?? 0)
        }
        host.client(flags, "exact") {
            guard let client = TestClient(unix: path) else { return }
            client.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: \(limit)\r\nConnection: close\r\n\r\n")
            client.send([UInt8](repeating: 0x62, count: limit))
            flags.put("exact.body", text: client.readAnswer()?.text ?? "")
        }
        host.driver.when("clients done", { flags.isSet("length") && flags.isSet("chunked") && flags.isSet("exact") })
        #expect(host.driver.run() == nil)
        #expect(flags.value("length.status") == 413)
        #expect(flags.text("length.body")?.contains(#""code":"too_large""#) == true)
        #expect(flags.value("chunked.status") == 413)
        #expect(flags.text("exact.body") == "/x \(limit)", "exactly the cap is accepted")
    }

    @Test func halfClosedClientGetsALargeAnswerWholeWithoutSpinning() throws {
        let size = 3 << 20
        let payload = patternBytes(size)
        let host = try InProcessServer(tick: nil) { _, responder, _ in
            responder.respond(status: 200, contentType: "application/octet-stream", body: payload)
        }
        let flags = SharedFlags(poking: host.driver)
        let path = host.path
        let reactor = host.driver.reactor
        host.client(flags, "client") {
            guard let client = TestClient(unix: path) else { return }
            client.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            shutdown(client.fd, Int32(SHUT_WR))
            flags.set("half-closed")
            flags.wait(for: "may read")
            let answer = client.readAnswer()
            flags.put("length", answer?.body.count ?? -1)
            if answer?.body == payload { flags.set("intact") }
            flags.put("connection", text: answer?.header("connection") ?? "")
            if client.readsEOF() { flags.set("closed") }
        }
        var start: UInt64 = 0
        var stalled: UInt64 = 0
        host.driver.when("answer queued", { flags.isSet("half-closed") && host.handled == 1 }) {
            start = reactor.wakeups
        }
        host.driver.wait(.milliseconds(300), "client not reading") {
            stalled = reactor.wakeups - start
            flags.set("may read")
        }
        host.driver.when("client done", { flags.isSet("client") })
        // The client's half-close is seen while nothing polls: poke once it is done.
        let poker = Thread { [driver = host.driver] in
            flags.wait(for: "half-closed")
            usleep(20_000)
            driver.poke()
        }
        poker.start()
        #expect(host.driver.run() == nil)
        #expect(stalled <= 6, "\(stalled) wake-ups in 300 ms with the answer pending to a half-closed client")
        #expect(flags.value("length") == size)
        #expect(flags.isSet("intact"), "every byte, in order")
        #expect(flags.isSet("closed"))
        #expect(host.server.openConnections == 0)
    }

    @Test func oneDeadlinePerConnectionAndNoTimerSyscallPerRequest() throws {
        let host = try InProcessServer(tick: nil)
        let flags = SharedFlags(poking: host.driver)
        let path = host.path
        let reactor = host.driver.reactor
        host.client(flags, "client") {
            // 300 requests on one keep-alive connection, 100 on fresh ones.
            var ok = 0
            do {
                guard let client = TestClient(unix: path) else { return }
                for index in 0..<300 {
                    client.send("GET /k\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
                    if client.readAnswer()?.text == "/k\(index) 0" { ok += 1 }
                }
            }
            for index in 0..<100 {
                guard let fresh = TestClient(unix: path) else { continue }
                fresh.send("GET /f\(index) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if fresh.readAnswer()?.text == "/f\(index) 0" { ok += 1 }
            }
            flags.put("ok", ok)
            // Until the server has seen the others go.
            usleep(100_000)
            // Five idle connections held open: five deadlines, no more.
            let held = (0..<5).compactMap { _ in TestClient(unix: path) }
            for client in held {
                client.send("GET /h HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = client.readAnswer()
            }
            flags.set("holding")
            flags.wait(for: "counted")
            withExtendedLifetime(held) {}
        }
        var settingsAtStart: UInt64 = 0
        var timersAtStart = 0
        var timersWhileHolding = 0
        var openWhileHolding = 0
        var settingsForRequests: UInt64 = 0
        host.driver.when("start") { true } then: {
            settingsAtStart = reactor.timerfdSettings
            timersAtStart = reactor.pendingTimers
        }
        host.driver.when("holding", { flags.isSet("holding") }) {
            settingsForRequests = reactor.timerfdSettings - settingsAtStart
            timersWhileHolding = reactor.pendingTimers
            openWhileHolding = host.server.openConnections
            flags.set("counted")
        }
        host.driver.when("client done and connections closed", { flags.isSet("client") && host.server.openConnections == 0 })
        // The closes are seen while nothing polls.
        let poker = Thread { [driver = host.driver] in
            flags.wait(for: "client")
            for _ in 0..<50 { usleep(10_000); driver.poke() }
        }
        poker.start()
        #expect(host.driver.run() == nil)
        #expect(flags.value("ok") == 400)
        #expect(settingsForRequests <= 3, "\(settingsForRequests) timerfd_settime calls for 405 requests")
        #expect(openWhileHolding == 5)
        // Left at the end: the driver's own timeout timer only.
        #expect(reactor.pendingTimers == 1, "no deadline left once the connections close")
        #expect(timersWhileHolding == reactor.pendingTimers + 5, "one deadline per open connection")
        #expect(timersAtStart <= 2)
    }

    @Test func theConnectionCapAnswers503() throws {
        let host = try InProcessServer(maxConnections: 3)
        let flags = SharedFlags()
        let path = host.path
        host.client(flags, "client") {
            let first = (0..<3).compactMap { _ in TestClient(unix: path) }
            for client in first {
                client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = client.readAnswer()
            }
            guard let fourth = TestClient(unix: path) else { return }
            let busy = fourth.readAnswer()
            flags.put("busy", busy?.status ?? 0)
            flags.put("busy.body", text: busy?.text ?? "")
            withExtendedLifetime(first) {}
        }
        host.client(flags, "later") {
            flags.wait(for: "client")
            // The three are closed now; there is room again.
            for _ in 0..<100 {
                if let client = TestClient(unix: path) {
                    client.send("GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if let answer = client.readAnswer(), answer.status == 200 {
                        flags.put("later", answer.status)
                        return
                    }
                }
                usleep(10_000)
            }
        }
        host.driver.when("done", { flags.isSet("later") })
        #expect(host.driver.run() == nil)
        #expect(flags.value("busy") == 503)
        #expect(flags.text("busy.body")?.contains(#""code":"busy""#) == true)
        #expect(flags.value("later") == 200)
        #expect(host.server.refusedConnections >= 1)
    }
}
