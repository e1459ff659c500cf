import Glibc
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

/// A proxy on a reactor with a test clock, stepped by the test: real
/// sockets on 127.0.0.1 (ephemeral ports), no threads, no sleeping. Time
/// moves only through `advance`, so timeouts are tested exactly.
final class EmbeddedProxy {
    let reactor: Reactor
    let proxy: ProxyServer
    let port: Int
    private(set) var workers: [(id: WorkerID, listener: Int32)] = []

    /// drover's log at info level, when `captureLog` asked for it.
    private let logPath: String?
    private let logDescriptor: Int32

    init(captureLog: Bool = false, configure: (inout ProxyConfig) -> Void = { _ in }) throws {
        reactor = try Reactor.withTestClock()
        var config = ProxyConfig(name: "t", listen: .tcp(host: "127.0.0.1", port: 0), upstream: "w")
        configure(&config)
        if captureLog {
            var template = Array("/tmp/drover-embedded-log-XXXXXX".utf8CString)
            logDescriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            logPath = String(cString: template)
        } else {
            logDescriptor = -1
            logPath = nil
        }
        let console = ConsoleWriter(descriptor: FileDescriptor(rawValue: captureLog ? logDescriptor : Self.devNull), reactor: nil)
        proxy = try ProxyServer(config: config, reactor: reactor, log: EventLog(console: console, level: captureLog ? .info : .error),
                                console: console)
        try proxy.open()
        port = proxy.listeningPort ?? 0
    }

    nonisolated(unsafe) static let devNull: Int32 = open("/dev/null", O_WRONLY | O_CLOEXEC)

    /// A worker the test plays itself: a listening socket it accepts from.
    @discardableResult
    func addWorker() -> Int {
        let listener = RawSocket.listen()
        let port = RawSocket.localPort(listener)
        // The supervisor's word, as the daemon passes it on (PoolMembership).
        let id = WorkerID(1000 + workers.count)
        proxy.apply(.joined(id, name: "w:w_\(workers.count)", port: port, probeSeconds: nil))
        workers.append((id, listener))
        return workers.count - 1
    }

    /// Accepts the proxy's connection to worker `index` (after a step).
    func acceptUpstream(_ index: Int) -> Int32? {
        step()
        return RawSocket.accept(workers[index].listener)
    }

    /// Runs every ready event until nothing is left.
    func step() {
        for _ in 0..<50 {
            if reactor.runReady() == 0 { usleep(200); if reactor.runReady() == 0 { return } }
        }
    }

    func advance(_ duration: Duration) {
        reactor.advanceTime(by: duration)
        step()
    }

    /// A client sends `request`; worker `index` accepts the proxy's
    /// connection and reads what was forwarded. Returns (client, worker side, forwarded text).
    func forward(_ request: String, toWorker index: Int = 0) throws -> (client: Int32, upstream: Int32, forwarded: String) {
        let client = connectClient()
        RawSocket.send(client, request)
        guard let upstream = acceptUpstream(index) else {
            close(client)
            throw EmbeddedProxyError.noUpstreamConnection
        }
        step()
        return (client, upstream, RawSocket.receive(upstream))
    }

    /// One client per path, connected and sending `GET <path>` in order,
    /// each request read by the proxy before the next client connects.
    func clientsSending(_ paths: [String]) -> [Int32] {
        paths.map { path in
            let client = connectClient()
            RawSocket.send(client, "GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n")
            step()
            return client
        }
    }

    func connectClient() -> Int32 {
        let fd = RawSocket.connect(port: port)
        step()
        return fd
    }

    /// What drover logged so far (needs `captureLog`).
    var logText: String {
        guard let logPath, let file = fopen(logPath, "r") else { return "" }
        defer { fclose(file) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            out.append(contentsOf: buffer[..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    deinit {
        proxy.close()
        for worker in workers { Glibc.close(worker.listener) }
        if let logPath {
            Glibc.close(logDescriptor)
            unlink(logPath)
        }
    }
}

enum EmbeddedProxyError: Error { case noUpstreamConnection }

/// Blocking-with-timeout sockets for the test's side.
enum RawSocket {
    static func listen() -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        _ = Glibc.listen(fd, 64)
        setTimeout(fd, milliseconds: 500)
        return fd
    }

    static func localPort(_ fd: Int32) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accept(_ listener: Int32) -> Int32? {
        let fd = Glibc.accept(listener, nil, nil)
        if fd < 0 { return nil }
        setTimeout(fd, milliseconds: 500)
        return fd
    }

    static func connect(port: Int, receiveBuffer: Int32? = nil) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if var size = receiveBuffer {
            // Before connect, so the window is small from the handshake on.
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        setTimeout(fd, milliseconds: 500)
        return fd
    }

    static func setTimeout(_ fd: Int32, milliseconds: Int) {
        var timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    static func send(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// What is readable now (the proxy already wrote it during a step).
    static func receive(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
    }

    /// Sends what the socket takes now, without blocking; the count sent.
    static func sendSome(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
        return max(0, n)
    }

    /// Reads and drops up to `count` bytes that are readable now.
    @discardableResult
    static func discard(_ fd: Int32, upTo count: Int) -> Int {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return max(0, n)
    }

    /// Makes close() send RST: a client or worker vanishing, not finishing.
    static func setResetOnClose(_ fd: Int32) {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
    }

    static func reset(_ fd: Int32) {
        setResetOnClose(fd)
        close(fd)
    }

    /// True when the peer closed (EOF now).
    static func isClosed(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }
}
