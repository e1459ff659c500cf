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

/// HTTPHeadScanner + HTTPRequestHeadRanges.parse: the request-side rows of
/// proxy-checklist.md decided by parsing. Every case is fed whole, a byte
/// at a time, and in two pieces split at each byte boundary
/// (ProxyUnit.checkRequest), and must come out the same every way.
@Suite struct ProxyUnitRequestHeadTests {
    typealias U = ProxyUnit

    // MARK: Valid requests

    @Test func plainGet() throws {
        let r = try #require(U.expectParsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(r.headLength == 27)
        #expect(r.method == "GET" && r.originTarget == "/" && r.authority == nil)
        #expect(r.version == .http11 && r.framing == .none && r.keepAlive)
        #expect(r.isIdempotent && !r.isHead && !r.expectsContinue)
        #expect(r.requestID == nil && r.forwardedFor.isEmpty && r.nominated.isEmpty)
    }

    @Test func headLengthExcludesTheBody() throws {
        let r = try #require(U.expectParsed("POST /predict HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"))
        #expect(r.headLength == "POST /predict HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n".utf8.count)
        #expect(r.framing == .length(5))
        #expect(!r.isIdempotent)
    }

    @Test func contentLengthZeroIsNoBody() throws {
        let r = try #require(U.expectParsed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"))
        #expect(r.framing == .none)
    }

    @Test func contentLengthWithSurroundingWhitespace() throws {
        let r = try #require(U.expectParsed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 7 \t\r\n\r\n"))
        #expect(r.framing == .length(7))
    }

    @Test func chunkedRequest() throws {
        let r = try #require(U.expectParsed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
        #expect(r.framing == .chunked)
        let upper = try #require(U.expectParsed("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n"))
        #expect(upper.framing == .chunked)
    }

    @Test func leadingEmptyLinesAreSkipped() throws {
        let r = try #require(U.expectParsed("\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(r.headLength == 4 + 28)
        #expect(r.originTarget == "/x")
    }

    @Test func optionsAsterisk() throws {
        let r = try #require(U.expectParsed("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(r.originTarget == "*" && r.isIdempotent)
    }

    @Test func http10WithoutHost() throws {
        let r = try #require(U.expectParsed("GET / HTTP/1.0\r\n\r\n"))
        #expect(r.version == .http10 && !r.keepAlive)
    }

    @Test func fieldNamesAreCaseInsensitive() throws {
        let r = try #require(U.expectParsed("POST / HTTP/1.1\r\nhOsT: a\r\ncOnTeNt-LeNgTh: 2\r\nx-REQUEST-id: Abc-1\r\n\r\nok"))
        #expect(r.framing == .length(2))
        #expect(r.requestID == "Abc-1")
    }

    @Test func requestIDAndForwardedFor() throws {
        let r = try #require(U.expectParsed(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: first\r\nX-Request-Id: second\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\nX-Forwarded-For: \r\nX-Forwarded-For: 3.3.3.3\r\n\r\n"))
        #expect(r.requestID == "first")
        #expect(r.forwardedFor == ["1.1.1.1, 2.2.2.2", "3.3.3.3"])
        let empty = try #require(U.expectParsed("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id:\r\n\r\n"))
        #expect(empty.requestID == nil)
        let long = try #require(U.expectParsed("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: \(String(repeating: "r", count: 201))\r\n\r\n"))
        #expect(long.requestID == nil, "ids over 200 bytes are replaced")
    }

    @Test func obsTextInAValueIsAccepted() throws {
        // obs-text (0x80-0xFF) is allowed in field values (RFC 9110 §5.5).
        let r = try #require(U.expectParsed([UInt8]("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf".utf8) + [0xC3, 0xA9] + [UInt8]("\r\n\r\n".utf8)))
        #expect(r.method == "GET")
    }

    // MARK: Methods, idempotency

    @Test(arguments: [("GET", true), ("HEAD", true), ("OPTIONS", true), ("TRACE", true), ("PUT", true), ("DELETE", true),
                      ("POST", false), ("PATCH", false), ("get", false), ("Delete", false), ("PROPFIND", false)])
    func idempotency(method: String, idempotent: Bool) throws {
        let r = try #require(U.expectParsed("\(method) /x HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(r.method == method)
        #expect(r.isIdempotent == idempotent)
        #expect(r.isHead == (method == "HEAD"))
    }

    @Test func connectIsNotImplemented() {
        U.expectRejected("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501)
        U.expectRejected("connect a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501)
    }

    // MARK: Versions

    @Test func unsupportedVersionsAre505() {
        U.expectRejected("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505)
        U.expectRejected("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505)
        U.expectRejected("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505)
        U.expectRejected("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505)
    }

    @Test func malformedVersionsAre400() {
        for version in ["HTTP/2", "HTTP/1.1x", "HTTP/1,1", "http/1.1", "Http/1.1", "HTTP/11", "HTTP/a.1", "HTTP 1.1", "XTTP/1.1", ""] {
            U.expectRejected("GET / \(version)\r\nHost: a\r\n\r\n", 400)
        }
    }

    // MARK: Malformed request lines

    @Test func malformedRequestLines() {
        U.expectRejected("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400)     // two spaces
        U.expectRejected(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)     // leading space
        U.expectRejected("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400)     // trailing space
        U.expectRejected("GET /\r\nHost: a\r\n\r\n", 400)               // no version
        U.expectRejected("GET\r\nHost: a\r\n\r\n", 400)
        U.expectRejected("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400)     // tab
        U.expectRejected("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400)      // not a tchar
        U.expectRejected("GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400)      // not origin/absolute form
        U.expectRejected("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400)   // space in target
        U.expectRejected([UInt8]("GET /caf".utf8) + [0xC3, 0xA9] + [UInt8](" HTTP/1.1\r\nHost: a\r\n\r\n".utf8), 400)
        U.expectRejected([UInt8]("GET /a".utf8) + [0x00] + [UInt8](" HTTP/1.1\r\nHost: a\r\n\r\n".utf8), 400)
        U.expectRejected("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400)  // bare CR in the target
        U.expectRejected("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400)    // CR CR LF
        U.expectRejected("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)    // leading bare LF
    }

    // MARK: H3 – H10 framing

    @Test func h3ContentLengthAndTransferEncoding() {
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n", 400)
    }

    @Test func h4DifferingContentLengths() {
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", 400)
    }

    @Test func h5RepeatedContentLength() {
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3,3\r\n\r\nabc", 400)
    }

    @Test(arguments: ["-1", "+5", "5 5", "1000.1", "18446744073709551616", "", "0x5", "5a", "1e3", "٣", "9999999999999999999"])
    func h6InvalidContentLength(value: String) {
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(value)\r\n\r\n", 400)
    }

    @Test func h6WhitespaceOnlyContentLength() {
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:   \r\n\r\n", 400)
    }

    @Test func largeButValidContentLengthIs413() {
        // 18 digits parse; over client_max_body_size it is 413 before any body (H23).
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n", 413)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 413, maxBody: 10)
        #expect(U.expectParsed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", maxBody: 10)?.framing == .length(10))
    }

    @Test func h7ChunkedNotFinal() {
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400)
    }

    @Test func h8UnknownCodingBeforeChunked() {
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501)
    }

    @Test func h9ChunkedTwice() {
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400)
    }

    @Test func h10ChunkedInHTTP10() {
        U.expectRejected("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
    }

    // MARK: H13 – H19 field syntax

    @Test func h13BareLFInTheHead() {
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\nHost: a\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\n\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\n\r\n", 400)
    }

    @Test func h14ObsFold() {
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n\tb\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400)
    }

    @Test func h15WhitespaceBeforeColon() {
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\nX-Ws : a\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400)
        U.expectRejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\nhello", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400)
    }

    @Test func h16BareCR() {
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\nX-Cr: a\rb\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\nX-Cr: a\r\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\nX\rCr: a\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n", 400)
    }

    @Test func h17ControlBytes() {
        let prefix = [UInt8]("GET / HTTP/1.1\r\nHost: a\r\n".utf8)
        let end = [UInt8]("\r\n\r\n".utf8)
        U.expectRejected(prefix + [UInt8]("X-Nul: a".utf8) + [0x00] + [UInt8]("b".utf8) + end, 400)
        U.expectRejected(prefix + [UInt8]("X-Del: a".utf8) + [0x7F] + end, 400)
        U.expectRejected(prefix + [UInt8]("X-Esc: ".utf8) + [0x1B] + [UInt8]("[0m".utf8) + end, 400)
        U.expectRejected(prefix + [UInt8]("X".utf8) + [0x01] + [UInt8]("Y: a".utf8) + end, 400)
        U.expectRejected(prefix + [0x00] + [UInt8]("X: a".utf8) + end, 400)
        U.expectRejected(prefix + [UInt8]("X(Y): a".utf8) + end, 400)   // separator in a name
        U.expectRejected(prefix + [UInt8](": a".utf8) + end, 400)      // empty name
        U.expectRejected(prefix + [UInt8]("X-No-Colon".utf8) + end, 400)
    }

    @Test func h18Host() {
        U.expectRejected("GET / HTTP/1.1\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        U.expectRejected("GET http://other/x HTTP/1.1\r\n\r\n", 400)
    }

    /// RFC 9112 §3.2: 400 for a Host field with an invalid value. Host is
    /// `uri-host [":" port]` (RFC 3986): no space, no `/`, no userinfo; a
    /// comma is refused too, since a Host holding a list is two Hosts.
    @Test(arguments: ["a, b", "a,b", "a b", "evil/@a", "u@a", "a:b", "a:80x", "a:123456", "[::1", "[]", "[::1]x", "a]",
                      "%zz", "a%4", "a\\b", "a?b", "a#b", "", ":80", "\"a\""])
    func h18InvalidHostValue(value: String) {
        U.expectRejected("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n", 400)
        U.expectRejected("GET / HTTP/1.0\r\nHost: \(value)\r\n\r\n", 400)
        // Also when an absolute-form target replaces it.
        U.expectRejected("GET http://other/ HTTP/1.1\r\nHost: \(value)\r\n\r\n", 400)
    }

    @Test(arguments: ["a", "a:8080", "a:", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:8080", "[v1.x:y]",
                      "xn--bcher-kva.example", "a.b-c_d~e", "%41b", "a!$&'()*+;=b", "localhost:65535"])
    func h18ValidHostValue(value: String) throws {
        let r = try #require(U.expectParsed("GET / HTTP/1.1\r\nHost: \(value)\r\n\r\n"))
        #expect(r.authority == nil)
    }

    /// Connection cannot make Host or the framing fields hop-by-hop: drover
    /// needs them end to end (RFC 9110 §7.6.1: such an option is the
    /// sender's error), so they are never nominated.
    @Test func connectionNeverNominatesHostOrFraming() throws {
        let r = try #require(U.expectParsed(
            "POST / HTTP/1.1\r\nHost: a\r\nConnection: host, Content-Length, TRANSFER-ENCODING, X-A\r\nContent-Length: 2\r\n\r\nok"))
        #expect(r.nominated == ["X-A"])
        #expect(r.framing == .length(2))
    }

    @Test func h19BareLFRequest() {
        U.expectRejected("GET / HTTP/1.1\nHost: a\n\n", 400)
    }

    // MARK: H20 absolute-form

    @Test func h20AbsoluteForm() throws {
        let r = try #require(U.expectParsed("GET http://other/x HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(r.originTarget == "/x")
        #expect(r.authority == "other")
        let port = try #require(U.expectParsed("GET HTTP://other:8080/x/y?q=1 HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(port.originTarget == "/x/y?q=1" && port.authority == "other:8080")
        let bare = try #require(U.expectParsed("GET https://other HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(bare.originTarget == "" && bare.authority == "other")
        let query = try #require(U.expectParsed("GET http://other?q HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(query.originTarget == "?q" && query.authority == "other")
    }

    @Test func h20BadAbsoluteForms() {
        U.expectRejected("GET ftp://other/x HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        U.expectRejected("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        U.expectRejected("GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        U.expectRejected("GET http: HTTP/1.1\r\nHost: a\r\n\r\n", 400)
        U.expectRejected("GET http://?x HTTP/1.1\r\nHost: a\r\n\r\n", 400)
    }

    /// RFC 9110 §4.2.4: userinfo in an http(s) URI is an error; RFC 9112
    /// §3.2: a request-target has no fragment (in any form).
    @Test func h20UserinfoAndFragmentsAre400() {
        U.expectRejected("GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        U.expectRejected("GET http://u:p@h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        U.expectRejected("GET http://@h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        U.expectRejected("GET http://h/x#f HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        U.expectRejected("GET http://h#f HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        U.expectRejected("GET /x#f HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        U.expectRejected("GET /x?q#f HTTP/1.1\r\nHost: h\r\n\r\n", 400)
    }

    @Test func h20InvalidAuthoritiesAre400() {
        for authority in ["a b", "a,b", "h:x", "[::1", "%zz", "h:1234567"] {
            U.expectRejected("GET http://\(authority)/ HTTP/1.1\r\nHost: h\r\n\r\n", 400)
        }
        let v6 = U.expectParsed("GET http://[::1]:8080/x HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(v6?.authority == "[::1]:8080" && v6?.originTarget == "/x")
    }

    // MARK: H23 Expect

    @Test func h23Expect() throws {
        let r = try #require(U.expectParsed("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
        #expect(r.expectsContinue && r.framing == .length(5))
        let upper = try #require(U.expectParsed("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n"))
        #expect(upper.expectsContinue)
        U.expectRejected("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\n", 417)
        U.expectRejected("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\nContent-Length: 5\r\n\r\n", 417)
        // Over client_max_body_size: 413 before reading the body.
        U.expectRejected("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n", 413, maxBody: 50)
    }

    // MARK: H24 – H26 limits

    static func get(target: String = "/", fields: [String]) -> [UInt8] {
        var text = "GET \(target) HTTP/1.1\r\nHost: a\r\n"
        for field in fields { text += field + "\r\n" }
        return Array((text + "\r\n").utf8)
    }

    @Test func h24HeaderLines() throws {
        let nine = Self.get(fields: ["X-Big: " + String(repeating: "b", count: 9 * 1024)])
        #expect(U.checkRequest(nine).request != nil, "a 9 KB field is under max_header_size")
        let twenty = Self.get(fields: ["X-Big: " + String(repeating: "b", count: 20 * 1024)])
        #expect(U.checkRequest(twenty) == .rejected(431))
    }

    @Test func h24HeadExactlyAtTheLimit() throws {
        // "GET / HTTP/1.1\r\nHost: a\r\n" (25) + "X: " (3) + value + "\r\n" (2) + "\r\n" (2)
        let fixed = 25 + 3 + 2 + 2
        let atLimit = Self.get(fields: ["X: " + String(repeating: "v", count: 16 * 1024 - fixed)])
        #expect(atLimit.count == 16 * 1024)
        #expect(U.checkRequest(atLimit).request?.headLength == 16 * 1024)
        let over = Self.get(fields: ["X: " + String(repeating: "v", count: 16 * 1024 - fixed + 1)])
        #expect(U.checkRequest(over) == .rejected(431))
        // A smaller max_header_size applies.
        let small = Self.get(fields: ["X: " + String(repeating: "v", count: 1000)])
        #expect(small.count == 1032)
        #expect(U.checkRequest(small, maxHeaderSize: 1032).request != nil)
        #expect(U.checkRequest(small, maxHeaderSize: 1031) == .rejected(431))
    }

    @Test func h25LongTargets() throws {
        let ok = Self.get(target: "/" + String(repeating: "t", count: 7999), fields: [])
        let r = try #require(U.checkRequest(ok).request, "an 8000-octet target is accepted")
        #expect(r.originTarget.utf8.count == 8000)
        // The request line has its own bound of 12 KiB: a 9 KB target passes.
        let nine = Self.get(target: "/" + String(repeating: "t", count: 9 * 1024), fields: [])
        #expect(U.checkRequest(nine).request != nil)
        let thirteen = Self.get(target: "/" + String(repeating: "t", count: 13 * 1024), fields: [])
        #expect(U.checkRequest(thirteen) == .rejected(414))
    }

    /// A 20 KB target is also longer than max_header_size: still 414, fed
    /// whole or a byte at a time.
    @Test func h25TwentyKilobyteTargetIs414HoweverItArrives() {
        let twenty = Self.get(target: "/" + String(repeating: "t", count: 20 * 1024), fields: [])
        #expect(U.requestByteByByte(twenty) == .rejected(414))
        #expect(U.requestWhole(twenty) == .rejected(414))
        #expect(U.requestSplit(twenty, at: 12 * 1024 + 1) == .rejected(414))
    }

    /// With max_header_size under the request line's own bound, the head
    /// limit is crossed first: 431, whole or a byte at a time (each limit
    /// fails at the byte that proves it, so the answer never depends on
    /// how the request was split into reads).
    @Test func headLimitBelowTheLineLimitIs431HoweverItArrives() {
        let nine = Self.get(target: "/" + String(repeating: "t", count: 9 * 1024), fields: [])
        #expect(U.checkRequest(nine, maxHeaderSize: 4096) == .rejected(431))
        // A bare LF past the head limit is never reached: the limit is.
        let bareLFLate = Array(("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 5000) + "\nY: b\r\n\r\n").utf8)
        #expect(U.checkRequest(bareLFLate, maxHeaderSize: 4096) == .rejected(431))
        let bareLFEarly = Array(("GET / HTTP/1.1\r\nHost: a\nX: " + String(repeating: "v", count: 5000) + "\r\n\r\n").utf8)
        #expect(U.checkRequest(bareLFEarly, maxHeaderSize: 4096) == .rejected(400))
    }

    /// A request line of exactly the limit (12 KiB) is accepted however it
    /// arrives, also when its CR arrives before its LF: the byte after the
    /// limit may be that CR, so the scanner decides only at the byte after.
    @Test func requestLineAtTheLimitIsAcceptedHoweverItArrives() {
        let limit = U.maxRequestLine
        let target = "/" + String(repeating: "t", count: limit - "GET ".utf8.count - " HTTP/1.1".utf8.count - 1)
        let bytes = Self.get(target: target, fields: [])
        #expect("GET \(target) HTTP/1.1".utf8.count == limit)
        #expect(U.requestWhole(bytes).request != nil)
        #expect(U.requestByteByByte(bytes).request != nil)
        // The two pieces `line + CR` and the rest:
        #expect(U.requestSplit(bytes, at: limit + 1).request != nil)
        let overByOne = Self.get(target: target + "t", fields: [])
        #expect(U.requestWhole(overByOne) == .rejected(414))
        #expect(U.requestByteByByte(overByOne) == .rejected(414))
    }

    @Test func h26FieldCount() throws {
        let hundred = Self.get(fields: (1...99).map { "X-\($0): v" })   // + Host = 100
        #expect(U.checkRequest(hundred).request != nil)
        let hundredOne = Self.get(fields: (1...100).map { "X-\($0): v" })
        #expect(U.checkRequest(hundredOne) == .rejected(431))
        let hundredTwenty = Self.get(fields: (1...119).map { "X-\($0): v" })
        #expect(U.checkRequest(hundredTwenty) == .rejected(431))
    }

    @Test func tooManyLeadingEmptyLines() {
        let many = [UInt8](String(repeating: "\r\n", count: 600).utf8) + [UInt8]("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        #expect(U.requestWhole(many) == .rejected(400))
        let some = [UInt8](String(repeating: "\r\n", count: 10).utf8) + [UInt8]("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        #expect(U.checkRequest(some).request?.headLength == some.count)
    }

    // MARK: Keep-alive and Connection

    @Test(arguments: [
        ("HTTP/1.1", "", true),
        ("HTTP/1.1", "Connection: close\r\n", false),
        ("HTTP/1.1", "Connection: CLOSE\r\n", false),
        ("HTTP/1.1", "Connection: keep-alive\r\n", true),
        ("HTTP/1.1", "Connection: keep-alive, close\r\n", false),
        ("HTTP/1.1", "Connection: keep-alive\r\nConnection: close\r\n", false),
        ("HTTP/1.1", "Connection: X-Foo\r\n", true),
        ("HTTP/1.0", "", false),
        ("HTTP/1.0", "Connection: keep-alive\r\n", true),
        ("HTTP/1.0", "Connection: Keep-Alive\r\n", true),
        ("HTTP/1.0", "Connection: keep-alive, close\r\n", false),
        ("HTTP/1.0", "Connection: close\r\nConnection: keep-alive\r\n", false),
        ("HTTP/1.0", "Connection: X-Foo\r\n", false),
    ])
    func keepAlive(version: String, fields: String, expected: Bool) throws {
        let r = try #require(U.expectParsed("GET / \(version)\r\nHost: a\r\n\(fields)\r\n"))
        #expect(r.keepAlive == expected)
    }

    @Test func nominatedConnectionTokens() throws {
        let r = try #require(U.expectParsed(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nConnection: ,, x-other ,close\r\n\r\n"))
        #expect(r.nominated == ["X-Secret", "x-other"])
        #expect(!r.keepAlive)
    }

    // MARK: The scanner

    @Test func scannerResetParsesThePipelinedNextRequest() throws {
        let first = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
        let second = "POST /2 HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc"
        let bytes = Array((first + second).utf8)
        var scanner = HTTPHeadScanner(limits: U.requestLimits())
        let firstLength: Int = try bytes.withUnsafeBytes { raw in
            guard case .complete(let n) = try scanner.scan(raw) else { Issue.record("incomplete"); return 0 }
            let head = try HTTPRequestHeadRanges.parse(raw, scanner, maxBody: 100)
            #expect(HTTPHeadBytes.string(raw, head.originTarget) == "/1")
            return n
        }
        #expect(firstLength == first.utf8.count)
        scanner.reset()
        #expect(scanner.isAtStart)
        let rest = Array(bytes[firstLength...])
        try rest.withUnsafeBytes { raw in
            guard case .complete(let n) = try scanner.scan(raw) else { Issue.record("incomplete"); return }
            #expect(n == second.utf8.count - 3)
            let head = try HTTPRequestHeadRanges.parse(raw, scanner, maxBody: 100)
            #expect(HTTPHeadBytes.string(raw, head.originTarget) == "/2")
            #expect(head.framing == .length(3))
            #expect(scanner.fields.count == 2)
        }
    }

    @Test func scannerFieldRanges() throws {
        let bytes = Array("GET / HTTP/1.1\r\nHost:a\r\nX-Pad:  \t padded value \t \r\nX-Empty:\r\n\r\n".utf8)
        var scanner = HTTPHeadScanner(limits: U.requestLimits())
        try bytes.withUnsafeBytes { raw in
            guard case .complete = try scanner.scan(raw) else { Issue.record("incomplete"); return }
            #expect(HTTPHeadBytes.string(raw, scanner.startLine) == "GET / HTTP/1.1")
            let f = scanner.fields
            #expect(f.count == 3)
            #expect(f.map { HTTPHeadBytes.string(raw, $0.name) } == ["Host", "X-Pad", "X-Empty"])
            #expect(f.map { HTTPHeadBytes.string(raw, $0.value) } == ["a", "padded value", ""])
            #expect(HTTPHeadBytes.string(raw, f[1].line) == "X-Pad:  \t padded value \t ")
            #expect(f.map(\.field) == [.host, .other, .other])
        }
    }

    @Test func knownFieldClassification() {
        let names: [(String, HTTPKnownField)] = [
            ("Host", .host), ("content-length", .contentLength), ("TRANSFER-ENCODING", .transferEncoding),
            ("Connection", .connection), ("Keep-Alive", .keepAlive), ("TE", .te), ("Trailer", .trailer),
            ("Proxy-Connection", .proxyConnection), ("Upgrade", .upgrade), ("Expect", .expect),
            ("X-Forwarded-For", .xForwardedFor), ("X-Real-IP", .xRealIP), ("X-Forwarded-Proto", .xForwardedProto),
            ("X-Request-ID", .xRequestID), ("Date", .date), ("Max-Forwards", .maxForwards),
            ("Hosts", .other), ("T", .other), ("Trailers", .other), ("Content-Type", .other),
        ]
        for (name, expected) in names {
            let bytes = Array(name.utf8)
            let field = bytes.withUnsafeBytes { HTTPKnownField.classify($0, 0..<bytes.count) }
            #expect(field == expected, "\(name)")
        }
        let hop: [HTTPKnownField] = [.connection, .keepAlive, .te, .trailer, .proxyConnection, .upgrade, .transferEncoding]
        let endToEnd: [HTTPKnownField] = [.host, .contentLength, .expect, .xForwardedFor, .xRequestID, .other]
        let hopFlags = hop.map { $0.isHopByHop }
        let endFlags = endToEnd.map { $0.isHopByHop }
        #expect(hopFlags == Array(repeating: true, count: hop.count))
        #expect(endFlags == Array(repeating: false, count: endToEnd.count))
    }
}
