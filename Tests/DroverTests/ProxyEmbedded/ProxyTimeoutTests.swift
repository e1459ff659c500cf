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

/// The proxy's deadlines on a test clock: each fires exactly when its
/// timeout passes, not a moment before, and each connection holds one
/// timer at a time.
@Suite struct ProxyTimeoutTests {
    @Test func slowClientGets408AfterClientTimeoutAndNeverReachesAWorker() throws {
        let t = try EmbeddedProxy { $0.clientTimeout = .seconds(5) }
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET / HTTP/1.1\r\nHost: a\r\n")
        t.step()
        t.advance(.milliseconds(4999))
        #expect(RawSocket.receive(client).isEmpty)
        t.advance(.milliseconds(2))
        let answer = RawSocket.receive(client)
        #expect(answer.hasPrefix("HTTP/1.1 408 "))
        #expect(answer.contains("\"code\":\"request_timeout\""))
        #expect(RawSocket.accept(t.workers[0].listener) == nil, "a slow client must never hold a worker")
    }

    @Test func queuedRequestGets503WithRetryAfterAtQueueTimeout() throws {
        let t = try EmbeddedProxy { $0.queueTimeout = .seconds(3); $0.maxInflight = 1 }
        let client = t.connectClient()
        defer { close(client) }
        // No worker is ready: the request waits in the queue.
        RawSocket.send(client, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        #expect(t.proxy.pool.queueLength == 1)
        t.advance(.milliseconds(2999))
        #expect(RawSocket.receive(client).isEmpty)
        t.advance(.milliseconds(2))
        let answer = RawSocket.receive(client)
        #expect(answer.hasPrefix("HTTP/1.1 503 "))
        #expect(answer.contains("Retry-After: "))
        #expect(t.proxy.pool.queueLength == 0)
        #expect(t.proxy.metrics.queueTimeouts == 1)
    }

    @Test func aWorkerJoiningServesTheQueuedRequest() throws {
        let t = try EmbeddedProxy { $0.queueTimeout = .seconds(3) }
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET /late HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        t.advance(.seconds(2))
        t.addWorker()
        let upstream = try #require(t.acceptUpstream(0))
        defer { close(upstream) }
        t.step()
        #expect(RawSocket.receive(upstream).hasPrefix("GET /late HTTP/1.1\r\n"))
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        t.step()
        let answer = RawSocket.receive(client)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(answer.hasSuffix("\r\n\r\nok"))
        // The queue deadline is gone: nothing fires later.
        t.advance(.seconds(5))
        #expect(!RawSocket.isClosed(client))
    }

    @Test func silentWorkerGets504AtReadTimeout() throws {
        let t = try EmbeddedProxy { $0.readTimeout = .seconds(10); $0.retries = 1 }
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(t.acceptUpstream(0))
        defer { close(upstream) }
        t.advance(.milliseconds(9999))
        #expect(RawSocket.receive(client).isEmpty)
        t.advance(.milliseconds(2))
        #expect(RawSocket.receive(client).hasPrefix("HTTP/1.1 504 "))
        // A read timeout is not retried: the worker may still be computing it.
        #expect(t.proxy.metrics.retries == 0)
    }

    /// drover pauses reading a worker while its client is slow to take the
    /// answer (back-pressure). That pause is not the worker's silence:
    /// read_timeout must not fire during it. A client that takes nothing
    /// for client_timeout is cut off, logged as the client's fault, and
    /// the worker's connection is closed so its slot frees.
    @Test func readTimeoutNeverFiresWhileDroverPausedTheWorkerForASlowClient() throws {
        let t = try EmbeddedProxy(captureLog: true) { $0.readTimeout = .seconds(5); $0.clientTimeout = .seconds(20) }
        t.addWorker()
        let client = RawSocket.connect(port: t.port, receiveBuffer: 4096)
        defer { close(client) }
        t.step()
        RawSocket.send(client, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(t.acceptUpstream(0))
        defer { close(upstream) }
        t.step()
        #expect(RawSocket.receive(upstream).hasPrefix("GET /big HTTP/1.1\r\n"))
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 268435456\r\n\r\n")
        // The worker writes until drover stops reading it.
        let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        func writeUntilPaused() -> Bool {
            var sent = 0, idleRounds = 0
            while idleRounds < 5 && sent < 128 << 20 {
                let n = RawSocket.sendSome(upstream, piece)
                sent += n
                t.step()
                idleRounds = n == 0 ? idleRounds + 1 : 0
            }
            return idleRounds == 5
        }
        #expect(writeUntilPaused(), "drover paused reading the worker")
        #expect(t.proxy.metrics.openUpstreamConnections == 1)

        // Well past read_timeout: nothing is cut, nobody is blamed.
        t.advance(.seconds(6))
        #expect(!RawSocket.isClosed(upstream), "read_timeout fired while drover itself paused the worker")
        #expect(!RawSocket.isClosed(client))
        #expect(!t.logText.contains("read_timeout"), "\(t.logText)")
        // The client takes a little now and then: that is progress.
        RawSocket.discard(client, upTo: 65536)
        t.step()
        #expect(writeUntilPaused(), "and the worker has more")
        t.advance(.seconds(15))
        #expect(!RawSocket.isClosed(upstream) && !RawSocket.isClosed(client), "a client that reads is not stalled\n\(t.logText)")
        // Then nothing: cut off client_timeout after the kernel's send
        // queue last moved (a window probe may still take a few bytes).
        for _ in 0..<4 where !RawSocket.isClosed(upstream) { t.advance(.seconds(21)) }
        #expect(RawSocket.isClosed(upstream), "the worker's connection is closed, its slot freed")
        #expect(t.proxy.pool.workers.allSatisfy { $0.inflight == 0 })
        #expect(t.logText.contains("client_timeout"), "\(t.logText)")
        #expect(!t.logText.contains("read_timeout"), "\(t.logText)")
    }

    @Test func idleKeepAliveClientIsClosedAtKeepaliveTimeout() throws {
        let t = try EmbeddedProxy { $0.keepaliveTimeout = .seconds(7) }
        t.addWorker()
        let (client, upstream, _) = try t.forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(client); close(upstream) }
        RawSocket.send(upstream, "HTTP/1.1 204 No Content\r\n\r\n")
        t.step()
        #expect(RawSocket.receive(client).hasPrefix("HTTP/1.1 204 "))
        t.advance(.milliseconds(6999))
        #expect(!RawSocket.isClosed(client))
        t.advance(.milliseconds(2))
        #expect(RawSocket.isClosed(client))
    }

    /// One deadline per connection: timers follow live connections, and a
    /// keep-alive exchange moves the connection's timer instead of adding one.
    @Test func timersFollowConnectionsNotRequests() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(t.acceptUpstream(0))
        defer { close(upstream) }
        var peak = 0
        for round in 0..<200 {
            if round > 0 { RawSocket.send(client, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") }
            t.step()
            _ = RawSocket.receive(upstream)
            RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
            t.step()
            #expect(RawSocket.receive(client).hasSuffix("\r\n\r\nx"))
            peak = max(peak, t.reactor.pendingTimers)
        }
        // The client's deadline and the pooled upstream connection's.
        #expect(peak <= 2)
    }
}
