import Foundation
import Testing

/// Workers that answer badly or not at all (the demo worker's `/raw/*`
/// scripts): proxy-checklist R1–R9. The client must never receive broken
/// framing, and never a faked complete response.
@Suite struct ProxyUpstreamResponseTests {
    @Test func closeDelimitedAnswerReachesTheClientWhole() throws {
        let proxy = try ProxyFixture("r1", .init(numprocs: 1))
        let client = try #require(proxy.connect())
        let r = client.exchange("GET /raw/close-delimited HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(r.status == 200 && r.complete && r.text == "close-delimited body\n", "R1\n\(r.summary)")
        #expect(r.framing == .chunked || r.framing == .close, "chunked or close-delimited to a 1.1 client, got \(r.framing)")
        if r.framing == .chunked {
            // Still a usable keep-alive connection.
            #expect(client.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        }
        // The worker closed that upstream connection; the next request still works.
        #expect(proxy.get("/pid").status == 200)
    }

    @Test func headAnd204AnswersCarryNoBody() throws {
        // One worker: a reused upstream connection would start with the stray bytes.
        let proxy = try ProxyFixture("r2", .init(numprocs: 1))
        let client = try #require(proxy.connect())
        let head = client.exchange("HEAD /raw/head-body HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(head.status == 200, "R2 HEAD\n\(head.summary)")
        let afterHead = client.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(afterHead.status == 200 && afterHead.text.hasSuffix("\n") && Int(afterHead.text.dropLast()) != nil,
                "no body bytes after the HEAD answer on the client connection:\n\(afterHead.summary)")

        let noContent = client.exchange("GET /raw/204-body HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(noContent.status == 204, "R2 204\n\(noContent.summary)")
        let after204 = client.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(after204.status == 200 && Int(after204.text.dropLast()) != nil,
                "no body bytes after the 204 on the client connection:\n\(after204.summary)")

        // Upstream connections with stray bytes were dropped, not reused.
        for _ in 0..<3 {
            let r = proxy.get("/pid")
            #expect(r.status == 200 && Int(r.text.dropLast()) != nil, "\(r.summary)")
        }
    }

    @Test func invalidUpstreamContentLengthIs502() throws {
        let proxy = try ProxyFixture("r3")
        for script in ["bad-cl", "two-cl"] {
            let r = proxy.get("/raw/\(script)")
            expectDroverError(r, 502, closes: false, "R3 \(script)")
            #expect(!r.head.contains("Content-Length: abc") && !r.text.contains("bad-cl body") && !r.text.contains("abcde"),
                    "R3 \(script): nothing of the broken answer reaches the client\n\(r.summary)")
        }
        #expect(proxy.get("/pid").status == 200)
    }

    @Test func upstreamLengthPlusChunkedUsesChunkedOr502() throws {
        let proxy = try ProxyFixture("r4")
        let r = proxy.get("/raw/cl-te")
        if r.status == 502 {
            expectDroverError(r, 502, closes: false, "R4")
        } else {
            #expect(r.status == 200, "R4\n\(r.summary)")
            #expect(r.header("content-length") == nil, "R4: Content-Length stripped when chunked is used\n\(r.head)")
            #expect(r.complete && r.problem == nil && r.text == "cl-te\n", "R4 body by the chunked framing\n\(r.summary)")
        }
        #expect(proxy.get("/pid").status == 200)
    }

    @Test func upstreamHeaderWhitespaceIsRepairedOr502() throws {
        let proxy = try ProxyFixture("r5")
        let fold = proxy.get("/raw/obs-fold")
        if fold.status == 502 {
            expectDroverError(fold, 502, closes: false, "R5 obs-fold")
        } else {
            #expect(fold.status == 200 && fold.complete && fold.text == "obs-fold\n", "R5 obs-fold\n\(fold.summary)")
            #expect(!fold.headerLines.contains { $0.hasPrefix(" ") || $0.hasPrefix("\t") }, "R5: no folded line reaches the client\n\(fold.head)")
            #expect(fold.header("x-fold")?.range(of: #"^first\s+second$"#, options: .regularExpression) != nil,
                    "R5: the fold replaced by space\n\(fold.head)")
        }
        let colon = proxy.get("/raw/space-colon")
        if colon.status == 502 {
            expectDroverError(colon, 502, closes: false, "R5 space-colon")
        } else {
            #expect(colon.status == 200 && colon.complete && colon.text == "space-colon\n", "R5 space-colon\n\(colon.summary)")
            #expect(!colon.head.contains("X-A :") && colon.header("x-a") == "b", "R5: whitespace before the colon removed\n\(colon.head)")
        }
    }

    /// A transfer coding drover does not decode is never relabelled or
    /// dropped: 502 (issue 13 item 4; see ProxyResponseHead for why not
    /// passed on).
    @Test func transferCodingOtherThanChunkedIs502() throws {
        let proxy = try ProxyFixture("te-gzip")
        for script in ["te-gzip", "te-gzip-chunked"] {
            let r = proxy.get("/raw/\(script)")
            expectDroverError(r, 502, closes: false, "R4 \(script)")
            #expect(!r.text.contains("coded"), "\(script): nothing of the coded body\n\(r.summary)")
        }
        #expect(proxy.get("/pid").status == 200)
    }

    @Test func interimResponsesReachHTTP11Clients() throws {
        let proxy = try ProxyFixture("r6")
        let client = try #require(proxy.connect())
        let r = client.exchange("GET /raw/interim HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(r.status == 200 && r.complete && r.text == "interim\n", "R6\n\(r.summary)")
        let early = r.interim.first { $0.status == 103 }
        #expect(early?.header("link") == "</style.css>; rel=preload; as=style", "R6: 103 with its Link forwarded: \(r.interim.map(\.head))")
        #expect(client.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n").status == 200, "connection still in step")
    }

    /// Occupies one of two workers with a slow request; returns the busy
    /// worker's port, the other worker's port, and the slow request's result.
    static func occupyOneWorker(_ proxy: ProxyFixture, milliseconds: Int) throws -> (busy: Int, idle: Int, slow: Background<WireResponse>) {
        let port = proxy.listenPort
        let slow = Background<WireResponse> {
            WireClient.tcp(port, timeout: 10)?.exchange("GET /sleep?ms=\(milliseconds) HTTP/1.1\r\nHost: a\r\n\r\n") ?? WireResponse()
        }
        var busy: Int?
        _ = waitUntil(timeout: 5) {
            busy = proxy.status().first { ($0["inflight"] as? Int ?? 0) > 0 }?["port"] as? Int
            return busy != nil
        }
        let busyPort = try #require(busy, "status shows the worker with the request in flight: \(proxy.status())")
        let idle = busyPort == proxy.workerPort ? proxy.workerPort + 1 : proxy.workerPort
        return (busyPort, idle, slow)
    }

    @Test func resetBeforeAnswerIsRetriedForGet() throws {
        let proxy = try ProxyFixture("r7get", .init(proxy: "queue_timeout = 5s"))
        // The only free worker is the one that will reset: the retry has to
        // go to the other one, once it is free.
        let (busy, bad, slow) = try Self.occupyOneWorker(proxy, milliseconds: 1000)
        let r = proxy.get("/raw/reset?port=\(bad)", timeout: 8)
        #expect(r.status == 200 && r.header("x-worker-port") == String(busy),
                "R7: GET retried on the other worker, not again on the one that reset\n\(r.summary)")
        #expect(slow.value()?.status == 200)
    }

    @Test func workerExitingBeforeAnswerIsRetriedForGet() throws {
        // round_robin: of two requests, at least one goes to w_00 first,
        // which exits on reading it (EOF before any byte).
        let proxy = try ProxyFixture("r7exit", .init(proxy: "balance = round_robin\nqueue_timeout = 5s"))
        let bad = proxy.workerPort
        let badPid = try #require(proxy.status().first { $0["port"] as? Int == bad }?["pid"] as? Int)
        for _ in 0..<2 {
            let r = proxy.get("/raw/exit?port=\(bad)", timeout: 8)
            #expect(r.status == 200 && r.header("x-worker-port") == String(bad + 1), "R7: GET retried on the other worker\n\(r.summary)")
        }
        #expect(waitUntil(timeout: 2) { !processExists(Int32(badPid)) },
                "w_00 did get one of them (and exited); drover said:\n\(proxy.drover.output.suffix(15).joined(separator: "\n"))")
        #expect(waitUntil(timeout: 10) { proxy.readyWorkers().count == 2 }, "w_00 is back")
    }

    @Test func resetBeforeAnswerIs502ForPost() throws {
        let proxy = try ProxyFixture("r7post", .init(proxy: "queue_timeout = 5s"))
        let (_, bad, slow) = try Self.occupyOneWorker(proxy, milliseconds: 1500)
        let r = proxy.send("POST /raw/reset?port=\(bad) HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        expectDroverError(r, 502, closes: false, "R7: POST is not retried")
        #expect(!slow.isDone, "502 at once, not after waiting for the other worker")
        #expect(slow.value()?.status == 200)
    }

    @Test func resetBeforeAnswerIsRetriedForPostWhenAllowed() throws {
        let proxy = try ProxyFixture("r7postok", .init(proxy: "queue_timeout = 5s\nretry_non_idempotent = true"))
        let (busy, bad, slow) = try Self.occupyOneWorker(proxy, milliseconds: 1000)
        let r = proxy.send("POST /raw/reset?port=\(bad) HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", timeout: 8)
        #expect(r.status == 200 && r.header("x-worker-port") == String(busy),
                "R7: retry_non_idempotent = true retries the POST\n\(r.summary)")
        #expect(slow.value()?.status == 200)
    }

    @Test func workerDyingMidBodyAbortsTheClient() throws {
        let proxy = try ProxyFixture("r8")
        let client = try #require(proxy.connect(timeout: 5))
        let r = client.exchange("GET /raw/die-mid-body HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(r.status == 200, "R8: the head was already on its way\n\(r.summary)")
        #expect(!r.complete, "R8: never a faked complete response\n\(r.summary)")
        #expect(r.body.count < 100)
        #expect(r.ending == .eof || r.ending == .reset, "R8: the client connection is aborted, not left hanging\n\(r.summary)")
        #expect(waitUntil(timeout: 10) { proxy.readyWorkers().count == 2 }, "the worker is back")
        #expect(proxy.get("/pid").status == 200)
    }

    @Test func noAnswerWithinReadTimeoutIs504() throws {
        let proxy = try ProxyFixture("r9", .init(proxy: "read_timeout = 1s"))
        let start = Date()
        let r = proxy.get("/sleep?ms=3000", timeout: 6)
        let elapsed = Date().timeIntervalSince(start)
        expectDroverError(r, 504, closes: false, "R9")
        #expect(elapsed >= 0.8 && elapsed < 2.9, "R9: after read_timeout, before the worker answered (\(elapsed) s)")
    }

    /// drover pausing a worker for a slow client is not the worker's
    /// silence (R9 must not fire); a client that takes nothing for
    /// client_timeout is cut off and the log says it was the client.
    @Test func slowClientNeverTripsReadTimeout() throws {
        let proxy = try ProxyFixture("slowclient", .init(numprocs: 1, proxy: "read_timeout = 1s\nclient_timeout = 3s"))
        let size = 64_000_000
        // Takes nothing for twice read_timeout, then reads everything.
        let reader = try #require(proxy.connect(timeout: 10, receiveBuffer: 16 * 1024))
        reader.send("GET /raw/big?bytes=\(size) HTTP/1.1\r\nHost: a\r\n\r\n")
        usleep(2_200_000)
        let r = reader.readResponse()
        #expect(r.status == 200 && r.complete, "R9: the answer is whole after a pause of 2 s > read_timeout\n\(r.head)")
        #expect(ProxyStreamingTests.isBigBody(r.body, count: size))
        #expect(proxy.drover.lines(containing: "read_timeout").isEmpty, "the worker was not blamed:\n\(proxy.drover.transcript)")

        // Takes nothing at all: client_timeout's business.
        let stalled = try #require(proxy.connect(timeout: 10, receiveBuffer: 16 * 1024))
        let start = Date()
        stalled.send("GET /raw/big?bytes=\(size) HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(proxy.drover.waitForLine("client_timeout", timeout: 10) != nil)
        #expect(Date().timeIntervalSince(start) >= 2.5, "cut after client_timeout, not before")
        #expect(proxy.drover.lines(containing: "read_timeout").isEmpty, "\(proxy.drover.transcript)")
        #expect(proxy.get("/pid", timeout: 5).status == 200, "the worker is free again")
    }
}
