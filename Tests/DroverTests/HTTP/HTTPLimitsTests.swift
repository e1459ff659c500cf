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

/// Each limit exactly at its boundary (accepted) and one byte or field past
/// it (refused with its own status), fed whole and byte by byte.
@Suite("HTTP limits at and past the boundary") struct HTTPLimitsTests {
    typealias Feed = HTTPTestFeed

    static func requestLine(length: Int) -> String {
        // "GET " + target + " HTTP/1.1"
        "GET /" + String(repeating: "a", count: length - 14) + " HTTP/1.1"
    }

    @Test("HTTP request line at maxRequestLineBytes is accepted, one more is 414") func HTTPRequestLineLimit() {
        let limit = HTTPLimits().maxRequestLineBytes
        #expect(Self.requestLine(length: limit).utf8.count == limit)
        let ok = Feed.requestEventsCheckingSplits(Self.requestLine(length: limit) + "\r\nHost: a\r\n\r\n")
        #expect(ok.first?.head != nil)
        #expect(ok.last == .end)
        let tooLong = Feed.requestEventsCheckingSplits(Self.requestLine(length: limit + 1) + "\r\nHost: a\r\n\r\n")
        #expect(tooLong == [.error(HTTPParseError(status: 414, reason: "request line too long"))])
        // Also without ever sending the line end: the parser must not wait
        // for it. limit + 1 bytes could still be content + CR, so it waits
        // for one more byte before it knows.
        #expect(Feed.requestEvents(Feed.bytes(Self.requestLine(length: limit + 1)), pieceSize: 1).isEmpty)
        #expect(Feed.requestEvents(Feed.bytes(Self.requestLine(length: limit) + "\r"), pieceSize: 1).isEmpty)
        let unterminated = Feed.requestEvents(Feed.bytes(Self.requestLine(length: limit + 2)), pieceSize: 1)
        #expect(unterminated.first?.error?.status == 414)
        // A request line of 8000 octets is accepted, as RFC 9112 §3 asks.
        #expect(Feed.requestEvents(Feed.bytes(Self.requestLine(length: 8000) + "\r\nHost: a\r\n\r\n")).count == 2)
    }

    static func head(totalBytes: Int) -> String {
        // "GET / HTTP/1.1\r\n" (16) + "Host: a\r\n" (9) + "X: v\r\n" (5 + v) + "\r\n" (2)
        "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: totalBytes - 32) + "\r\n\r\n"
    }

    @Test("HTTP head of exactly maxHeaderBytes is accepted, one more is 431") func HTTPHeaderBytesLimit() {
        let limit = HTTPLimits().maxHeaderBytes
        #expect(Self.head(totalBytes: limit).utf8.count == limit)
        let ok = Feed.requestEventsCheckingSplits(Self.head(totalBytes: limit))
        #expect(ok.first?.head != nil)
        #expect(ok.last == .end)
        let tooLarge = Feed.requestEventsCheckingSplits(Self.head(totalBytes: limit + 1))
        #expect(tooLarge.count == 1)
        #expect(tooLarge.first?.error?.status == 431)
        // One 20 KB header line (checklist H24), never terminated.
        let line = Feed.requestEvents(Feed.bytes("GET / HTTP/1.1\r\nX: " + String(repeating: "v", count: 20_000)), pieceSize: 512)
        #expect(line.first?.error?.status == 431)
    }

    @Test("HTTP endless leading empty lines are refused after 1024 bytes") func HTTPEndlessEmptyLines() {
        let events = Feed.requestEvents(Feed.bytes(String(repeating: "\r\n", count: 9000)), pieceSize: 100)
        #expect(events == [.error(HTTPParseError(status: 400, reason: "too many empty lines before the request"))])
        // Up to 1024 bytes of them are skipped, and do not count toward the head.
        let limit = HTTPLimits().maxHeaderBytes
        let ok = Feed.requestEventsCheckingSplits(String(repeating: "\r\n", count: 512) + Self.head(totalBytes: limit))
        #expect(ok.first?.head != nil)
    }

    static func head(headerCount: Int) -> String {
        "GET / HTTP/1.1\r\nHost: a\r\n" + (1..<headerCount).map { "X-\($0): v\r\n" }.joined() + "\r\n"
    }

    @Test("HTTP maxHeaderCount fields are accepted, one more is 431") func HTTPHeaderCountLimit() {
        let limit = HTTPLimits().maxHeaderCount
        let ok = Feed.requestEventsCheckingSplits(Self.head(headerCount: limit))
        #expect(ok.first?.head?.headers.count == limit)
        let tooMany = Feed.requestEventsCheckingSplits(Self.head(headerCount: limit + 1))
        #expect(tooMany.count == 1)
        #expect(tooMany.first?.error?.status == 431)
        // Checklist H26: 120 header lines.
        #expect(Feed.requestEvents(Feed.bytes(Self.head(headerCount: 120))).first?.error?.status == 431)
    }

    @Test("HTTP Content-Length at maxBodyBytes is accepted, one more is 413 before any body") func HTTPContentLengthLimit() {
        let limit = HTTPLimits().maxBodyBytes
        let ok = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: \(limit)\r\n\r\n")
        #expect(ok.count == 1)
        #expect(ok.first?.head?.framing == .length(limit))
        let tooLarge = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: \(limit + 1)\r\n\r\n")
        #expect(tooLarge.count == 1)
        #expect(tooLarge.first?.error?.status == 413)
    }

    @Test("HTTP chunked total at maxBodyBytes is accepted, one more is 413") func HTTPChunkedBodyLimit() {
        let limits = HTTPLimits(maxBodyBytes: 10)
        let ok = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n", limits: limits)
        #expect(ok.count == 3)
        #expect(ok[1] == .body(Feed.bytes("1234567890")))
        #expect(ok[2] == .end)
        let over = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n6\r\n678901\r\n0\r\n\r\n", limits: limits)
        #expect(over.count == 3)
        #expect(over[1] == .body(Feed.bytes("12345")))
        #expect(over[2].error?.status == 413)
        // A huge declared chunk is refused before its data arrives.
        let huge = Feed.requestEventsCheckingSplits("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n")
        #expect(huge.last?.error?.status == 413)
    }

    @Test("HTTP trailer section is bounded like a head") func HTTPTrailerLimits() {
        let limits = HTTPLimits(maxHeaderBytes: 64, maxHeaderCount: 2)
        let start = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        #expect(Feed.requestEventsCheckingSplits(start + "A: 1\r\nB: 2\r\n\r\n", limits: limits).last == .end)
        #expect(Feed.requestEventsCheckingSplits(start + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits).last?.error?.status == 431)
        #expect(Feed.requestEventsCheckingSplits(start + "A: " + String(repeating: "x", count: 64) + "\r\n\r\n", limits: limits).last?.error?.status == 431)
    }

    @Test("HTTP with tiny limits, the earlier-crossed limit wins however the input is split") func HTTPLimitOrderIsSplitIndependent() {
        let limits = HTTPLimits(maxHeaderBytes: 20, maxRequestLineBytes: 30)
        let events = Feed.requestEventsCheckingSplits("GET /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\n\r\n", limits: limits)
        #expect(events == [.error(HTTPParseError(status: 431, reason: "header section too large"))])
        let lineFirst = Feed.requestEventsCheckingSplits("GET /" + String(repeating: "a", count: 40) + " HTTP/1.1\r\n\r\n", limits: HTTPLimits(maxHeaderBytes: 40, maxRequestLineBytes: 20))
        #expect(lineFirst.first?.error?.status == 414)
    }
}
