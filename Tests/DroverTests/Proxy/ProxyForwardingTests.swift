import Foundation
import Testing

/// What drover forwards to a worker, seen through the demo worker's `/echo`
/// (which answers with the request head exactly as it arrived):
/// proxy-checklist H1, H2, H12, H20–H23, H27, H28 and SPEC §5's forwarding
/// fields.
@Suite struct ProxyForwardingTests {
    static let hex32 = #"^[0-9a-fA-F]{32}$"#

    /// Connection tokens drover may set upstream itself.
    static func ownConnectionOnly(_ e: Echoed) -> Bool {
        e.values("connection").flatMap { $0.lowercased().split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .allSatisfy { $0 == "keep-alive" || $0 == "close" }
    }

    @Test func hopByHopFieldsGoAndForwardingFieldsAreAdded() throws {
        let proxy = try ProxyFixture("hop")
        let client = try #require(proxy.connect())
        // H1 + H2: every hop-by-hop field, a field nominated by Connection,
        // and a forged X-Forwarded-For that Connection nominates (so it must
        // be stripped before drover adds its own).
        let r = client.exchange("GET /echo HTTP/1.1\r\n"
            + "Host: a\r\n"
            + "Connection: keep-alive, X-Secret, X-Forwarded-For\r\n"
            + "X-Secret: s\r\n"
            + "Keep-Alive: timeout=5\r\n"
            + "TE: trailers\r\n"
            + "Proxy-Connection: keep-alive\r\n"
            + "Upgrade: h2c\r\n"
            + "X-Forwarded-For: 1.2.3.4\r\n"
            + "X-Real-IP: 6.6.6.6\r\n"
            + "x-MiXeD:  a,  b\r\n"
            + "Accept: */*\r\n"
            + "\r\n")
        #expect(r.status == 200, "\(r.summary)")
        let e = Echoed(r)
        #expect(e.requestLine == "GET /echo HTTP/1.1")
        #expect(e.allCRLF, "every forwarded line ends in CRLF")
        for name in ["X-Secret", "Keep-Alive", "TE", "Proxy-Connection", "Upgrade", "Transfer-Encoding"] {
            #expect(!e.has(name), "H1: \(name) not forwarded:\n\(r.text)")
        }
        #expect(Self.ownConnectionOnly(e), "H1: only drover's own Connection upstream: \(e.values("connection"))")
        #expect(e.values("X-Forwarded-For") == ["127.0.0.1"], "H2: nominated XFF stripped first, then drover's own added")
        #expect(e.values("X-Real-IP") == ["127.0.0.1"], "X-Real-IP overwritten")
        #expect(e.values("X-Forwarded-Proto") == ["http"])
        let generated = e.values("X-Request-Id")
        #expect(generated.count == 1 && generated[0].range(of: Self.hex32, options: .regularExpression) != nil,
                "a generated X-Request-Id of 32 hex digits: \(generated)")
        #expect(e.values("Via") == ["1.1 drover"])
        #expect(e.headerLines.contains("x-MiXeD:  a,  b"), "other fields byte for byte:\n\(r.text)")
        #expect(e.headerLines.contains("Accept: */*"))
        #expect(e.headerLines.contains("Host: a"))

        // Same keep-alive connection: the client's XFF is appended to, its request id kept.
        let second = client.exchange("GET /echo HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n"
                                     + "X-Request-Id: my-id-42\r\n\r\n")
        #expect(second.status == 200, "keep-alive: a second request on the connection\n\(second.summary)")
        let e2 = Echoed(second)
        #expect(e2.values("X-Forwarded-For") == ["10.0.0.1, 10.0.0.2, 127.0.0.1"])
        #expect(e2.values("X-Request-Id") == ["my-id-42"])
        #expect(e2.values("X-Real-IP") == ["127.0.0.1"])

        let third = Echoed(client.exchange("GET /echo HTTP/1.1\r\nHost: a\r\n\r\n"))
        let another = third.values("X-Request-Id")
        #expect(another.count == 1 && another != generated, "each request gets its own id: \(another) vs \(generated)")
    }

    @Test func chunkedBodiesArriveDechunkedWithContentLength() throws {
        let proxy = try ProxyFixture("chunked")
        // H12: an extension and a trailer; both dropped.
        let r = proxy.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-After: 1\r\n\r\n"
                           + "5;ext=1\r\nabcde\r\n0\r\nX-Trailer: t\r\n\r\n")
        #expect(r.status == 200, "H12 accepted\n\(r.summary)")
        let e = Echoed(r)
        #expect(e.values("Content-Length") == ["5"])
        #expect(!e.has("Transfer-Encoding"))
        #expect(!e.has("X-Trailer"), "trailers dropped")
        #expect(e.headerLines.contains("X-After: 1"))
        #expect(e.body == "abcde")
        #expect(!r.text.contains("ext=1"))

        // Several chunks, upper-case hex.
        let multi = Echoed(proxy.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      + "A\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n"))
        #expect(multi.values("Content-Length") == ["13"] && multi.body == "0123456789abc")

        // H22: a GET with a body keeps it.
        let getBody = proxy.send("GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        #expect(getBody.status == 200)
        #expect(Echoed(getBody).body == "hello" && Echoed(getBody).values("Content-Length") == ["5"])
    }

    @Test func absoluteFormTargetIsForwardedInOriginForm() throws {
        let proxy = try ProxyFixture("absolute")
        let r = proxy.send("GET http://other/echo?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(r.status == 200, "H20\n\(r.summary)")
        let e = Echoed(r)
        #expect(e.requestLine == "GET /echo?x=1 HTTP/1.1", "H20: origin-form upstream")
        // RFC 9112 §3.2.2: a proxy MUST replace Host with the target's authority.
        #expect(e.values("Host") == ["other"], "Host from the absolute-form target:\n\(r.text)")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let proxy = try ProxyFixture("pipeline")
        let client = try #require(proxy.connect())
        client.send("GET /echo HTTP/1.1\r\nHost: a\r\nX-N: 1\r\n\r\nGET /echo HTTP/1.1\r\nHost: a\r\nX-N: 2\r\n\r\n"
                    + "POST /echo HTTP/1.1\r\nHost: a\r\nX-N: 3\r\nContent-Length: 3\r\n\r\nxyz")
        let answers = (0..<3).map { _ in client.readResponse() }
        #expect(answers.map(\.status) == [200, 200, 200], "\(answers.map(\.summary))")
        #expect(answers.map { Echoed($0).values("X-N") } == [["1"], ["2"], ["3"]], "H21: in order")
        #expect(Echoed(answers[2]).body == "xyz")
    }

    @Test func expectHeaders() throws {
        let proxy = try ProxyFixture("expect", .init(proxy: "client_max_body_size = 1KB"))

        // Unknown expectation → 417.
        let odd = proxy.send("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 5\r\n\r\nhello")
        expectDroverError(odd, 417, closes: false, "H23 unknown expectation")

        // 100-continue with a body over client_max_body_size: 413 before the body is sent.
        let big = try #require(proxy.connect(timeout: 3))
        big.send("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        let refused = big.readResponse()
        #expect(refused.interim.isEmpty, "no 100 Continue for a body that will be refused")
        expectDroverError(refused, 413, closes: true, on: big, "H23 413 before the body")

        // 100-continue within the limit: drover says 100 itself, the worker never sees Expect.
        let client = try #require(proxy.connect(timeout: 3))
        client.send("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        let interim = waitUntil(timeout: 3) {
            client.fill()
            return String(decoding: client.buffer, as: UTF8.self).contains("\r\n\r\n") || client.ended != nil
        }
        #expect(interim && String(decoding: client.buffer, as: UTF8.self).hasPrefix("HTTP/1.1 100 Continue\r\n"),
                "100 Continue before the body: \(String(decoding: client.buffer, as: UTF8.self))")
        client.send("hello")
        let r = client.readResponse(method: "POST")
        #expect(r.status == 200, "\(r.summary)")
        #expect(r.interim.map(\.status) == [100], "exactly one 100 Continue")
        let e = Echoed(r)
        #expect(!e.has("Expect"), "Expect stripped upstream:\n\(r.text)")
        #expect(e.body == "hello" && e.values("Content-Length") == ["5"])
    }

    @Test func http10ClientGetsNoChunkingAndAClose() throws {
        let proxy = try ProxyFixture("http10")
        // H27: upstream speaks 1.1.
        let plainClient = try #require(proxy.connect())
        let plain = plainClient.exchange("GET /echo HTTP/1.0\r\n\r\n")
        #expect(plain.status == 200, "\(plain.summary)")
        #expect(Echoed(plain).requestLine == "GET /echo HTTP/1.1", "HTTP/1.1 upstream")
        #expect(plain.framing != .chunked)
        #expect(plainClient.waitForClose(timeout: 3).ending != .timeout, "1.0 client: connection closed after the response")

        // A chunked worker answer reaches a 1.0 client de-chunked (or close-delimited), whole.
        let streamClient = try #require(proxy.connect())
        let stream = streamClient.exchange("GET /raw/stream?n=3&ms=20 HTTP/1.0\r\n\r\n")
        #expect(stream.status == 200)
        #expect(stream.framing != .chunked && stream.header("transfer-encoding") == nil, "never chunked to 1.0:\n\(stream.head)")
        #expect(stream.complete && stream.text == "chunk 1\nchunk 2\nchunk 3\n", "\(stream.summary)")
        #expect(streamClient.waitForClose(timeout: 3).ending != .timeout)

        // R6: no 1xx to a 1.0 client.
        let interimClient = try #require(proxy.connect())
        let interim = interimClient.exchange("GET /raw/interim HTTP/1.0\r\n\r\n")
        #expect(interim.status == 200 && interim.interim.isEmpty && interim.text == "interim\n", "R6 1.0:\n\(interim.summary)")
    }

    @Test func upgradeIsStrippedAndNeverSwitched() throws {
        let proxy = try ProxyFixture("upgrade")
        let ws = proxy.send("GET /echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(ws.status == 200, "H28: no 101\n\(ws.summary)")
        let e = Echoed(ws)
        #expect(!e.has("Upgrade") && Self.ownConnectionOnly(e), "H28 websocket:\n\(ws.text)")

        let h2c = proxy.send("GET /echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                             + "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        #expect(h2c.status == 200, "H28: no 101\n\(h2c.summary)")
        let e2 = Echoed(h2c)
        #expect(!e2.has("Upgrade") && !e2.has("HTTP2-Settings") && Self.ownConnectionOnly(e2), "H28 h2c:\n\(h2c.text)")
    }

    /// Issue 13 item 4: Host is never hop-by-hop (H1 with `Connection:
    /// host`), and every forwarded answer without a Date gets drover's.
    @Test func hostIsNeverHopByHopAndAnswersGetADate() throws {
        let proxy = try ProxyFixture("host")
        let r = proxy.send("GET /echo HTTP/1.1\r\nHost: a:81\r\nConnection: host, X-Secret\r\nX-Secret: s\r\n\r\n")
        #expect(r.status == 200, "\(r.summary)")
        let e = Echoed(r)
        #expect(e.values("Host") == ["a:81"], "H1: Connection cannot strip Host:\n\(r.text)")
        #expect(!e.has("X-Secret"))
        // The demo worker sends no Date (RFC 9110 §6.6.1: the proxy adds one).
        #expect(r.headers("date").count == 1 && isIMFFixdate(r.header("date") ?? ""), "a Date on the forwarded answer:\n\(r.head)")
    }

    /// RFC 9110 §7.6.2: TRACE and OPTIONS with `Max-Forwards: 0` are
    /// answered by drover; above 0 they reach the worker with one less.
    @Test func maxForwardsZeroIsAnsweredByDrover() throws {
        let proxy = try ProxyFixture("maxforwards")
        let client = try #require(proxy.connect())
        let trace = client.exchange("TRACE /echo HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nCookie: secret=1\r\nAuthorization: Bearer t\r\nX-A: b\r\n\r\n")
        #expect(trace.status == 200 && trace.header("content-type") == "message/http", "\(trace.summary)")
        #expect(trace.header("x-worker-pid") == nil, "answered by drover, not a worker")
        #expect(trace.text == "TRACE /echo HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\nX-A: b\r\n\r\n",
                "the request echoed without Cookie or Authorization:\n\(trace.text)")
        let options = client.exchange("OPTIONS * HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n")
        #expect(options.status == 200 && options.header("allow")?.contains("OPTIONS") == true && options.body.isEmpty,
                "\(options.summary)")
        #expect(options.header("x-worker-pid") == nil)
        let onward = client.exchange("TRACE /echo HTTP/1.1\r\nHost: a\r\nMax-Forwards: 2\r\n\r\n")
        #expect(onward.header("x-worker-pid") != nil, "forwarded:\n\(onward.summary)")
        #expect(Echoed(onward).values("Max-Forwards") == ["1"], "with one less:\n\(onward.text)")
        for answer in [trace, options, onward] {
            #expect(answer.headers("date").count == 1 && isIMFFixdate(answer.header("date") ?? ""), "\(answer.head)")
        }
    }
}
