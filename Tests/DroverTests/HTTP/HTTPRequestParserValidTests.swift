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

/// Well-formed requests of every shape RFC 9112 allows; each is also fed
/// byte by byte and in 7-byte pieces and must give the same events.
@Suite("HTTP request parser: valid requests") struct HTTPRequestParserValidTests {
    typealias Feed = HTTPTestFeed

    @Test("HTTP GET with query") func HTTPGetWithQuery() throws {
        let events = Feed.requestEventsCheckingSplits("GET /v1/processes/a%2Fb/log?stream=std+out&follow=1&x=%E2%9C%93 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n")
        #expect(events.count == 2)
        let head = try #require(events.first?.head)
        #expect(head.method == "GET")
        #expect(head.version == .http11)
        #expect(head.path == "/v1/processes/a%2Fb/log")
        #expect(head.pathSegments == ["v1", "processes", "a/b", "log"])
        #expect(head.query == "stream=std+out&follow=1&x=%E2%9C%93")
        let items = head.queryItems.map { "\($0.name)=\($0.value)" }
        #expect(items == ["stream=std out", "follow=1", "x=✓"])
        #expect(head.framing == .none)
        #expect(head.keepAlive)
        #expect(!head.expectsContinue)
        #expect(head.headers["HOST"] == "localhost")
        #expect(head.headers["accept"] == "*/*")
        #expect(events.last == .end)
    }

    @Test("HTTP POST with Content-Length") func HTTPPostWithContentLength() throws {
        let events = Feed.requestEventsCheckingSplits("POST /v1/reload HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\": true}")
        #expect(events.count == 3)
        #expect(events[0].head?.framing == .length(11))
        #expect(events[1] == .body(Feed.bytes("{\"a\": true}")))
        #expect(events[2] == .end)
    }

    @Test("HTTP Content-Length 0 ends at once") func HTTPContentLengthZero() {
        let events = Feed.requestEventsCheckingSplits("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
        #expect(events.count == 2)
        #expect(events[0].head?.framing == .length(0))
        #expect(events[1] == .end)
    }

    @Test("HTTP chunked body with extensions and trailers") func HTTPChunkedWithExtensionsAndTrailers() {
        let text = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;ext=1\r\nabcde\r\n"
            + "A ; name=\"quoted value\" ; flag\r\n0123456789\r\n"
            + "000\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"
        let events = Feed.requestEventsCheckingSplits(text)
        #expect(events.count == 3)
        #expect(events[0].head?.framing == .chunked)
        #expect(events[1] == .body(Feed.bytes("abcde0123456789")))
        #expect(events[2] == .end)
    }

    @Test("HTTP chunked, uppercase hex and coding name case") func HTTPChunkedUppercase() {
        let events = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n1F\r\n\(String(repeating: "z", count: 31))\r\n0\r\n\r\n")
        #expect(events.count == 3)
        #expect(events[1] == .body(Array(repeating: UInt8(ascii: "z"), count: 31)))
    }

    @Test("HTTP three pipelined requests in one buffer") func HTTPPipelinedThree() throws {
        let text = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            + "PUT /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
        let events = Feed.requestEventsCheckingSplits(text)
        try #require(events.count == 8)
        #expect(events[0].head?.target == "/one")
        #expect(events[1] == .end)
        #expect(events[2].head?.target == "/two")
        #expect(events[3] == .body(Feed.bytes("abc")))
        #expect(events[4] == .end)
        #expect(events[5].head?.target == "/three")
        #expect(events[6] == .body(Feed.bytes("xy")))
        #expect(events[7] == .end)
    }

    @Test("HTTP pipelined: end of the last request") func HTTPPipelinedEnds() {
        let text = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
        let events = Feed.requestEventsCheckingSplits(text)
        #expect(events.map { $0.head?.target } == ["/1", nil, "/2", nil])
        #expect(events[3] == .end)
    }

    @Test("HTTP/1.0 keep-alive and default close") func HTTP10KeepAlive() {
        let keep = Feed.requestEventsCheckingSplits("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        #expect(keep.first?.head?.version == .http10)
        #expect(keep.first?.head?.keepAlive == true)
        let close = Feed.requestEventsCheckingSplits("GET / HTTP/1.0\r\n\r\n")
        #expect(close.first?.head?.keepAlive == false)
        #expect(close.last == .end)
        let closing11 = Feed.requestEventsCheckingSplits("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, CLOSE\r\n\r\n")
        #expect(closing11.first?.head?.keepAlive == false)
        #expect(closing11.first?.head?.headers.contains(token: "upgrade", in: "Connection") == true)
    }

    @Test("HTTP Expect: 100-continue") func HTTPExpectContinue() {
        let events = Feed.requestEventsCheckingSplits("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nhello")
        #expect(events.first?.head?.expectsContinue == true)
        #expect(events[1] == .body(Feed.bytes("hello")))
        // Any other expectation is 417 from the parser (see the rejections).
        // The head arrives before the body, so the server can answer 100 first.
        var parser = HTTPRequestParser()
        var early: [HTTPRequestEvent] = []
        parser.parse(Feed.bytes("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"), into: &early)
        #expect(early.count == 1)
        #expect(early.first?.head?.expectsContinue == true)
        #expect(!parser.isAtMessageBoundary)
    }

    @Test("HTTP absolute-form target") func HTTPAbsoluteForm() throws {
        let events = Feed.requestEventsCheckingSplits("GET http://other:8080/x/y?q=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = try #require(events.first?.head)
        #expect(head.target == "http://other:8080/x/y?q=1")
        #expect(head.absoluteFormAuthority == "other:8080")
        #expect(head.originFormTarget == "/x/y?q=1")
        #expect(head.path == "/x/y")
        #expect(head.queryItems.first?.value == "1")
        let bare = try #require(Feed.requestEventsCheckingSplits("GET http://other HTTP/1.1\r\nHost: a\r\n\r\n").first?.head)
        #expect(bare.originFormTarget == "/")
        let origin = try #require(Feed.requestEventsCheckingSplits("GET /r?u=http://x/y HTTP/1.1\r\nHost: a\r\n\r\n").first?.head)
        #expect(origin.originFormTarget == "/r?u=http://x/y")
        #expect(origin.absoluteFormAuthority == nil)
    }

    @Test("HTTP OPTIONS * and unknown methods") func HTTPOptionsAsteriskAndUnknownMethod() {
        let star = Feed.requestEventsCheckingSplits("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(star.first?.head?.target == "*")
        #expect(star.first?.head?.path == "*")
        #expect(star.last == .end)
        let custom = Feed.requestEventsCheckingSplits("PURGE-ALL! /cache HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(custom.first?.head?.method == "PURGE-ALL!")
        #expect(custom.count == 2)
    }

    @Test("HTTP bodiless methods without framing have no body", arguments: ["GET", "HEAD", "DELETE", "OPTIONS", "POST"])
    func HTTPNoFramingNoBody(method: String) {
        let events = Feed.requestEventsCheckingSplits("\(method) / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(events.count == 4)
        #expect(events[0].head?.framing == HTTPBodyFraming.none)
        #expect(events[2].head?.target == "/next")
    }

    @Test("HTTP GET with a body keeps its framing") func HTTPGetWithBody() {
        let events = Feed.requestEventsCheckingSplits("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        #expect(events == [events[0], .body(Feed.bytes("hello")), .end])
    }

    @Test("HTTP leading empty lines before the request line are skipped") func HTTPLeadingEmptyLines() {
        let events = Feed.requestEventsCheckingSplits("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(events.count == 2)
        #expect(events.first?.head?.target == "/")
    }

    @Test("HTTP stray CRLF after a body before the next request") func HTTPStrayCRLFBetweenRequests() {
        let events = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(events.count == 5)
        #expect(events[3].head?.target == "/2")
    }

    @Test("HTTP headers: order, repeats, OWS trimmed, obs-text kept") func HTTPHeaderDetails() throws {
        let events = Feed.requestEventsCheckingSplits("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t one \t\r\nx-a: two\r\nEmpty:\r\nX-Tab: a\tb\r\nX-Utf8: caf\u{E9}\r\n\r\n")
        let head = try #require(events.first?.head)
        #expect(head.headers.values(for: "X-A") == ["one", "two"])
        #expect(head.headers["x-a"] == "one")
        #expect(head.headers["empty"] == "")
        #expect(head.headers["x-tab"] == "a\tb")
        #expect(head.headers["X-UTF8"] == "café")
        #expect(head.headers.fields.map(\.name) == ["Host", "X-A", "x-a", "Empty", "X-Tab", "X-Utf8"])
    }

    @Test("HTTP Content-Length with leading zeros is one number") func HTTPContentLengthLeadingZeros() {
        // Repeats, even equal ones, are refused (the proxy's rule H5; see the rejections).
        let events = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc")
        #expect(events.first?.head?.framing == .length(3))
        #expect(events.last == .end)
    }

    @Test("HTTP the head and its body arrive in any split, the body never read as head") func HTTPHeadThenBodyInOneRead() throws {
        // Body bytes that look like a head must stay body; the next request
        // starts right after them.
        let text = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 25\r\n\r\nGET /x HTTP/1.1\r\nH: v\r\n\r\n"
            + "GET /b HTTP/1.1\r\nHost: a\r\n\r\n"
        let events = Feed.requestEventsCheckingSplits(text)
        try #require(events.count == 5)
        #expect(events[0].head?.target == "/a")
        #expect(events[1] == .body(Feed.bytes("GET /x HTTP/1.1\r\nH: v\r\n\r\n")))
        #expect(events[2] == .end)
        #expect(events[3].head?.target == "/b")
        #expect(events[4] == .end)
    }

    @Test("HTTP parser is at a message boundary only between requests") func HTTPMessageBoundary() {
        var parser = HTTPRequestParser()
        var events: [HTTPRequestEvent] = []
        #expect(parser.isAtMessageBoundary)
        parser.parse(Feed.bytes("GET / HT"), into: &events)
        #expect(!parser.isAtMessageBoundary)
        parser.parse(Feed.bytes("TP/1.1\r\nHost: a\r\n\r\n"), into: &events)
        #expect(parser.isAtMessageBoundary)
        #expect(events.count == 2)
        // A stray CRLF between requests is not the start of one.
        parser.parse(Feed.bytes("\r\n"), into: &events)
        #expect(parser.isAtMessageBoundary)
        parser.parse(Feed.bytes("\r"), into: &events)
        #expect(!parser.isAtMessageBoundary)
        #expect(HTTPRequestHead.percentDecoded("a%2Fb") == "a/b")
    }

    @Test("HTTP headers helpers") func HTTPHeadersHelpers() {
        var headers: HTTPHeaders = ["Connection": "keep-alive, X-Secret", "connection": "Upgrade", "X-Secret": "s"]
        #expect(headers.contains(token: "x-secret", in: "CONNECTION"))
        #expect(headers.contains(token: "upgrade", in: "connection"))
        #expect(!headers.contains(token: "close", in: "connection"))
        #expect(headers.listElements(for: "connection") == ["keep-alive", "X-Secret", "Upgrade"])
        headers.replaceOrAdd(name: "Connection", value: "close")
        #expect(headers.values(for: "connection") == ["close"])
        headers.remove(name: "x-secret")
        #expect(headers.count == 1)
        headers.add(name: "A", value: "1")
        #expect(headers.fields.map(\.name) == ["Connection", "A"])
    }

    @Test("HTTP percent decoding") func HTTPPercentDecodingHelper() {
        #expect(HTTPPercentDecoding.decode("a%20b%2f") == "a b/")
        #expect(HTTPPercentDecoding.decode("a+b") == "a+b")
        #expect(HTTPPercentDecoding.decode("a+b", plusIsSpace: true) == "a b")
        #expect(HTTPPercentDecoding.decode("%") == nil)
        #expect(HTTPPercentDecoding.decode("%zz") == nil)
        #expect(HTTPPercentDecoding.decode("%FF") == nil)
        #expect(HTTPPercentDecoding.decode("%C3%A9") == "é")
        let items = HTTPPercentDecoding.queryItems("a=1&&flag&b=%zz&c=x=y")
        #expect(items.map(\.name) == ["a", "flag", "b", "c"])
        #expect(items.map(\.value) == ["1", "", "%zz", "x=y"])
    }
}
