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

/// ProxyResponseHead.parse behind the scanner limits UpstreamConnection
/// uses; every case is also split at each byte boundary.
@Suite struct ProxyUnitResponseHeadTests {
    typealias U = ProxyUnit

    func parsed(_ text: String, isHead: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) -> U.Response? {
        let outcome = U.response(text, isHead: isHead, sourceLocation: sourceLocation)
        guard let response = outcome.response else {
            Issue.record("expected a response head, got \(outcome)", sourceLocation: sourceLocation)
            return nil
        }
        return response
    }

    @Test func interimResponses() throws {
        let c = try #require(parsed("HTTP/1.1 100 Continue\r\n\r\n"))
        #expect(c.isInterim && c.status == 100 && c.framing == .none && c.reusable)
        #expect(c.headLength == 25)
        let hints = try #require(parsed("HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"))
        #expect(hints.isInterim && hints.status == 103 && hints.statusAndReason == "103 Early Hints")
        let switching = try #require(parsed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"))
        #expect(switching.isInterim && switching.status == 101, "UpstreamConnection refuses 101 after parsing")
    }

    @Test func headRequestHasNoBody() throws {
        let r = try #require(parsed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", isHead: true))
        #expect(r.framing == .none && r.reusable && r.passContentLength)
        let chunked = try #require(parsed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", isHead: true))
        #expect(chunked.framing == .none && !chunked.passContentLength)
    }

    @Test func noContentAndNotModifiedHaveNoBody() throws {
        let noContent = try #require(parsed("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"))
        #expect(noContent.framing == .none && noContent.reusable)
        let notModified = try #require(parsed("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n"))
        #expect(notModified.framing == .none && notModified.passContentLength)
        let plain = try #require(parsed("HTTP/1.1 204 No Content\r\n\r\n"))
        #expect(plain.framing == .none && plain.reusable && !plain.passContentLength)
    }

    /// RFC 9110 §8.6: a sender MUST NOT send Content-Length in a 204 (or
    /// 1xx) response. UpstreamConnection passes the worker's Content-Length
    /// line on when passContentLength is set, so a 204 must not set it
    /// (HEAD and 304 answers may: they describe a body not sent).
    @Test func noContentDoesNotPassContentLength() throws {
        let r = try #require(parsed("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"))
        #expect(r.framing == .none)
        #expect(!r.passContentLength)
    }

    @Test func contentLength() throws {
        let r = try #require(parsed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"))
        #expect(r.framing == .length(3) && r.reusable && r.status == 200 && r.statusAndReason == "200 OK")
        #expect(r.headLength == 38)
        let zero = try #require(parsed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(zero.framing == .none && zero.reusable)
        let repeated = try #require(parsed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc"))
        #expect(repeated.framing == .length(3), "equal repeats are one length (RFC 9110 §8.6)")
    }

    @Test func chunked() throws {
        let r = try #require(parsed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
        #expect(r.framing == .chunked && r.reusable)
        let upper = try #require(parsed("HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n"))
        #expect(upper.framing == .chunked && upper.reusable)
    }

    @Test func contentLengthAndChunkedMeansChunkedNotReusable() throws {
        let r = try #require(parsed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"))
        #expect(r.framing == .chunked && !r.reusable)
        let reversed = try #require(parsed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"))
        #expect(reversed.framing == .chunked && !reversed.reusable)
    }

    /// A transfer coding drover does not decode (anything but one
    /// `chunked`) is never relabelled or dropped: the answer is 502. TE is
    /// hop-by-hop and drover never forwards the client's, so no client said
    /// it accepts such a coding; an HTTP/1.0 client cannot be sent one at
    /// all (RFC 9112 §6.1), and de-chunking `gzip, chunked` or reading a
    /// `gzip` body until close (§6.3 rule 4) and passing it as plain
    /// `chunked` would hand the client gzip bytes labelled as the content.
    @Test(arguments: ["gzip", "gzip, chunked", "chunked, gzip", "chunked, chunked", "deflate", "identity", "x-custom, chunked"])
    func transferCodingsOtherThanChunkedAre502(codings: String) {
        #expect(U.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: \(codings)\r\n\r\nbody") == .rejected(502), "\(codings)")
        #expect(U.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: \(codings)\r\nContent-Length: 4\r\n\r\nbody") == .rejected(502))
        #expect(U.response("HTTP/1.0 200 OK\r\nTransfer-Encoding: \(codings)\r\n\r\nbody") == .rejected(502))
    }

    @Test func codingsOnSeveralLinesAreOneList() {
        #expect(U.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n") == .rejected(502))
        #expect(U.response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == .rejected(502))
    }

    /// Without a body (HEAD, 204, 304) no coded byte is forwarded: the
    /// field is left behind as hop-by-hop, as before.
    @Test func codingsWithoutABodyAreNot502() throws {
        let head = try #require(parsed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", isHead: true))
        #expect(head.framing == .none)
        let notModified = try #require(parsed("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n"))
        #expect(notModified.framing == .none)
    }

    /// `Connection: content-length` cannot strip the length a HEAD answer
    /// passes on; Date is handled by the proxy (added when missing).
    @Test func connectionNeverNominatesFramingFields() throws {
        let r = try #require(parsed("HTTP/1.1 200 OK\r\nConnection: Content-Length, transfer-encoding, X-A\r\nContent-Length: 3\r\n\r\n", isHead: true))
        #expect(r.nominated == ["X-A"] && r.passContentLength)
    }

    @Test func noFramingReadsUntilCloseNotReusable() throws {
        let r = try #require(parsed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close"))
        #expect(r.framing == .untilClose && !r.reusable)
        let old = try #require(parsed("HTTP/1.0 200 OK\r\n\r\n"))
        #expect(old.framing == .untilClose && !old.reusable)
        let keptAlive = try #require(parsed("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"))
        #expect(keptAlive.framing == .untilClose && !keptAlive.reusable)
    }

    @Test func conflictingContentLengthIs502() {
        #expect(U.response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n") == .rejected(502))
        #expect(U.response("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\n") == .rejected(502))
    }

    @Test(arguments: ["-1", "+5", "5 5", "1000.1", "18446744073709551616", "", "3, 3", "abc", "0x10"])
    func invalidContentLengthIs502(value: String) {
        #expect(U.response("HTTP/1.1 200 OK\r\nContent-Length: \(value)\r\n\r\n") == .rejected(502))
    }

    @Test func http10ReusableOnlyWithKeepAlive() throws {
        let plain = try #require(parsed("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        #expect(plain.framing == .length(2) && !plain.reusable)
        let kept = try #require(parsed("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok"))
        #expect(kept.reusable)
        let keptThenClosed = try #require(parsed("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok"))
        #expect(!keptThenClosed.reusable)
    }

    /// "close" must win over "keep-alive" whatever their order: the worker
    /// announced it closes the connection.
    @Test func http10CloseBeforeKeepAliveIsNotReusable() throws {
        let r = try #require(parsed("HTTP/1.0 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"))
        #expect(!r.reusable)
        let oneLine = try #require(parsed("HTTP/1.0 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 2\r\n\r\nok"))
        #expect(!oneLine.reusable)
    }

    @Test func connectionCloseIsNotReusable() throws {
        let r = try #require(parsed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"))
        #expect(r.framing == .length(2) && !r.reusable)
        let upper = try #require(parsed("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 2\r\n\r\nok"))
        #expect(!upper.reusable)
        let kept = try #require(parsed("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"))
        #expect(kept.reusable)
    }

    @Test func nominatedResponseFields() throws {
        let r = try #require(parsed("HTTP/1.1 200 OK\r\nConnection: X-Internal, keep-alive, x-other\r\nX-Internal: 1\r\nContent-Length: 0\r\n\r\n"))
        #expect(r.nominated == ["X-Internal", "x-other"] && r.reusable)
    }

    @Test func statusLineForms() throws {
        let noReason = try #require(parsed("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"))
        #expect(noReason.status == 200 && noReason.statusAndReason == "200")
        let emptyReason = try #require(parsed("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"))
        #expect(emptyReason.status == 404 && emptyReason.statusAndReason == "404 ")
        let spaced = try #require(parsed("HTTP/1.1 500 Internal  Server\tError\r\nContent-Length: 0\r\n\r\n"))
        #expect(spaced.status == 500 && spaced.statusAndReason == "500 Internal  Server\tError")
        let odd = try #require(parsed("HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n"))
        #expect(odd.status == 599)
    }

    @Test(arguments: [
        "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n", "HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.2 200 OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 000 Zero\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1\r\n\r\n", "HTTP/1.1 \r\n\r\n",
        "HTTP/1.1 200 O\u{01}K\r\n\r\n", "HTTP/1.1 200 O\u{7F}K\r\n\r\n", "\r\nHTTP/1.1 20\r\n\r\n", "HTTP/1.1-200 OK\r\n\r\n",
    ])
    func malformedStatusLinesAre502(line: String) {
        #expect(U.response(line) == .rejected(502), "\(U.escaped(Array(line.utf8)))")
    }

    /// R5 and the rest of the field syntax: the scanner refuses them, and
    /// UpstreamConnection answers any scanner error with 502.
    @Test func malformedResponseFieldsAreRefused() {
        for text in ["HTTP/1.1 200 OK\r\nX-Ws : a\r\nContent-Length: 0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 0\r\n\r\n",
                     "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
                     "HTTP/1.1 200 OK\r\nX-Cr: a\rb\r\nContent-Length: 0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nX-Nul: a\u{0}b\r\nContent-Length: 0\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n"] {
            let outcome = U.response(text)
            if case .scannerRejected = outcome {} else { Issue.record("\(U.escaped(Array(text.utf8))): \(outcome)") }
        }
    }

    @Test func oversizedResponseHeadIs502() {
        let big = "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "b", count: 64 * 1024) + "\r\n\r\n"
        #expect(U.response(big) == .scannerRejected(502))
        let manyFields = "HTTP/1.1 200 OK\r\n" + (1...257).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(U.response(manyFields) == .scannerRejected(502))
        let longLine = "HTTP/1.1 200 " + String(repeating: "r", count: 9000) + "\r\n\r\n"
        #expect(U.response(longLine) == .scannerRejected(502))
    }
}
