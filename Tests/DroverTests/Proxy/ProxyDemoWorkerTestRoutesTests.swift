import Foundation
import Testing

/// The demo worker's `--test-routes`, which the proxy tests rely on to see
/// what drover forwarded and to make a worker misbehave: checked directly
/// against the worker, no drover involved.
@Suite struct ProxyDemoWorkerTestRoutesTests {
    final class Worker {
        let process = Process()
        let port: Int
        init(_ arguments: [String] = ["--test-routes"]) throws {
            port = TestPorts.block(1)
            process.executableURL = URL(fileURLWithPath: Binaries.demoWorker)
            process.arguments = ["--port", String(port)] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let port = port
            try #require(waitUntil(timeout: 10) { WireClient.tcp(port) != nil })
        }
        var pid: Int32 { process.processIdentifier }
        func client() -> WireClient? { WireClient.tcp(port) }
        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    @Test func routesAre404WithoutTheFlag() throws {
        let worker = try Worker([])
        for target in ["/echo", "/pid", "/sleep?ms=1", "/raw/reset", "/raw/exit"] {
            let r = try #require(worker.client()).exchange("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(r.status == 404, "\(target): \(r.summary)")
        }
        #expect(worker.process.isRunning, "/raw/exit did nothing without --test-routes")
    }

    @Test func echoReturnsTheHeadExactlyAsReceived() throws {
        let worker = try Worker()
        let client = try #require(worker.client())
        let request = "POST /echo?q=1 HTTP/1.1\r\nHost: a\r\nx-MiXeD:  spaced ,value\r\nContent-Length: 5\r\n\r\nhello"
        let r = client.exchange(request)
        #expect(r.status == 200)
        #expect(r.header("content-type") == "text/plain")
        #expect(r.header("x-worker-pid") == String(worker.pid))
        #expect(r.header("x-worker-port") == String(worker.port))
        #expect(r.text == request, "head, blank line, body")
        // Keep-alive: a second exchange on the same connection, bare LF kept as sent.
        let bare = client.exchange("GET /echo HTTP/1.1\nHost: a\n\n")
        #expect(bare.text == "GET /echo HTTP/1.1\nHost: a\n\r\n")
    }

    @Test func pidSleepAndOnlyOnPort() throws {
        let worker = try Worker()
        let client = try #require(worker.client())
        #expect(client.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n").text == "\(worker.pid)\n")
        let start = Date()
        let slept = client.exchange("GET /sleep?ms=300 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(slept.text == "\(worker.pid)\n")
        #expect(Date().timeIntervalSince(start) >= 0.29)
        // ?port= of another worker: this one behaves.
        let spared = client.exchange("GET /raw/reset?port=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(spared.status == 200 && spared.text == "\(worker.pid)\n")
        let reset = client.exchange("GET /raw/reset?port=\(worker.port) HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(reset.status == 0 && reset.ending == .reset, "\(reset.summary)")
    }

    @Test func scriptedRawAnswers() throws {
        let worker = try Worker()
        func raw(_ name: String, method: String = "GET") -> (WireResponse, WireClient) {
            let client = worker.client()!
            return (client.exchange("\(method) /raw/\(name) HTTP/1.1\r\nHost: a\r\n\r\n"), client)
        }
        let (closeDelimited, c1) = raw("close-delimited")
        #expect(closeDelimited.statusLine == "HTTP/1.0 200 OK" && closeDelimited.framing == .close)
        #expect(closeDelimited.complete && closeDelimited.text == "close-delimited body\n")
        _ = c1
        let (head, c2) = raw("head-body", method: "HEAD")
        #expect(head.status == 200 && head.header("content-length") == "10")
        #expect(c2.waitForClose(timeout: 0.3).extra == Array("head-body\n".utf8), "body bytes even on HEAD")
        let (noContent, c3) = raw("204-body")
        #expect(noContent.status == 204)
        #expect(!c3.waitForClose(timeout: 0.3).extra.isEmpty, "bytes after a 204")
        #expect(raw("bad-cl").0.problem?.contains("Content-Length") == true)
        #expect(raw("two-cl").0.headers("content-length") == ["3", "5"])
        let (clte, _) = raw("cl-te")
        #expect(clte.header("content-length") == "3" && clte.framing == .chunked && clte.text == "cl-te\n")
        #expect(raw("obs-fold").0.headerLines.contains(" second"))
        #expect(raw("space-colon").0.headerLines.contains("X-A : b"))
        let (interim, _) = raw("interim")
        #expect(interim.interim.map(\.status) == [100, 103])
        #expect(interim.interim.last?.header("link") == "</style.css>; rel=preload; as=style")
        #expect(interim.status == 200 && interim.text == "interim\n")
        let stream = worker.client()!.exchange("GET /raw/stream?n=3&ms=100 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(stream.framing == .chunked && stream.complete && stream.text == "chunk 1\nchunk 2\nchunk 3\n")
        if let first = stream.chunkArrivals.first, let last = stream.chunkArrivals.last {
            #expect(last.timeIntervalSince(first) >= 0.15, "chunks paced")
        }
        let big = worker.client()!.exchange("GET /raw/big?bytes=200000 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(big.complete && big.body.count == 200_000 && big.body.enumerated().allSatisfy { $1 == bigPattern[$0 % 64] })
        let (dying, _) = raw("die-mid-body")
        #expect(dying.header("content-length") == "100" && dying.body == Array("0123456789".utf8) && !dying.complete)
        #expect(waitUntil { !worker.process.isRunning }, "the worker exited")
    }

    @Test func exitKillsTheWorkerWithoutAnAnswer() throws {
        let worker = try Worker()
        let r = try #require(worker.client()).exchange("GET /raw/exit HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(r.status == 0 && r.ending == .eof, "\(r.summary)")
        #expect(waitUntil { !worker.process.isRunning })
        #expect(worker.process.terminationStatus == 1)
    }
}

/// `/raw/big` bodies: byte i is `bigPattern[i % 64]`.
let bigPattern = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n".utf8)
