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

/// Worker responses: every framing, the responses that never have a body,
/// interim 1xx, end of file, and what a proxy must refuse (502).
@Suite("HTTP response parser") struct HTTPResponseParserTests {
    typealias Feed = HTTPTestFeed

    @Test("HTTP response with Content-Length, then a second on the same connection") func HTTPResponseContentLength() throws {
        let events = Feed.responseEventsCheckingSplits("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabcHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        try #require(events.count == 5)
        let head = try #require(events[0].head)
        #expect(head.status == 200)
        #expect(head.reason == "OK")
        #expect(head.version == .http11)
        #expect(head.framing == .length(3))
        #expect(head.keepAlive)
        #expect(head.headers["content-type"] == "text/plain")
        #expect(events[1] == .body(Feed.bytes("abc")))
        #expect(events[2] == .end)
        #expect(events[3].head?.status == 404)
        #expect(events[4] == .end)
    }

    @Test("HTTP chunked response") func HTTPResponseChunked() {
        let events = Feed.responseEventsCheckingSplits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n6;x=y\r\n: tok\n\r\n0\r\nX-T: 1\r\n\r\n")
        #expect(events.count == 3)
        #expect(events[0].head?.framing == .chunked)
        #expect(events[1] == .body(Feed.bytes("data: tok\n")))
        #expect(events[2] == .end)
    }

    @Test("HTTP response read until close ends at finish") func HTTPResponseUntilClose() {
        let text = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this\r\n\r\nHTTP/1.1 200 OK\r\n"
        let open = Feed.responseEventsCheckingSplits(text)
        #expect(open.count == 2)
        #expect(open[0].head?.framing == .untilClose)
        #expect(open[0].head?.keepAlive == false)
        #expect(open[1] == .body(Feed.bytes("all of this\r\n\r\nHTTP/1.1 200 OK\r\n")))
        let closed = Feed.responseEventsCheckingSplits(text, finish: true)
        #expect(closed.last == .end)
        // Even HTTP/1.1 keep-alive cannot be kept without a length.
        let eleven = Feed.responseEventsCheckingSplits("HTTP/1.1 200 OK\r\n\r\nx", finish: true)
        #expect(eleven.first?.head?.keepAlive == false)
        #expect(eleven.last == .end)
    }

    @Test("HTTP response to HEAD has no body whatever its headers say") func HTTPResponseToHead() {
        let events = Feed.responseEventsCheckingSplits("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", method: "HEAD")
        #expect(events.count == 4)
        #expect(events[0].head?.framing == HTTPBodyFraming.none)
        #expect(events[0].head?.headers["content-length"] == "10")
        #expect(events[1] == .end)
        #expect(events[3] == .end)
        // The method can change between responses on one connection.
        var parser = HTTPResponseParser(requestMethod: "HEAD")
        var got: [HTTPResponseEvent] = []
        parser.parse(Feed.bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"), into: &got)
        parser.requestMethod = "GET"
        parser.parse(Feed.bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), into: &got)
        #expect(got.count == 5)
        #expect(got[3] == .body(Feed.bytes("ok")))
    }

    @Test("HTTP 204 and 304 have no body", arguments: [204, 304])
    func HTTPResponseNoContent(status: Int) {
        let events = Feed.responseEventsCheckingSplits("HTTP/1.1 \(status) X\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz")
        #expect(events.count == 5)
        #expect(events[0].head?.framing == HTTPBodyFraming.none)
        #expect(events[1] == .end)
        #expect(events[3] == .body(Feed.bytes("z")))
    }

    @Test("HTTP 100 Continue and 103 are informational before the final response") func HTTPResponseInformational() {
        let events = Feed.responseEventsCheckingSplits("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        #expect(events.count == 5)
        guard case .informational(let first) = events[0], case .informational(let second) = events[1] else {
            Issue.record("expected two informational responses: \(events)")
            return
        }
        #expect(first.status == 100)
        #expect(second.headers["link"] == "</s.css>")
        #expect(events[2].head?.status == 201)
        #expect(events[3] == .body(Feed.bytes("ok")))
        #expect(events[4] == .end)
    }

    @Test("HTTP status line without a reason phrase is accepted") func HTTPResponseWithoutReason() {
        let events = Feed.responseEventsCheckingSplits("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n")
        #expect(events.map { $0.head?.reason } == ["", nil, "", nil])
        #expect(events[2].head?.status == 500)
    }

    @Test("HTTP truncated responses are errors at finish, a clean close is not") func HTTPResponseTruncated() {
        for text in [
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
            "HTTP/1.1 200 OK\r\nContent-",
            "HTTP/1.1 200 OK\r\n\r\n".dropLast(2) + "",
        ] {
            let events = Feed.responseEventsCheckingSplits(text, finish: true)
            #expect(events.last?.error?.status == 502, "\(text.debugDescription): \(events)")
            #expect(!events.contains(.end), "\(text.debugDescription)")
        }
        #expect(Feed.responseEventsCheckingSplits("", finish: true).isEmpty)
        let afterOne = Feed.responseEventsCheckingSplits("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", finish: true)
        #expect(afterOne.count == 3)
        #expect(afterOne.last == .end)
    }

    static let invalid: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Ws : a\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        "HTTP/1.1 99 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20x OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/3.0 200 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200 O\u{01}K\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
    ]

    @Test("HTTP invalid upstream responses are 502", arguments: invalid)
    func HTTPResponseInvalid(_ text: String) {
        let events = Feed.responseEventsCheckingSplits(text, finish: true)
        #expect(events.last?.error?.status == 502, "\(events)")
        #expect(events.filter { $0.error != nil }.count == 1)
    }

    @Test("HTTP response header section is bounded") func HTTPResponseHeadLimit() {
        var parser = HTTPResponseParser(limits: HTTPLimits(maxHeaderBytes: 100))
        var events: [HTTPResponseEvent] = []
        parser.parse(Feed.bytes("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 200)), into: &events)
        #expect(events.count == 1)
        #expect(events.first?.error?.status == 502)
        #expect(parser.hasFailed)
    }
}
