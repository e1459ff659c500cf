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

/// Every malformed or ambiguous request is refused with its exact status,
/// without a `.head` for it, and the parser stays failed afterwards.
@Suite("HTTP request parser: rejections") struct HTTPRequestParserRejectionTests {
    typealias Feed = HTTPTestFeed

    struct BadRequest: CustomTestStringConvertible, Sendable {
        var name: String
        var text: String
        var status: Int
        /// Errors inside a chunked body come after the head (which the
        /// proxy has not forwarded yet: bodies are read whole first).
        var afterHead = false
        var testDescription: String { name }
    }

    static let host = "Host: a\r\n"

    static let cases: [BadRequest] = [
        // Request line
        .init(name: "empty method", text: " / HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "method not a token", text: "GE(T / HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "two spaces after method", text: "GET  / HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "two spaces before version", text: "GET /  HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "tab as separator", text: "GET\t/ HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "missing target", text: "GET HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "space inside target", text: "GET /a b HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "control in target", text: "GET /a\u{01}b HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "DEL in target", text: "GET /a\u{7F} HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "non-ASCII target", text: "GET /caf\u{E9} HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "trailing space after version", text: "GET / HTTP/1.1 \r\n\(host)\r\n", status: 400),
        .init(name: "HTTP/0.9 style line", text: "GET /\r\n\r\n", status: 400),
        .init(name: "lowercase protocol", text: "GET / http/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "malformed version", text: "GET / HTTP/1\r\n\(host)\r\n", status: 400),
        .init(name: "two-digit version", text: "GET / HTTP/1.10\r\n\(host)\r\n", status: 400),
        .init(name: "HTTP/2.0", text: "GET / HTTP/2.0\r\n\(host)\r\n", status: 505),
        .init(name: "HTTP/1.2", text: "GET / HTTP/1.2\r\n\(host)\r\n", status: 505),
        .init(name: "HTTP/0.9 version", text: "GET / HTTP/0.9\r\n\(host)\r\n", status: 505),
        .init(name: "bare CR in request line", text: "GET /\r HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "mixed-case protocol name", text: "GET / Http/1.1\r\n\(host)\r\n", status: 400),
        // Request targets and methods the proxy refuses, refused everywhere
        .init(name: "CONNECT", text: "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", status: 501),
        .init(name: "asterisk target for GET", text: "GET * HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "authority-form target for GET", text: "GET a:80 HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "relative target", text: "GET v1/status HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "absolute-form with another scheme", text: "GET ftp://a/x HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "absolute-form without a host", text: "GET http:///x HTTP/1.1\r\n\(host)\r\n", status: 400),
        // Line endings (H13, H19: bare LF is refused, see HTTPHeadScanner)
        .init(name: "bare LF request", text: "GET / HTTP/1.1\nHost: a\n\n", status: 400),
        .init(name: "bare LF after headers", text: "GET / HTTP/1.1\r\nHost: a\r\n\n", status: 400),
        .init(name: "bare LF leading empty line", text: "\nGET / HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "CR CR LF", text: "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", status: 400),
        .init(name: "more than 1024 bytes of empty lines first", text: String(repeating: "\r\n", count: 513) + "GET / HTTP/1.1\r\n\(host)\r\n", status: 400),
        // Header fields (H14-H17)
        .init(name: "obs-fold", text: "GET / HTTP/1.1\r\n\(host)X-Fold: a\r\n b\r\n\r\n", status: 400),
        .init(name: "obs-fold with tab", text: "GET / HTTP/1.1\r\n\(host)X-Fold: a\r\n\tb\r\n\r\n", status: 400),
        .init(name: "whitespace before first header", text: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400),
        .init(name: "space before colon", text: "GET / HTTP/1.1\r\n\(host)X-Ws : a\r\n\r\n", status: 400),
        .init(name: "space before colon in Transfer-Encoding", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", status: 400),
        .init(name: "tab before colon", text: "GET / HTTP/1.1\r\n\(host)X-Ws\t: a\r\n\r\n", status: 400),
        .init(name: "no colon", text: "GET / HTTP/1.1\r\n\(host)NoColon\r\n\r\n", status: 400),
        .init(name: "empty field name", text: "GET / HTTP/1.1\r\n\(host): v\r\n\r\n", status: 400),
        .init(name: "field name with slash", text: "GET / HTTP/1.1\r\n\(host)X/Y: v\r\n\r\n", status: 400),
        .init(name: "control in field name", text: "GET / HTTP/1.1\r\n\(host)X\u{01}Y: v\r\n\r\n", status: 400),
        .init(name: "bare CR in value", text: "GET / HTTP/1.1\r\n\(host)X-Cr: a\rb\r\n\r\n", status: 400),
        .init(name: "NUL in value", text: "GET / HTTP/1.1\r\n\(host)X-Nul: a\u{00}b\r\n\r\n", status: 400),
        .init(name: "DEL in value", text: "GET / HTTP/1.1\r\n\(host)X-Del: a\u{7F}b\r\n\r\n", status: 400),
        .init(name: "escape in value", text: "GET / HTTP/1.1\r\n\(host)X-Esc: \u{1B}[31m\r\n\r\n", status: 400),
        // Host (H18)
        .init(name: "HTTP/1.1 without Host", text: "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", status: 400),
        .init(name: "two Host lines", text: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400),
        .init(name: "two Host lines in HTTP/1.0", text: "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", status: 400),
        // The same Host and target rules as the proxy (issue 13 item 4).
        .init(name: "Host 'a, b'", text: "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", status: 400),
        .init(name: "Host 'evil/@a'", text: "GET / HTTP/1.1\r\nHost: evil/@a\r\n\r\n", status: 400),
        .init(name: "empty Host", text: "GET / HTTP/1.1\r\nHost:\r\n\r\n", status: 400),
        .init(name: "userinfo in absolute-form", text: "GET http://u@h/ HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "fragment in the target", text: "GET /v1/status#x HTTP/1.1\r\n\(host)\r\n", status: 400),
        .init(name: "invalid Max-Forwards on OPTIONS", text: "OPTIONS * HTTP/1.1\r\n\(host)Max-Forwards: x\r\n\r\n", status: 400),
        // Content-Length (H4, H5: one line, one number, even when equal; H6)
        .init(name: "equal Content-Length lines", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", status: 400),
        .init(name: "equal Content-Length list", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 3, 3\r\n\r\nabc", status: 400),
        .init(name: "differing Content-Length", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", status: 400),
        .init(name: "differing Content-Length in one line", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 3, 5\r\n\r\nabcde", status: 400),
        .init(name: "negative Content-Length", text: "POST / HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", status: 400),
        .init(name: "plus-signed Content-Length", text: "POST / HTTP/1.1\r\n\(host)Content-Length: +5\r\n\r\nabcde", status: 400),
        .init(name: "Content-Length with inner space", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 5 5\r\n\r\nabcde", status: 400),
        .init(name: "fractional Content-Length", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 1000.1\r\n\r\n", status: 400),
        .init(name: "overflowing Content-Length", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 18446744073709551616\r\n\r\n", status: 400),
        .init(name: "hex Content-Length", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 0x5\r\n\r\n", status: 400),
        .init(name: "empty Content-Length", text: "POST / HTTP/1.1\r\n\(host)Content-Length:\r\n\r\n", status: 400),
        .init(name: "Content-Length with empty list element", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 5,\r\n\r\nabcde", status: 400),
        // Transfer-Encoding (H3, H7-H10)
        .init(name: "Content-Length with Transfer-Encoding", text: "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400),
        .init(name: "Transfer-Encoding with Content-Length", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", status: 400),
        .init(name: "xchunked", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: xchunked\r\n\r\n", status: 400),
        .init(name: "chunked not final", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", status: 400),
        .init(name: "identity only", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: identity\r\n\r\n", status: 400),
        .init(name: "empty Transfer-Encoding", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding:\r\n\r\n", status: 400),
        .init(name: "chunked twice in one line", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", status: 400),
        .init(name: "chunked twice in two lines", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400),
        .init(name: "gzip then chunked", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 501),
        .init(name: "gzip line then chunked line", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 501),
        .init(name: "chunked in HTTP/1.0", text: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400),
        // Expect (H23)
        .init(name: "unknown expectation", text: "GET / HTTP/1.1\r\n\(host)Expect: teapot\r\n\r\n", status: 417),
        .init(name: "100-continue and another expectation", text: "PUT /x HTTP/1.1\r\n\(host)Expect: 100-continue, foo\r\nContent-Length: 2\r\n\r\nok", status: 417),
        // Chunk framing (H11, H13)
        .init(name: "chunk size 0x5", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "chunk size +5", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n+5\r\nabcde\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "chunk size with trailing space", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5 \r\nabcde\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "chunk size with junk", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5 junk\r\nabcde\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "chunk size non-hex", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nZ\r\n", status: 400, afterHead: true),
        .init(name: "empty chunk size", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n\r\n", status: 400, afterHead: true),
        .init(name: "17 hex digits", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "chunk size overflow", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\n", status: 400, afterHead: true),
        .init(name: "bare LF after chunk size", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5\nabcde\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "bare LF in last chunk", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\n\r\n", status: 400, afterHead: true),
        .init(name: "bare LF after extension", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5;a=b\nabcde\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "CR without LF after chunk size", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5\rabcde\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "missing CRLF after chunk data", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabcde\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "bare LF after chunk data", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "control character in chunk extension", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3;a\u{00}\r\nabc\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "chunk extension too long", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n3;\(String(repeating: "e", count: 4097))\r\nabc\r\n0\r\n\r\n", status: 400, afterHead: true),
        .init(name: "obs-fold in trailer", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n", status: 400, afterHead: true),
        .init(name: "bare LF in trailer", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\n\r\n", status: 400, afterHead: true),
        .init(name: "space before colon in trailer", text: "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n0\r\nX-T : a\r\n\r\n", status: 400, afterHead: true),
    ]

    @Test("HTTP malformed request is refused with its status and no head", arguments: cases)
    func HTTPMalformedRequest(_ bad: BadRequest) {
        let events = Feed.requestEventsCheckingSplits(bad.text)
        #expect(events.last?.error?.status == bad.status, "\(events)")
        #expect(events.filter { $0.error != nil }.count == 1)
        if bad.afterHead {
            #expect(events.first?.head?.framing == .chunked)
            #expect(events.filter { $0.head != nil }.count == 1)
            #expect(!events.contains(.end))
        } else {
            #expect(events.allSatisfy { $0.head == nil }, "\(events)")
        }
    }

    @Test("HTTP parser stays failed after an error") func HTTPStaysFailed() {
        var parser = HTTPRequestParser()
        var events: [HTTPRequestEvent] = []
        parser.parse(Feed.bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Ws : a\r\n\r\n"), into: &events)
        #expect(events.count == 1)
        #expect(parser.hasFailed)
        parser.parse(Feed.bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), into: &events)
        #expect(events.count == 1)
    }

    @Test("HTTP pipelined: the good request's events come before the bad one's error") func HTTPPipelinedGoodThenBad() {
        let text = "POST /good HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"
            + "POST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            + "GET /never HTTP/1.1\r\nHost: a\r\n\r\n"
        let events = Feed.requestEventsCheckingSplits(text)
        #expect(events.count == 4)
        #expect(events[0].head?.target == "/good")
        #expect(events[1] == .body(Feed.bytes("ok")))
        #expect(events[2] == .end)
        #expect(events[3].error?.status == 400)
    }

    @Test("HTTP chunked body errors come after the head, never an end") func HTTPChunkErrorAfterHead() {
        let events = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n")
        #expect(events.count == 3)
        #expect(events[0].head?.framing == .chunked)
        #expect(events[1] == .body(Feed.bytes("abc")))
        #expect(events[2].error?.status == 400)
        #expect(!events.contains(.end))
    }
}
