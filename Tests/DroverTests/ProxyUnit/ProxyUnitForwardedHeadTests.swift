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

/// ProxyServer.forwardedHead: the exact bytes that go upstream (before the
/// Content-Length / blank line ProxyClientConnection.submit appends).
@Suite struct ProxyUnitForwardedHeadTests {
    let fixture: ProxyUnitFixture

    init() throws {
        fixture = try ProxyUnitFixture()
    }

    /// The head as forwarded for a client at 10.0.0.9, and the request id.
    func forwarded(_ text: String, peer: String = "10.0.0.9", sourceLocation: SourceLocation = #_sourceLocation) throws -> (head: String, id: String) {
        let bytes = Array(text.utf8)
        var scanner = HTTPHeadScanner(limits: ProxyUnit.requestLimits())
        return try bytes.withUnsafeBytes { raw in
            guard case .complete = try scanner.scan(raw) else {
                Issue.record("incomplete head", sourceLocation: sourceLocation)
                return ("", "")
            }
            let request = try HTTPRequestHeadRanges.parse(raw, scanner, maxBody: 1 << 20)
            let built = fixture.proxy.forwardedHead(raw, scanner, request, peer: peer)
            return (String(decoding: built.head, as: UTF8.self), String(decoding: built.head[built.requestID], as: UTF8.self))
        }
    }

    static func isGeneratedID(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The tail drover adds after the client's own fields.
    static func tail(xff: String = "10.0.0.9", id: String?, via: String = "1.1") -> String {
        "X-Forwarded-For: \(xff)\r\nX-Real-IP: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
            + (id.map { "X-Request-Id: \($0)\r\n" } ?? "") + "Via: \(via) drover\r\nConnection: keep-alive\r\n"
    }

    @Test func h1HopByHopFieldsAreRemoved() throws {
        let (head, id) = try forwarded(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n"
                + "TE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: X-T\r\nUser-Agent: curl/8\r\n\r\n")
        #expect(Self.isGeneratedID(id), "\(id)")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\n" + Self.tail(id: id))
    }

    @Test func nominatedFieldsAreRemovedCaseInsensitively() throws {
        let (head, id) = try forwarded(
            "GET / HTTP/1.1\r\nHost: a\r\nconnection: x-secret ,  X-OTHER\r\nX-SECRET: s\r\nx-other: o\r\nX-Secrets: kept\r\nX-Othe: kept\r\n\r\n")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\nX-Secrets: kept\r\nX-Othe: kept\r\n" + Self.tail(id: id))
    }

    @Test func h2NominatedForwardedForIsDroppedBeforeOursIsAdded() throws {
        let (head, id) = try forwarded(
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\n" + Self.tail(id: id))
    }

    @Test func forwardedForIsAppended() throws {
        let (head, id) = try forwarded(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nAccept: */*\r\nx-forwarded-for:  2.2.2.2, 3.3.3.3 \r\nX-Forwarded-For:\r\n\r\n")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n" + Self.tail(xff: "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9", id: id))
    }

    @Test func realIPAndProtoAreOverwritten() throws {
        let (head, id) = try forwarded(
            "GET / HTTP/1.1\r\nX-Real-IP: 6.6.6.6\r\nHost: a\r\nX-Forwarded-Proto: https\r\nx-real-ip: 7.7.7.7\r\n\r\n")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\n" + Self.tail(id: id))
    }

    @Test func framingAndExpectAreRemoved() throws {
        let (head, id) = try forwarded(
            "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\n\r\nhello")
        #expect(head == "POST /p HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n" + Self.tail(id: id))
        let (chunked, id2) = try forwarded(
            "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        #expect(chunked == "POST /p HTTP/1.1\r\nHost: a\r\n" + Self.tail(id: id2))
    }

    @Test func requestIDIsKept() throws {
        let (head, id) = try forwarded("GET / HTTP/1.1\r\nX-Request-Id: abc-123\r\nHost: a\r\n\r\n")
        #expect(id == "abc-123")
        #expect(head == "GET / HTTP/1.1\r\nX-Request-Id: abc-123\r\nHost: a\r\n" + Self.tail(id: nil))
    }

    @Test func requestIDsAreGeneratedFreshEachTime() throws {
        var seen = Set<String>()
        for _ in 0..<200 {
            let (_, id) = try forwarded("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(Self.isGeneratedID(id), "\(id)")
            seen.insert(id)
        }
        #expect(seen.count == 200)
    }

    /// When drover replaces the client's X-Request-Id (empty, or over 200
    /// bytes), the worker must see only drover's id, the one drover logs.
    @Test func replacedRequestIDIsNotForwardedTwice() throws {
        let long = String(repeating: "r", count: 201)
        let (head, id) = try forwarded("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: \(long)\r\n\r\n")
        #expect(Self.isGeneratedID(id))
        #expect(head.ranges(of: "X-Request-Id:").count == 1, "\(head)")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\n" + Self.tail(id: id))
        let (emptyHead, emptyID) = try forwarded("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id:\r\n\r\n")
        #expect(emptyHead == "GET / HTTP/1.1\r\nHost: a\r\n" + Self.tail(id: emptyID))
    }

    /// Two client ids: drover uses the first; the worker should not see a second.
    @Test func secondClientRequestIDIsNotForwarded() throws {
        let (head, id) = try forwarded("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: one\r\nX-Request-Id: two\r\n\r\n")
        #expect(id == "one")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: one\r\n" + Self.tail(id: nil))
    }

    @Test func nominatedRequestIDIsReplaced() throws {
        let (head, id) = try forwarded("GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Request-Id\r\nX-Request-Id: abc\r\n\r\n")
        #expect(Self.isGeneratedID(id))
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\n" + Self.tail(id: id))
    }

    @Test func h20AbsoluteFormHostIsReplacedByTheAuthority() throws {
        let (head, id) = try forwarded("GET http://other:81/x?y=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n")
        #expect(head == "GET /x?y=1 HTTP/1.1\r\nHost: other:81\r\nAccept: */*\r\n" + Self.tail(id: id))
        let (bare, id2) = try forwarded("GET http://other HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(bare == "GET / HTTP/1.1\r\nHost: other\r\n" + Self.tail(id: id2))
        let (query, id3) = try forwarded("GET http://other?q HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(query == "GET /?q HTTP/1.1\r\nHost: other\r\n" + Self.tail(id: id3))
    }

    /// `Connection: host` (or naming the framing fields) never strips
    /// Host: the HTTP/1.1 request drover sends always carries it.
    @Test func connectionHostKeepsHost() throws {
        let (head, id) = try forwarded("GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\nAccept: */*\r\n\r\n")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n" + Self.tail(id: id))
        let (post, id2) = try forwarded(
            "POST /p HTTP/1.1\r\nconnection: Host, content-length, X-A\r\nHOST: b:81\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok")
        #expect(post == "POST /p HTTP/1.1\r\nHOST: b:81\r\n" + Self.tail(id: id2))
        let (absolute, id3) = try forwarded("GET http://c/x HTTP/1.1\r\nHost: a\r\nConnection: Host\r\n\r\n")
        #expect(absolute == "GET /x HTTP/1.1\r\nHost: c\r\n" + Self.tail(id: id3))
    }

    /// RFC 9110 §7.6.2: TRACE and OPTIONS with Max-Forwards N > 0 go on
    /// with N - 1, in the field's place; other methods pass it untouched.
    @Test func maxForwardsIsDecrementedForTraceAndOptions() throws {
        let (options, id) = try forwarded("OPTIONS /x HTTP/1.1\r\nHost: a\r\nMax-Forwards: 5\r\nAccept: */*\r\n\r\n")
        #expect(options == "OPTIONS /x HTTP/1.1\r\nHost: a\r\nMax-Forwards: 4\r\nAccept: */*\r\n" + Self.tail(id: id))
        let (trace, id2) = try forwarded("TRACE / HTTP/1.1\r\nmax-forwards:  1 \r\nHost: a\r\n\r\n")
        #expect(trace == "TRACE / HTTP/1.1\r\nMax-Forwards: 0\r\nHost: a\r\n" + Self.tail(id: id2))
        let (star, id3) = try forwarded("OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 10\r\n\r\n")
        #expect(star == "OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 9\r\n" + Self.tail(id: id3))
        // Beyond what drover counts: the ceiling minus one.
        let (huge, id4) = try forwarded("TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 99999999999999999999999\r\n\r\n")
        #expect(huge == "TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 999999999\r\n" + Self.tail(id: id4))
        let (get, id5) = try forwarded("GET / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n")
        #expect(get == "GET / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n" + Self.tail(id: id5))
    }

    @Test func otherFieldsPassByteForByte() throws {
        let (head, id) = try forwarded(
            "PUT /a/b?c=d%20e HTTP/1.1\r\nhost:a\r\nx-lower: v\r\nX-Spaces:   padded  value \t \r\nVia: 1.1 edge\r\nCookie: a=b; c=d\r\n\r\n")
        #expect(head == "PUT /a/b?c=d%20e HTTP/1.1\r\nhost:a\r\nx-lower: v\r\nX-Spaces:   padded  value \t \r\nVia: 1.1 edge\r\nCookie: a=b; c=d\r\n"
            + Self.tail(id: id))
    }

    @Test func optionsAsterisk() throws {
        let (head, id) = try forwarded("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(head == "OPTIONS * HTTP/1.1\r\nHost: a\r\n" + Self.tail(id: id))
    }

    @Test func http10IsForwardedAsHTTP11WithVia10() throws {
        let (head, id) = try forwarded("GET /old HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
        #expect(head == "GET /old HTTP/1.1\r\nHost: a\r\n" + Self.tail(id: id, via: "1.0"))
    }

    /// An HTTP/1.0 request may omit Host; the HTTP/1.1 request drover makes
    /// of it must still carry one (RFC 9112 §3.2: a client MUST send Host in
    /// every HTTP/1.1 request, empty when there is no authority).
    @Test func http10WithoutHostStillGetsAHostUpstream() throws {
        let (head, _) = try forwarded("GET /old HTTP/1.0\r\n\r\n")
        #expect(head.hasPrefix("GET /old HTTP/1.1\r\n"))
        #expect(head.lowercased().contains("\r\nhost:"), "\(head)")
    }

    @Test func ipv6Peer() throws {
        let (head, id) = try forwarded("GET / HTTP/1.1\r\nHost: a\r\n\r\n", peer: "::1")
        #expect(head == "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: ::1\r\nX-Real-IP: ::1\r\nX-Forwarded-Proto: http\r\nX-Request-Id: \(id)\r\nVia: 1.1 drover\r\nConnection: keep-alive\r\n")
    }

    @Test func logFields() throws {
        let bytes = Array("GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8.0\r\nREFERER: http://r/\r\n\r\n".utf8)
        var scanner = HTTPHeadScanner(limits: ProxyUnit.requestLimits())
        try bytes.withUnsafeBytes { raw in
            guard case .complete = try scanner.scan(raw) else { Issue.record("incomplete"); return }
            let fields = ProxyServer.logFields(raw, scanner)
            #expect(fields.line == "GET /x HTTP/1.1" && fields.agent == "curl/8.0" && fields.referer == "http://r/")
        }
    }
}
