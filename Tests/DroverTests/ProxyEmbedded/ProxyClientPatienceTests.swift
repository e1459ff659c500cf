import Glibc
import Testing
@testable import Proxy
@testable import System

/// Admission against the clients' patience, through the whole proxy on a
/// test clock (issue 13, timeout storm): once clients have shown they leave
/// at 0.5 s, what cannot be answered by then is refused at once instead of
/// queued for queue_timeout (2 s) and computed for nobody.
@Suite struct ProxyClientPatienceTests {
    static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    /// One worker at 0.1 s a request (20 measured: the history is steady),
    /// then 8 clients that queue behind a held request and leave at 0.5 s.
    final class Taught {
        let t: EmbeddedProxy
        let keepAlive: Int32
        let upstream: Int32

        init() throws {
            t = try EmbeddedProxy { $0.maxInflight = 1; $0.queueTimeout = .seconds(2) }
            t.addWorker()
            keepAlive = t.connectClient()
            RawSocket.send(keepAlive, "GET /warm HTTP/1.1\r\nHost: a\r\n\r\n")
            guard let upstream = t.acceptUpstream(0) else { throw EmbeddedProxyError.noUpstreamConnection }
            self.upstream = upstream
            for round in 0..<21 {
                t.step()
                _ = RawSocket.receive(upstream)
                if round == 20 { break }
                t.advance(.milliseconds(100))
                RawSocket.send(upstream, ProxyClientPatienceTests.ok)
                t.step()
                _ = RawSocket.receive(keepAlive)
                RawSocket.send(keepAlive, "GET /warm HTTP/1.1\r\nHost: a\r\n\r\n")
            }
            // The 21st is at the worker now; 8 clients queue behind it and
            // give up after 0.5 s.
            var leaving: [Int32] = []
            for i in 0..<8 {
                let client = t.connectClient()
                RawSocket.send(client, "GET /leaves\(i) HTTP/1.1\r\nHost: a\r\n\r\n")
                t.step()
                leaving.append(client)
            }
            t.advance(.milliseconds(500))
            for client in leaving { close(client) }
            t.step()
            RawSocket.send(upstream, ProxyClientPatienceTests.ok)
            t.step()
            _ = RawSocket.receive(keepAlive)
        }

        deinit {
            close(keepAlive)
            close(upstream)
        }
    }

    @Test func clientsThatLeftAtHalfASecondBoundWhatIsAdmitted() throws {
        let taught = try Taught()
        let t = taught.t
        #expect(t.proxy.pool.queueLength == 0, "the 8 that left are out of the queue")
        let bound = try #require(t.proxy.pool.patienceBound())
        #expect(t.proxy.pool.patience.patience == 0.5)
        #expect(abs(bound - 0.45) < 1e-9)
        #expect(t.proxy.traffic.clientPatienceSeconds == 0.5, "shown in /metrics and status --json")
        // How many the estimate fits in 0.45 s behind the one at the worker,
        // and proof that queue_timeout (2 s) alone would have taken all ten.
        let fits = (0..<9).prefix { t.proxy.pool.estimatedWait(position: $0)! <= bound }.count
        #expect(fits >= 1 && fits < 9)
        #expect(t.proxy.pool.estimatedWait(position: 8)! <= 2.0)
        let clients = t.clientsSending((0..<10).map { "/n\($0)" })
        defer { for client in clients { close(client) } }
        // n0 goes to the worker, `fits` wait behind it, the rest are refused now.
        let answers = clients.map { RawSocket.receive($0) }
        let refused = Set(answers.indices.filter { answers[$0].hasPrefix("HTTP/1.1 503 ") })
        #expect(refused == Set((1 + fits)..<10), "fits \(fits): \(refused.sorted())")
        for i in refused {
            #expect(answers[i].contains("\r\nRetry-After: "))
            #expect(answers[i].contains("clients here leave after about 500 ms"), "\(answers[i])")
        }
        #expect(t.proxy.pool.queueLength == fits)
        // The admitted are all answered, each within its client's patience.
        for i in 0...fits {
            #expect(RawSocket.receive(taught.upstream).hasPrefix("GET /n\(i) "))
            t.advance(.milliseconds(100))
            RawSocket.send(taught.upstream, Self.ok)
            t.step()
            #expect(RawSocket.receive(clients[i]).hasPrefix("HTTP/1.1 200 OK"), "n\(i)")
        }
        #expect(Double(fits + 1) * 0.1 <= 0.5)
        #expect(t.proxy.metrics.queueTimeouts == 0)
    }

    /// A request that waited so long its client will have left before a
    /// worker could answer it is refused when its turn comes, not computed.
    @Test func aRequestOlderThanThePatienceIsRefusedAtItsTurnNotSent() throws {
        let taught = try Taught()
        let t = taught.t
        let clients = t.clientsSending((0..<2).map { "/s\($0)" })
        defer { for client in clients { close(client) } }
        #expect(RawSocket.receive(taught.upstream).hasPrefix("GET /s0 "))
        #expect(t.proxy.pool.queueLength == 1, "s1 fits the patience behind s0 and waits")
        // The worker is stuck on s0 for 0.45 s: s1 is then 0.45 s old, and
        // 0.45 s plus a service is past the 0.5 s its client waits.
        t.advance(.milliseconds(450))
        RawSocket.send(taught.upstream, Self.ok)
        t.step()
        #expect(RawSocket.receive(clients[0]).hasPrefix("HTTP/1.1 200 OK"))
        let answer = RawSocket.receive(clients[1])
        #expect(answer.hasPrefix("HTTP/1.1 503 "), "s1: \(answer)")
        #expect(answer.contains("waited 450 ms and clients here leave after about 500 ms"), "\(answer)")
        #expect(RawSocket.receive(taught.upstream).isEmpty, "nothing was sent for a client about to leave")
        #expect(t.proxy.pool.queueLength == 0)
    }

    /// Clients that close their side (FIN, as a client timeout does) while
    /// a worker has their request still get the answer, but count as
    /// clients that left at that age, not as answers taken: else every
    /// timed-out client whose request had reached a worker would argue the
    /// clients wait longer than they do.
    @Test func aFinWhileAtAWorkerCountsAsLeaving() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 8; $0.queueTimeout = .seconds(2) }
        t.addWorker()
        var clients: [Int32] = []
        var upstreams: [Int32] = []
        defer { for fd in clients + upstreams { close(fd) } }
        for i in 0..<8 {
            let client = t.connectClient()
            RawSocket.send(client, "GET /f\(i) HTTP/1.1\r\nHost: a\r\n\r\n")
            clients.append(client)
            let upstream = try #require(t.acceptUpstream(0))
            upstreams.append(upstream)
            t.step()
            #expect(RawSocket.receive(upstream).hasPrefix("GET /f\(i) "))
        }
        t.advance(.milliseconds(700))
        for client in clients { shutdown(client, Int32(SHUT_WR)) }
        t.step()
        for upstream in upstreams { RawSocket.send(upstream, Self.ok) }
        t.step()
        for client in clients { #expect(RawSocket.receive(client).hasPrefix("HTTP/1.1 200 OK"), "a half-close is answered") }
        #expect(t.proxy.pool.patienceBound() != nil)
        #expect(t.proxy.pool.patience.patience == 0.7)
    }
}
