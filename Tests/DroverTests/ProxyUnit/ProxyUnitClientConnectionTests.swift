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

/// A ProxyClientConnection on a real loopback TCP connection (ephemeral
/// port), stepped by hand on a test-clock reactor. The test keeps the
/// connection object alive itself, so a timer left behind on a closed
/// connection is observed (reactor.pendingTimers) instead of crashing.
///
/// Found by scripts/fuzz-proxy: drover (PID 1) aborts with "Attempted to
/// read an unowned reference but object … was already destroyed" in
/// `closure #1 in StreamConnection.setDeadline(after:)` 2 s after a client
/// sends a request drover refuses and resets the connection right behind
/// it. Reproduce against a running drover:
///     printf 'GET / HTTP/1.1\r\n\r\n' then close with SO_LINGER 0
/// (python3: s.sendall(b"GET / HTTP/1.1\r\n\r\n"); s.setsockopt(SOL_SOCKET,
/// SO_LINGER, struct.pack("ii", 1, 0)); s.close()) — 2 s later drover dies.
/// Path: reject → sendError → shutdownWriteAfterFlushing → flush → write
/// fails (ECONNRESET) → teardown (deadline cleared, connection released by
/// the proxy) → sendError goes on: `stream.setDeadline(after: .seconds(2))`
/// schedules a new timer on the closed, soon freed, StreamConnection.
/// The same happened 75 s (keepalive_timeout) after a client closed or
/// reset while its answer was being written (responseFinished: flush fails,
/// then setDeadline). Fixed on main in f5b8a44; kept as regression tests.
@Suite struct ProxyUnitClientConnectionTests {
    /// (drover's end, nonblocking; the client's end).
    static func tcpPair() throws -> (server: Int32, client: Int32) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try #require(bind(listener, sa, length) == 0)
                try #require(listen(listener, 4) == 0)
                try #require(getsockname(listener, sa, &length) == 0)
            }
        }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try #require(connect(client, sa, length) == 0)
            }
        }
        let server = accept(listener, nil, nil)
        try #require(server >= 0)
        _ = fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK)
        _ = fcntl(server, F_SETFD, FD_CLOEXEC)
        return (server, client)
    }

    static func send(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    static func reset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    static func step(_ reactor: Reactor) {
        for _ in 0..<20 {
            if reactor.runReady() == 0 {
                usleep(2000)
                if reactor.runReady() == 0 { return }
            }
        }
    }

    @Test func closedStreamKeepsNoDeadline() throws {
        let fixture = try ProxyUnitFixture(testClock: true)
        let (server, client) = try Self.tcpPair()
        defer { close(client) }
        let stream = StreamConnection(socket: OwnedDescriptor(adopting: server), reactor: fixture.reactor)
        try stream.start()
        stream.setDeadline(after: .seconds(5))
        #expect(fixture.reactor.pendingTimers == 1)
        stream.close()
        #expect(fixture.reactor.pendingTimers == 0)
        // A deadline set after close must not be armed: its timer holds the
        // connection unowned and fires after the owner dropped it.
        stream.setDeadline(after: .seconds(2))
        #expect(fixture.reactor.pendingTimers == 0)
    }

    @Test func refusedRequestThenResetLeavesNoTimer() throws {
        let fixture = try ProxyUnitFixture(testClock: true)
        let (server, client) = try Self.tcpPair()
        let connection = ProxyClientConnection(stream: StreamConnection(socket: OwnedDescriptor(adopting: server), reactor: fixture.reactor),
                                               proxy: fixture.proxy, peer: "127.0.0.1")
        try connection.start()
        Self.send(client, "GET / HTTP/1.1\r\n\r\n")     // no Host: 400
        Self.reset(client)
        usleep(20_000)
        Self.step(fixture.reactor)
        try #require(!connection.stream.isOpen, "drover's side saw the reset while answering")
        #expect(fixture.reactor.pendingTimers == 0, "a deadline is armed on a closed connection")
        // With the connection kept alive here the stale timer is harmless;
        // in drover the connection is gone by then and this aborts.
        fixture.reactor.advanceTime(by: .seconds(3))
        withExtendedLifetime(connection) {}
    }

    @Test func refusedRequestThenFinLingersAndCloses() throws {
        let fixture = try ProxyUnitFixture(testClock: true)
        let (server, client) = try Self.tcpPair()
        defer { close(client) }
        let connection = ProxyClientConnection(stream: StreamConnection(socket: OwnedDescriptor(adopting: server), reactor: fixture.reactor),
                                               proxy: fixture.proxy, peer: "127.0.0.1")
        try connection.start()
        Self.send(client, "GET / HTTP/1.1\r\nX-Ws : a\r\n\r\n")
        Self.step(fixture.reactor)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        let answer = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
        #expect(answer.hasPrefix("HTTP/1.1 400 "), "\(answer)")
        #expect(answer.contains("Connection: close\r\n"))
        #expect(connection.stream.isOpen, "lingers: half-closed until the client is done or 2 s pass")
        fixture.reactor.advanceTime(by: .seconds(2))
        Self.step(fixture.reactor)
        #expect(!connection.stream.isOpen)
        #expect(fixture.reactor.pendingTimers == 0)
    }
}
