import Foundation
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

/// A client that leaves while its request is queued costs nothing: the
/// request is dropped (never reaches a worker), its body budget is freed,
/// and the access log records 499 with its queue time. FIN while queued is
/// leaving (as nginx); a half-closed client whose request a worker already
/// has still gets its answer (ProxyExchangeTests).
@Suite struct ProxyGoneClientTests {
    /// A proxy with one worker busy on client A's request, and an access log.
    private final class Busy {
        let t: EmbeddedProxy
        let dir = TempDir("gone")
        let a: Int32
        let upstream: Int32

        init(_ configure: (inout ProxyConfig) -> Void = { _ in }) throws {
            let log = dir.file("access.log")
            t = try EmbeddedProxy {
                $0.maxInflight = 1
                $0.accessLog = AccessLog(target: log, format: .combined)
                configure(&$0)
            }
            t.addWorker()
            (a, upstream, _) = try t.forward("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        }

        var accessLog: [String] {
            ((try? String(contentsOfFile: dir.file("access.log"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        deinit {
            close(a)
            close(upstream)
            dir.cleanup()
        }
    }

    @Test(arguments: ["fin", "rst"])
    func queuedRequestWhoseClientLeftIsDroppedAndLogged499(_ how: String) throws {
        let busy = try Busy()
        let t = busy.t
        let b = t.connectClient()
        let body = String(repeating: "x", count: 1000)
        RawSocket.send(b, "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + body)
        t.step()
        #expect(t.proxy.pool.queueLength == 1)
        #expect(t.proxy.bufferedBodyBytes == 1000)
        if how == "fin" { shutdown(b, Int32(SHUT_WR)) } else { RawSocket.reset(b) }
        t.step()
        #expect(t.proxy.pool.queueLength == 0, "dropped at once, while the worker is still busy")
        #expect(t.proxy.bufferedBodyBytes == 0, "its body's budget is free")
        #expect(t.proxy.metrics.clientAborts == 1)
        #expect(t.proxy.metrics.requestsByStatus[499] == 1)
        if how == "fin" {
            #expect(RawSocket.isClosed(b), "drover closes the connection of a client that left")
            close(b)
        }
        let line = busy.accessLog.first { $0.contains("/b HTTP/1.1") } ?? ""
        #expect(line.contains("\"POST /b HTTP/1.1\" 499 0 ") && line.contains(" tu=- ") && line.contains(" worker=- "),
                "\(busy.accessLog)")
        // The worker finishes A and is sent nothing more.
        RawSocket.send(busy.upstream, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
        t.step()
        #expect(RawSocket.receive(busy.a).hasSuffix("\r\n\r\na"))
        #expect(RawSocket.receive(busy.upstream).isEmpty, "the departed client's request never reaches the worker")
        #expect(t.proxy.pool.workers.first?.inflight == 0)
    }

    @Test func queueTimeIsLogged() throws {
        let busy = try Busy()
        let t = busy.t
        let b = t.connectClient()
        RawSocket.send(b, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        usleep(120_000)   // the access log's times are the wall clock's
        shutdown(b, Int32(SHUT_WR))
        t.step()
        close(b)
        let line = busy.accessLog.first { $0.contains("/b HTTP/1.1") } ?? ""
        let queued = line.range(of: " tq=").flatMap { Double(line[$0.upperBound...].prefix { $0 != " " }) } ?? -1
        #expect(queued >= 100, "tq is the time it waited: \(line)")
    }

    /// A half-closed client's request failed at a worker and went back to
    /// the queue for a retry: by the same rule it has left, and is dropped.
    @Test func retryOfAHalfClosedClientIsDroppedFromTheQueue() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1; $0.retries = 1 }
        t.addWorker()
        t.addWorker()
        let a = t.connectClient()
        defer { close(a) }
        RawSocket.send(a, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        let c = t.connectClient()
        defer { close(c) }
        RawSocket.send(c, "GET /c HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        // Each worker holds one request; which holds A's?
        var connections: [(index: Int, fd: Int32, request: String)] = []
        for index in 0..<2 {
            if let fd = RawSocket.accept(t.workers[index].listener) {
                t.step()
                connections.append((index, fd, RawSocket.receive(fd)))
            }
        }
        defer { connections.forEach { close($0.fd) } }
        try #require(connections.count == 2)
        let atA = try #require(connections.first { $0.request.hasPrefix("GET /a ") })
        let atC = try #require(connections.first { $0.request.hasPrefix("GET /c ") })
        shutdown(a, Int32(SHUT_WR))
        t.step()
        #expect(t.proxy.metrics.clientAborts == 0, "a worker has it: a half-closed client still wants its answer")
        // That worker resets before answering: the retry has to wait for the other, busy one.
        RawSocket.reset(atA.fd)
        t.step()
        #expect(t.proxy.pool.queueLength == 0, "re-queued for a client that has half-closed: dropped")
        #expect(t.proxy.metrics.requestsByStatus[499] == 1)
        RawSocket.send(atC.fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc")
        t.step()
        #expect(RawSocket.receive(c).hasSuffix("\r\n\r\nc"))
        #expect(RawSocket.receive(atC.fd).isEmpty, "nothing is sent for the client that left")
        #expect(RawSocket.accept(t.workers[atA.index].listener) == nil, "nor to the worker that reset")
    }
}
