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
        let t = try EmbeddedProxy { $0.clientTimeout = 5 }
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
        let t = try EmbeddedProxy { $0.queueTimeout = 3; $0.maxInflight = 1 }
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
        let t = try EmbeddedProxy { $0.queueTimeout = 3 }
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
        let t = try EmbeddedProxy { $0.readTimeout = 10; $0.retries = 1 }
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

    @Test func idleKeepAliveClientIsClosedAtKeepaliveTimeout() throws {
        let t = try EmbeddedProxy { $0.keepaliveTimeout = 7 }
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
