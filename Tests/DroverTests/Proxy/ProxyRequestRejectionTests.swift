import Foundation
import Testing

/// Requests drover must refuse itself, with a JSON error and (for framing
/// and size errors) `Connection: close` and a closed connection, never
/// forwarding them: proxy-checklist H3–H11, H13–H20, H24–H26, H29 (H18 and
/// H20 with the invalid Host values and authorities of issue 13).
@Suite struct ProxyRequestRejectionTests {
    struct Case: Sendable {
        var row: String
        var request: String
        var status = 400
    }

    /// Every target is `/echo`, so a forwarded request would come back 200.
    static let framingCases: [Case] = [
        Case(row: "H3 CL + TE", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Case(row: "H4 CL 3 + CL 5", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"),
        Case(row: "H5 CL 3 twice", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
        Case(row: "H5 CL '3, 3'", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc"),
        Case(row: "H6 CL -1", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nabc"),
        Case(row: "H6 CL +5", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nabcde"),
        Case(row: "H6 CL '5 5'", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nabcde"),
        Case(row: "H6 CL 1000.1", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000.1\r\n\r\nabcde"),
        Case(row: "H6 CL 2^64", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\nabcde"),
        Case(row: "H6 CL empty", request: "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\nabcde"),
        Case(row: "H7 TE xchunked", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        Case(row: "H8 TE gzip, chunked", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", status: 501),
        Case(row: "H9 TE chunked twice", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Case(row: "H9 TE 'chunked, chunked'", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
        Case(row: "H10 1.0 + chunked", request: "POST /echo HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"),
        Case(row: "H11 chunk size 0x5", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n"),
        Case(row: "H11 chunk size +5", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nabcde\r\n0\r\n\r\n"),
        Case(row: "H11 chunk size '5 junk'", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 junk\r\nabcde\r\n0\r\n\r\n"),
        Case(row: "H11 chunk size 17 hex digits", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nabcde\r\n0\r\n\r\n"),
        Case(row: "H13 chunk line bare LF", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\n\r\n"),
        Case(row: "H14 obs-fold", request: "GET /echo HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n"),
        Case(row: "H15 space before colon", request: "GET /echo HTTP/1.1\r\nHost: a\r\nX-Ws : a\r\n\r\n"),
        Case(row: "H15 TE space before colon", request: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        Case(row: "H16 bare CR in a value", request: "GET /echo HTTP/1.1\r\nHost: a\r\nX-Cr: a\rb\r\n\r\n"),
        Case(row: "H17 NUL in a value", request: "GET /echo HTTP/1.1\r\nHost: a\r\nX-Nul: a\u{0}b\r\n\r\n"),
        Case(row: "H17 CTL in a name", request: "GET /echo HTTP/1.1\r\nHost: a\r\nX-C\u{1}tl: a\r\n\r\n"),
        Case(row: "H18 no Host", request: "GET /echo HTTP/1.1\r\nAccept: */*\r\n\r\n"),
        Case(row: "H18 two Host", request: "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        Case(row: "H18 Host 'a, b'", request: "GET /echo HTTP/1.1\r\nHost: a, b\r\n\r\n"),
        Case(row: "H18 Host 'a b'", request: "GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n"),
        Case(row: "H18 Host 'evil/@a'", request: "GET /echo HTTP/1.1\r\nHost: evil/@a\r\n\r\n"),
        Case(row: "H18 empty Host", request: "GET /echo HTTP/1.1\r\nHost: \r\n\r\n"),
        Case(row: "H18 Host 'a, b' in HTTP/1.0", request: "GET /echo HTTP/1.0\r\nHost: a, b\r\n\r\n"),
        Case(row: "H19 bare-LF request", request: "GET /echo HTTP/1.1\nHost: a\n\n"),
        Case(row: "H20 userinfo 'http://u@h/'", request: "GET http://u@h/echo HTTP/1.1\r\nHost: h\r\n\r\n"),
        Case(row: "H20 userinfo 'http://u:p@h/'", request: "GET http://u:p@h/echo HTTP/1.1\r\nHost: h\r\n\r\n"),
        Case(row: "H20 fragment in absolute-form", request: "GET http://h/echo#f HTTP/1.1\r\nHost: h\r\n\r\n"),
        Case(row: "H20 fragment in origin-form", request: "GET /echo#f HTTP/1.1\r\nHost: h\r\n\r\n"),
        Case(row: "H20 invalid authority", request: "GET http://h:x/echo HTTP/1.1\r\nHost: h\r\n\r\n"),
        Case(row: "TRACE invalid Max-Forwards", request: "TRACE /echo HTTP/1.1\r\nHost: h\r\nMax-Forwards: x\r\n\r\n"),
    ]

    @Test func ambiguousOrMalformedFramingIsRefusedAndClosed() throws {
        let proxy = try ProxyFixture("framing")
        // All cases at once, each on its own connection (independent, and a
        // connection left open costs its timeout once, not once per case).
        let port = proxy.listenPort
        let runs = Self.framingCases.map { c in
            Background<(WireResponse, WireClient.Ending, [UInt8])> {
                guard let client = WireClient.tcp(port, timeout: 3) else {
                    var r = WireResponse(); r.problem = "connect failed"; return (r, .timeout, [])
                }
                client.send(c.request)
                let r = client.readResponse()
                let (ending, extra) = client.waitForClose(timeout: 3)
                return (r, ending, extra)
            }
        }
        for (c, run) in zip(Self.framingCases, runs) {
            let (r, ending, extra) = try #require(run.value(timeout: 15), "\(c.row) finished")
            expectDroverError(r, c.status, closes: true, c.row)
            #expect(ending != .timeout, "\(c.row): connection closed after the error")
            #expect(extra.isEmpty, "\(c.row): nothing after the error answer: \(String(decoding: extra, as: UTF8.self))")
        }
        // Nothing of that disturbed the proxy.
        #expect(proxy.get("/pid").status == 200)
    }

    @Test func headerAndTargetSizeLimits() throws {
        let proxy = try ProxyFixture("limits")
        func refused(_ request: String, _ status: Int, _ row: String) throws {
            let client = try #require(proxy.connect(timeout: 3))
            client.send(request)
            expectDroverError(client.readResponse(), status, closes: true, on: client, row)
        }
        let line20k = "X-Big: " + String(repeating: "b", count: 20 * 1024)
        try refused("GET /echo HTTP/1.1\r\nHost: a\r\n\(line20k)\r\n\r\n", 431, "H24 20 KB header line")
        try refused("GET /echo?" + String(repeating: "t", count: 20 * 1024) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "H25 20 KB target")
        let lines = (1...120).map { String(format: "X-H-%03d: v\r\n", $0) }.joined()
        try refused("GET /echo HTTP/1.1\r\nHost: a\r\n\(lines)\r\n", 431, "H26 120 header lines")

        // Below the limits: forwarded intact.
        let line9k = "X-Big: " + String(repeating: "n", count: 9 * 1024)
        let header = proxy.send("GET /echo HTTP/1.1\r\nHost: a\r\n\(line9k)\r\n\r\n")
        #expect(header.status == 200 && Echoed(header).headerLines.contains(line9k), "H24 9 KB line: \(header.statusLine)")
        let target = "/echo?" + String(repeating: "q", count: 9 * 1024)
        let long = proxy.send("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(long.status == 200 && Echoed(long).requestLine == "GET \(target) HTTP/1.1", "H25 9 KB target: \(long.statusLine)")
    }

    @Test func slowClientGets408AndNeverHoldsTheWorker() throws {
        // One worker, one request at a time: a slow client holding it would
        // make every other request wait.
        let proxy = try ProxyFixture("slow", .init(numprocs: 1, proxy: "client_timeout = 1s"))

        // Head never completes.
        let slowHead = try #require(proxy.connect(timeout: 5))
        let headStart = Date()
        slowHead.send("GET /pid HTTP/1.1\r\nHo")
        // Body never completes.
        let slowBody = try #require(proxy.connect(timeout: 5))
        slowBody.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        // Head dripped a byte at a time, for longer than client_timeout in total.
        let drip = try #require(proxy.connect(timeout: 5))
        let dripped = Background<Bool> {
            for byte in "GET /pid HTTP/1.1\r\nHost: a\r\nX-Long: ".utf8 + Array(repeating: UInt8(ascii: "z"), count: 60) {
                if !drip.send([byte]) { return true }
                usleep(100_000)
                if drip.hasPendingInput() { return true }
            }
            return false
        }

        // Meanwhile the worker serves others at once.
        let other = proxy.get("/pid", timeout: 3)
        #expect(other.status == 200, "H29: a slow client holds no worker\n\(other.summary)")
        #expect(!slowHead.hasPendingInput() && !slowBody.hasPendingInput(),
                "the other request was served while the slow clients were still pending")

        let head408 = slowHead.readResponse()
        #expect(Date().timeIntervalSince(headStart) >= 0.8, "after client_timeout, not at once")
        expectDroverError(head408, 408, closes: true, on: slowHead, "H29 slow head")
        expectDroverError(slowBody.readResponse(), 408, closes: true, on: slowBody, "H29 slow body")

        #expect(dripped.value(timeout: 10) == true, "a dripping client is cut off before 6 s (client_timeout = 1s)")
        let dripAnswer = drip.readResponse()
        expectDroverError(dripAnswer, 408, closes: true, on: drip, "H29 dripped head")
        #expect(proxy.get("/pid").status == 200)
    }
}
