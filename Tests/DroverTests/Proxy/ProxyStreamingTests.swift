import Foundation
import Testing

/// Responses stream with bounded buffers: progressive delivery, a slow
/// reader, and a client that half-closes after its request.
@Suite struct ProxyStreamingTests {
    @Test func chunksReachTheClientAsTheyAreProduced() throws {
        let proxy = try ProxyFixture("stream")
        let client = try #require(proxy.connect(timeout: 5))
        client.send("GET /raw/stream?n=5&ms=200 HTTP/1.1\r\nHost: a\r\n\r\n")
        var firstSeen: Date?, lastSeen: Date?
        let deadline = Date().addingTimeInterval(8)
        while lastSeen == nil && client.ended == nil && Date() < deadline {
            client.fill()
            let text = String(decoding: client.buffer, as: UTF8.self)
            if firstSeen == nil && text.contains("chunk 1\n") { firstSeen = Date() }
            if text.contains("chunk 5\n") { lastSeen = Date() }
        }
        let r = client.readResponse()
        #expect(r.status == 200 && r.complete && r.text == (1...5).map { "chunk \($0)\n" }.joined(), "\(r.summary)")
        let first = try #require(firstSeen), last = try #require(lastSeen)
        #expect(last.timeIntervalSince(first) >= 0.5,
                "the first chunk arrived \(last.timeIntervalSince(first)) s before the last (produced 0.8 s apart): streamed, not buffered")
        #expect(client.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n").status == 200, "keep-alive after a stream")
    }

    /// Every byte of a `/raw/big` body, checked 64 bytes at a time.
    static func isBigBody(_ body: [UInt8], count: Int) -> Bool {
        guard body.count == count else { return false }
        return body.withUnsafeBytes { raw in
            bigPattern.withUnsafeBytes { pattern in
                var offset = 0
                while offset < count {
                    let n = min(64, count - offset)
                    if memcmp(raw.baseAddress! + offset, pattern.baseAddress!, n) != 0 { return false }
                    offset += n
                }
                return true
            }
        }
    }

    @Test func slowReaderKeepsDroverMemoryBounded() throws {
        let proxy = try ProxyFixture("slowreader", .init(numprocs: 1))
        let size = 50_000_000
        let baseline = try #require(ProcStats.rss(proxy.pid))
        let client = try #require(proxy.connect(timeout: 10, receiveBuffer: 32 * 1024))
        client.send("GET /raw/big?bytes=\(size) HTTP/1.1\r\nHost: a\r\n\r\n")
        var peak = baseline
        let slowUntil = Date().addingTimeInterval(3)
        while Date() < slowUntil {
            client.fill(max: 16 * 1024)
            peak = max(peak, ProcStats.rss(proxy.pid) ?? 0)
            usleep(100_000)
        }
        #expect(peak - baseline < 20 * 1024 * 1024,
                "drover's RSS grew \((peak - baseline) / 1024) KiB while a client read a 50 MB answer slowly")
        let r = client.readResponse()
        #expect(r.status == 200 && r.complete, "\(r.head)\ncomplete=\(r.complete) ending=\(String(describing: r.ending)) body \(r.body.count)")
        #expect(Self.isBigBody(r.body, count: size), "the whole body arrived intact")
    }

    @Test func halfClosedClientGetsTheWholeAnswerAndDroverIdles() throws {
        let proxy = try ProxyFixture("halfclose")
        let client = try #require(proxy.connect(timeout: 6))
        client.send("GET /sleep?ms=2000 HTTP/1.1\r\nHost: a\r\n\r\n")
        client.shutdownWrite()
        let cpuBefore = try #require(ProcStats.cpuSeconds(proxy.pid))
        let r = client.readResponse()
        let cpuAfter = try #require(ProcStats.cpuSeconds(proxy.pid))
        #expect(r.status == 200 && r.complete && Int(r.text.dropLast()) != nil, "answer after the client's half-close\n\(r.summary)")
        #expect(cpuAfter - cpuBefore < 0.5, "drover used \(cpuAfter - cpuBefore) s of CPU while waiting 2 s: no busy loop on the half-closed socket")
    }
}
