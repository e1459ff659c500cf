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

/// Head and chunk writers: exact bytes, round trips through the parsers,
/// and refusal of anything that would inject a header or split a message.
@Suite("HTTP writers") struct HTTPWriterTests {
    typealias Feed = HTTPTestFeed

    @Test("HTTP response head bytes with the standard reason") func HTTPResponseHeadBytes() throws {
        let bytes = try HTTPHeadWriter.response(status: 404, headers: ["Content-Type": "application/json", "Content-Length": "2"])
        #expect(String(decoding: bytes, as: UTF8.self) == "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n")
        let custom = try HTTPHeadWriter.response(status: 299, headers: [:])
        #expect(String(decoding: custom, as: UTF8.self) == "HTTP/1.1 299 \r\n\r\n")
        let old = try HTTPHeadWriter.response(status: 200, reason: "Fine", version: .http10, headers: [:])
        #expect(String(decoding: old, as: UTF8.self) == "HTTP/1.0 200 Fine\r\n\r\n")
    }

    @Test("HTTP status reason phrases", arguments: [200, 201, 202, 204, 301, 304, 400, 401, 403, 404, 405, 408, 409, 413, 414, 429, 431, 500, 501, 502, 503, 504, 505])
    func HTTPReasonPhrases(status: Int) {
        #expect(!HTTPStatus.reasonPhrase(for: status).isEmpty)
    }

    @Test("HTTP reason phrases spot check") func HTTPReasonPhrasesExact() {
        #expect(HTTPStatus.reasonPhrase(for: 200) == "OK")
        #expect(HTTPStatus.reasonPhrase(for: 413) == "Content Too Large")
        #expect(HTTPStatus.reasonPhrase(for: 431) == "Request Header Fields Too Large")
        #expect(HTTPStatus.reasonPhrase(for: 505) == "HTTP Version Not Supported")
        #expect(HTTPStatus.reasonPhrase(for: 799) == "")
    }

    @Test("HTTP request head round-trips through the request parser") func HTTPRequestRoundTrip() throws {
        let head = HTTPRequestHead(
            method: "POST", target: "/v1/programs/web/scale?n=3", version: .http11,
            headers: ["Host": "localhost", "Content-Length": "4", "X-Request-Id": "abc"],
            framing: .length(4), keepAlive: true)
        let bytes = try HTTPHeadWriter.request(head) + Feed.bytes("body")
        let events = Feed.requestEventsCheckingSplits(bytes)
        #expect(events == [.head(head), .body(Feed.bytes("body")), .end])
    }

    @Test("HTTP chunked response round-trips through the response parser") func HTTPChunkedRoundTrip() throws {
        var bytes = try HTTPHeadWriter.response(status: 200, headers: ["Transfer-Encoding": "chunked", "Content-Type": "text/event-stream"])
        bytes += HTTPChunkWriter.chunk(Feed.bytes("data: 1\n\n"))
        bytes += HTTPChunkWriter.chunk([UInt8]())
        bytes += HTTPChunkWriter.chunkHeader(count: 300) + Array(repeating: 0x61, count: 300) + HTTPChunkWriter.chunkTerminator
        bytes += HTTPChunkWriter.lastChunk
        #expect(HTTPChunkWriter.chunk(Feed.bytes("hello")) == Feed.bytes("5\r\nhello\r\n"))
        #expect(HTTPChunkWriter.chunkHeader(count: 300) == Feed.bytes("12c\r\n"))
        #expect(HTTPChunkWriter.lastChunk == Feed.bytes("0\r\n\r\n"))
        let events = Feed.responseEventsCheckingSplits(String(decoding: bytes, as: UTF8.self))
        #expect(events.count == 3)
        #expect(events[0].head?.framing == .chunked)
        #expect(events[0].head?.headers["content-type"] == "text/event-stream")
        #expect(events[1] == .body(Feed.bytes("data: 1\n\n") + Array(repeating: 0x61, count: 300)))
        #expect(events[2] == .end)
    }

    @Test("HTTP response head round-trips through the response parser") func HTTPResponseRoundTrip() throws {
        let head = HTTPResponseHead(status: 503, reason: "Service Unavailable", headers: ["Retry-After": "1", "Content-Length": "0"], framing: .length(0))
        let events = Feed.responseEvents(try HTTPHeadWriter.response(head))
        #expect(events == [.head(head), .end])
    }

    static let injectedHeaders: [HTTPHeaders] = [
        ["X-A": "a\r\nX-Injected: 1"],
        ["X-A": "a\nX-Injected: 1"],
        ["X-A": "a\rb"],
        ["X-A": "a\u{0}b"],
        ["X-A": "\u{7F}"],
        ["X-A": " leading"],
        ["X-A": "trailing\t"],
        ["X-A\r\nX-Injected": "1"],
        ["X A": "1"],
        ["X-A:": "1"],
        ["": "1"],
        ["Caf\u{E9}": "1"],
    ]

    @Test("HTTP header injection is refused by the writers", arguments: injectedHeaders)
    func HTTPHeaderInjection(_ headers: HTTPHeaders) {
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.response(status: 200, headers: headers) }
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.request(method: "GET", target: "/", headers: headers) }
    }

    @Test("HTTP start-line injection is refused by the writers") func HTTPStartLineInjection() {
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.response(status: 200, reason: "OK\r\nX-Injected: 1", headers: [:]) }
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.response(status: 42, headers: [:]) }
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.response(status: 1000, headers: [:]) }
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.request(method: "GET / HTTP/1.1\r\nX:", target: "/", headers: [:]) }
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.request(method: "", target: "/", headers: [:]) }
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.request(method: "GET", target: "/a b", headers: [:]) }
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.request(method: "GET", target: "/a\r\nX: y", headers: [:]) }
        #expect(throws: HTTPHeadWriterError.self) { try HTTPHeadWriter.request(method: "GET", target: "", headers: [:]) }
    }
}

extension HTTPHeaders: CustomTestStringConvertible {
    public var testDescription: String { String(describing: fields) }
}
