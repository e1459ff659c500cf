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

/// The bytes drover forwards and writes, exactly, through the embedded
/// proxy (real sockets, test clock): Host stays end to end, invalid Host or
/// authority is 400, a response transfer coding drover does not decode is
/// 502, TRACE/OPTIONS with `Max-Forwards: 0` are answered here, and every
/// response carries one `Date` (issue 13, item 4).
@Suite struct ProxyForwardedBytesTests {
    // MARK: Date

    /// The values of the answer's Date fields.
    static func dates(_ answer: String) -> [String] {
        answer.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
            .filter { $0.lowercased().hasPrefix("date:") }
            .map { String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
    }

    /// The answer with its one Date line taken out, after checking that the
    /// line is the first field, an IMF-fixdate (RFC 9110 §5.6.7), and now.
    static func withoutDate(_ answer: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let found = dates(answer)
        #expect(found.count == 1, "exactly one Date: \(found)\n\(answer)", sourceLocation: sourceLocation)
        guard let value = found.first else { return answer }
        #expect(isNow(value), "an IMF-fixdate of now: \(value)", sourceLocation: sourceLocation)
        let line = "\r\nDate: \(value)\r\n"
        let statusLineEnd = answer.range(of: "\r\n")
        #expect(answer.range(of: line)?.lowerBound == statusLineEnd?.lowerBound, "Date right after the status line\n\(answer)",
                sourceLocation: sourceLocation)
        return answer.replacingOccurrences(of: line, with: "\r\n")
    }

    static func isNow(_ value: String) -> Bool {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard value.utf8.count == 29, let date = formatter.date(from: value) else { return false }
        return abs(date.timeIntervalSinceNow) < 5 && formatter.string(from: date) == value
    }

    @Test func dateIsAddedToAForwardedAnswerWithout() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let (client, upstream, _) = try t.forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(client); close(upstream) }
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nX-W: 1\r\nContent-Length: 2\r\n\r\nok")
        t.step()
        #expect(Self.withoutDate(RawSocket.receive(client)) == "HTTP/1.1 200 OK\r\nX-W: 1\r\nContent-Length: 2\r\n\r\nok")
        // A chunked one, and a 1xx before it.
        RawSocket.send(client, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        _ = RawSocket.receive(upstream)
        RawSocket.send(upstream, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
        t.step()
        let answer = RawSocket.receive(client)
        let parts = answer.components(separatedBy: "\r\n\r\n")
        #expect(parts.count == 4, "\(answer)")
        #expect(Self.withoutDate(parts[0] + "\r\n\r\n") == "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        #expect(Self.withoutDate(parts[1...].joined(separator: "\r\n\r\n"))
            == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    }

    @Test func aWorkersDateIsKeptAndNotDoubled() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let (client, upstream, _) = try t.forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(client); close(upstream) }
        // Even when it nominates Date in Connection (Date is end to end).
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nConnection: date\r\ndate: Tue, 15 Nov 1994 08:12:31 GMT\r\nContent-Length: 0\r\n\r\n")
        t.step()
        #expect(RawSocket.receive(client) == "HTTP/1.1 200 OK\r\ndate: Tue, 15 Nov 1994 08:12:31 GMT\r\nContent-Length: 0\r\n\r\n")
    }

    @Test func droversOwnAnswersCarryDate() throws {
        let t = try EmbeddedProxy { $0.readTimeout = .seconds(2); $0.queueTimeout = .seconds(1); $0.maxInflight = 1 }
        // 400: refused before any worker.
        let bad = t.connectClient()
        defer { close(bad) }
        RawSocket.send(bad, "GET / HTTP/1.1\r\n\r\n")
        t.step()
        let refused = RawSocket.receive(bad)
        #expect(Self.withoutDate(refused).hasPrefix("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "))
        // 503: no worker within queue_timeout.
        let queued = t.connectClient()
        defer { close(queued) }
        RawSocket.send(queued, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        t.advance(.seconds(2))
        #expect(Self.withoutDate(RawSocket.receive(queued)).hasPrefix("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"))
        // 504: the worker never answers.
        t.addWorker()
        let (client, upstream, _) = try t.forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(client); close(upstream) }
        t.advance(.seconds(3))
        #expect(Self.withoutDate(RawSocket.receive(client)).hasPrefix("HTTP/1.1 504 Gateway Timeout\r\nContent-Type: application/json\r\n"))
    }

    // MARK: Host

    @Test func connectionHostNeverStripsHost() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let (client, upstream, forwarded) = try t.forward("GET /h HTTP/1.1\r\nHost: a:81\r\nConnection: host, X-A\r\nX-A: 1\r\n\r\n")
        defer { close(client); close(upstream) }
        #expect(forwarded.hasPrefix("GET /h HTTP/1.1\r\nHost: a:81\r\nX-Forwarded-For: 127.0.0.1\r\n"), "\(forwarded)")
    }

    @Test(arguments: ["Host: a, b\r\n", "Host: a b\r\n", "Host: evil/@a\r\n", "Host: \r\n", "Host: a\r\nHost: a\r\n"])
    func invalidHostIs400AndNeverForwarded(fields: String) throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET / HTTP/1.1\r\n\(fields)\r\n")
        t.step()
        let answer = Self.withoutDate(RawSocket.receive(client))
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
        #expect(answer.contains("\r\nConnection: close\r\n"))
        #expect(RawSocket.accept(t.workers[0].listener) == nil, "nothing reaches a worker")
    }

    @Test(arguments: ["http://u@h/x", "http://u:p@h/x", "http://h/x#frag", "/x#frag", "http://h:x/"])
    func userinfoFragmentOrBadAuthorityIs400(target: String) throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n")
        t.step()
        #expect(Self.withoutDate(RawSocket.receive(client)).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(RawSocket.accept(t.workers[0].listener) == nil, "nothing reaches a worker")
    }

    // MARK: Response transfer codings

    @Test(arguments: ["gzip", "gzip, chunked", "chunked, chunked"])
    func transferCodingDroverDoesNotDecodeIs502(codings: String) throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let (client, upstream, _) = try t.forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(client); close(upstream) }
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nTransfer-Encoding: \(codings)\r\n\r\n\u{1F}\u{8B}coded")
        t.step()
        let answer = Self.withoutDate(RawSocket.receive(client))
        #expect(answer.hasPrefix("HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n"), "\(answer)")
        #expect(!answer.contains("coded") && !answer.contains("Transfer-Encoding"), "nothing of the coded answer: \(answer)")
        #expect(RawSocket.isClosed(upstream), "that worker connection is not reused")
    }

    // MARK: Max-Forwards

    @Test func traceWithMaxForwardsZeroIsEchoedByDrover() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        let echoed = "TRACE /t?q HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nX-A: b\r\nVia: 1.1 edge\r\n\r\n"
        RawSocket.send(client, "TRACE /t?q HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nCookie: s=1\r\nX-A: b\r\n"
                       + "authorization: Bearer x\r\nProxy-Authorization: Basic y\r\nVia: 1.1 edge\r\n\r\n")
        t.step()
        #expect(Self.withoutDate(RawSocket.receive(client))
            == "HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: \(echoed.utf8.count)\r\n\r\n" + echoed)
        #expect(RawSocket.accept(t.workers[0].listener) == nil, "answered by drover, not forwarded")
        // The connection goes on: a TRACE body is read and dropped first.
        RawSocket.send(client, "OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nContent-Length: 3\r\n\r\nabc"
                       + "TRACE / HTTP/1.0\r\nMax-Forwards: 00\r\n\r\n")
        t.step()
        let options = "HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE\r\nContent-Length: 0\r\n\r\n"
        let trace10 = "TRACE / HTTP/1.0\r\nMax-Forwards: 00\r\n\r\n"
        let both = RawSocket.receive(client)
        let split = both.range(of: "HTTP/1.1 200 OK", options: .backwards)!.lowerBound
        #expect(Self.withoutDate(String(both[..<split])) == options)
        #expect(Self.withoutDate(String(both[split...]))
            == "HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: \(trace10.utf8.count)\r\nConnection: close\r\n\r\n" + trace10)
        #expect(RawSocket.isClosed(client), "HTTP/1.0 without keep-alive: closed after the answer")
        #expect(RawSocket.accept(t.workers[0].listener) == nil)
    }

    @Test func maxForwardsAboveZeroIsForwardedDecremented() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let (client, upstream, forwarded) = try t.forward("TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 3\r\n\r\n")
        defer { close(client); close(upstream) }
        #expect(forwarded.hasPrefix("TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 2\r\nX-Forwarded-For: "), "\(forwarded)")
    }

    @Test(arguments: ["Max-Forwards: x\r\n", "Max-Forwards: -1\r\n", "Max-Forwards: 1\r\nMax-Forwards: 1\r\n", "Max-Forwards: \r\n"])
    func invalidMaxForwardsOnTraceIs400(fields: String) throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "TRACE / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n")
        t.step()
        #expect(Self.withoutDate(RawSocket.receive(client)).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(RawSocket.accept(t.workers[0].listener) == nil)
    }
}
