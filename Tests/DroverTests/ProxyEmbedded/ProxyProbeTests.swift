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

/// Health probes of a pool member go through the pool's own connection
/// (WorkerProbe): a worker that serves one connection at a time never sees
/// a second connection from drover, and a probe behind a busy slot waits
/// for it, ahead of the queue, and is `busy` rather than failed if it never
/// gets it.
@Suite struct ProxyProbeTests {
    /// One request answered on the worker's one connection, which the pool
    /// then keeps: (client, the worker's side of that connection).
    private static func servedOnce(_ t: EmbeddedProxy) throws -> (client: Int32, upstream: Int32) {
        let (client, upstream, forwarded) = try t.forward("GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(forwarded.hasPrefix("GET /first HTTP/1.1\r\n"))
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        t.step()
        #expect(RawSocket.receive(client).hasSuffix("first"))
        #expect(t.proxy.pool.workers.first?.idle.count == 1)
        return (client, upstream)
    }

    /// A probe under way and what it reported; held as the supervisor holds
    /// it (the proxy keeps no probe alive on its own).
    private final class Probing {
        var probe: ProbeInFlight?
        var reported: HealthProbe.Outcome?
        func outcome() -> HealthProbe.Outcome? { reported }
    }

    private static func probe(_ t: EmbeddedProxy, timeout: Duration = .seconds(2)) -> Probing {
        let probing = Probing()
        probing.probe = t.proxy.probe(t.workers[0].id, path: "/health", timeout: timeout) { [unowned probing] in
            probing.reported = $0
            probing.probe = nil
        }
        return probing
    }

    /// Whether a connection waits in the worker's accept backlog (no waiting).
    private static func connectionWaiting(_ t: EmbeddedProxy, _ index: Int = 0) -> Bool {
        var entry = pollfd(fd: t.workers[index].listener, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    @Test func probeTravelsOnTheIdlePooledConnectionAndLeavesItPooled() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1 }
        t.addWorker()
        let (client, upstream) = try Self.servedOnce(t)
        defer { close(client); close(upstream) }
        let probing = Self.probe(t)
        #expect(probing.probe != nil)
        t.step()
        let sent = RawSocket.receive(upstream)
        #expect(sent.hasPrefix("GET /health HTTP/1.1\r\n"), "\(sent)")
        #expect(!sent.lowercased().contains("connection: close"), "keep-alive: the connection stays the pool's")
        #expect(!Self.connectionWaiting(t), "no second connection to the worker")
        #expect(probing.outcome() == nil)
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        t.step()
        #expect(probing.outcome() == .passed)
        #expect(t.proxy.pool.workers.first?.idle.count == 1)
        #expect(t.proxy.pool.workers.first?.probesInFlight == 0)
        // Nothing of the probe shows as traffic.
        #expect(t.proxy.metrics.requestsByStatus == [200: 1])
        // The next request goes on that same connection.
        RawSocket.send(client, "GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        #expect(RawSocket.receive(upstream).hasPrefix("GET /second HTTP/1.1\r\n"))
        #expect(!Self.connectionWaiting(t))
    }

    @Test func probeAnsweredWithAnErrorStatusFails() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1 }
        t.addWorker()
        let (client, upstream) = try Self.servedOnce(t)
        defer { close(client); close(upstream) }
        let probing = Self.probe(t)
        t.step()
        _ = RawSocket.receive(upstream)
        RawSocket.send(upstream, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        t.step()
        #expect(probing.outcome() == .failed("status 503"))
        #expect(t.proxy.pool.workers.first?.idle.count == 1, "the answer was whole: the connection stays pooled")
    }

    @Test func probeWaitsForTheBusySlotAndGoesAheadOfTheQueue() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1 }
        t.addWorker()
        let (a, upstream, _) = try t.forward("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(a); close(upstream) }
        let probing = Self.probe(t)
        let b = t.connectClient()
        defer { close(b) }
        RawSocket.send(b, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        #expect(t.proxy.pool.queueLength == 1)
        #expect(RawSocket.receive(upstream).isEmpty, "nothing more while the worker computes")
        #expect(!Self.connectionWaiting(t), "and no second connection")
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
        t.step()
        #expect(RawSocket.receive(a).hasSuffix("\r\n\r\na"))
        #expect(RawSocket.receive(upstream).hasPrefix("GET /health HTTP/1.1\r\n"), "the probe takes the freed slot first")
        #expect(t.proxy.pool.queueLength == 1)
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        t.step()
        #expect(probing.outcome() == .passed)
        #expect(RawSocket.receive(upstream).hasPrefix("GET /b HTTP/1.1\r\n"), "then the queued request")
        #expect(!Self.connectionWaiting(t))
    }

    @Test func probeThatNeverGetsTheSlotIsBusyNotFailed() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1; $0.readTimeout = .seconds(60) }
        t.addWorker()
        let (a, upstream, _) = try t.forward("GET /long HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(a); close(upstream) }
        let probing = Self.probe(t, timeout: .seconds(2))
        t.advance(.milliseconds(1999))
        #expect(probing.outcome() == nil)
        t.advance(.milliseconds(2))
        #expect(probing.outcome() == .busy)
        #expect(t.proxy.pool.workers.first?.waitingProbe == nil)
        // The request still owns the worker; once answered, no late probe follows it.
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlong")
        t.step()
        #expect(RawSocket.receive(a).hasSuffix("long"))
        #expect(RawSocket.receive(upstream).isEmpty)
        #expect(t.proxy.pool.workers.first?.hasCapacity == true)
    }

    @Test func probeTimingOutOnTheWireClosesThatConnectionAndFreesTheSlot() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1 }
        t.addWorker()
        let (client, upstream) = try Self.servedOnce(t)
        defer { close(client); close(upstream) }
        let probing = Self.probe(t, timeout: .seconds(1))
        t.step()
        #expect(RawSocket.receive(upstream).hasPrefix("GET /health"))
        t.advance(.milliseconds(1001))
        #expect(probing.outcome() == .timedOut)
        #expect(RawSocket.isClosed(upstream), "a late answer could not be told from the next request's")
        #expect(t.proxy.pool.workers.first?.probesInFlight == 0)
        #expect(t.proxy.pool.workers.first?.idle.isEmpty == true)
        RawSocket.send(client, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        let fresh = try #require(t.acceptUpstream(0))
        defer { close(fresh) }
        t.step()
        #expect(RawSocket.receive(fresh).hasPrefix("GET /next HTTP/1.1\r\n"))
    }

    @Test func probeOnAPooledConnectionTheWorkerClosedTriesOnceMoreOnAFreshOne() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1 }
        t.addWorker()
        let (client, upstream) = try Self.servedOnce(t)
        defer { close(client) }
        let probing = Self.probe(t)
        t.step()
        #expect(RawSocket.receive(upstream).hasPrefix("GET /health"))
        // The worker had just closed it (its idle timeout): reset, no answer.
        RawSocket.reset(upstream)
        let fresh = try #require(t.acceptUpstream(0))
        defer { close(fresh) }
        t.step()
        #expect(RawSocket.receive(fresh).hasPrefix("GET /health HTTP/1.1\r\n"))
        RawSocket.send(fresh, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        t.step()
        #expect(probing.outcome() == .passed)
    }

    @Test func aWorkerOutsideThePoolIsNotProbedThroughIt() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let id = t.workers[0].id
        t.proxy.apply(.left(id))
        #expect(t.proxy.probe(id, path: "/health", timeout: .seconds(1)) { _ in } == nil)
    }

    @Test func aCancelledWaitingProbeGivesUpItsTurn() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1 }
        t.addWorker()
        let (a, upstream, _) = try t.forward("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(a); close(upstream) }
        let probing = Self.probe(t)
        probing.probe?.cancel()
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
        t.step()
        #expect(RawSocket.receive(upstream).isEmpty, "no probe goes out for nobody")
        t.advance(.seconds(3))
        #expect(probing.outcome() == nil)
    }
}
