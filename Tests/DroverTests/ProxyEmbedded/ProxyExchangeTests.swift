import Glibc
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

/// Exchanges on the embedded loop: what the client sees when the worker
/// misbehaves, and what the worker's slot does when the client misbehaves.
@Suite struct ProxyExchangeTests {
    @Test func resetBeforeAnswerRetriesAGetOnTheOtherWorker() throws {
        let t = try EmbeddedProxy { $0.retries = 1; $0.maxInflight = 1 }
        t.addWorker()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        // Whichever worker got it resets the connection unanswered.
        let first = t.workers.indices.compactMap { index in RawSocket.accept(t.workers[index].listener).map { (index, $0) } }
        #expect(first.count == 1)
        let (index, upstream) = try #require(first.first)
        t.step()
        _ = RawSocket.receive(upstream)
        RawSocket.reset(upstream)
        t.step()
        let other = try #require(t.acceptUpstream(1 - index))
        defer { close(other) }
        t.step()
        #expect(RawSocket.receive(other).hasPrefix("GET /a HTTP/1.1\r\n"))
        RawSocket.send(other, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        t.step()
        #expect(RawSocket.receive(client).hasPrefix("HTTP/1.1 200 OK"))
        #expect(t.proxy.metrics.retries == 1)
    }

    @Test func resetBeforeAnswerIsA502ForAPost() throws {
        let t = try EmbeddedProxy { $0.retries = 1 }
        t.addWorker()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        t.step()
        let accepted = t.workers.indices.compactMap { RawSocket.accept(t.workers[$0].listener) }
        let upstream = try #require(accepted.first)
        t.step()
        #expect(RawSocket.receive(upstream).hasSuffix("\r\n\r\nabc"))
        RawSocket.reset(upstream)
        t.step()
        #expect(RawSocket.receive(client).hasPrefix("HTTP/1.1 502 "))
        #expect(t.proxy.metrics.retries == 0)
    }

    @Test func workerDyingMidBodyResetsTheClient() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(t.acceptUpstream(0))
        t.step()
        _ = RawSocket.receive(upstream)
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        t.step()
        let partial = RawSocket.receive(client)
        #expect(partial.hasPrefix("HTTP/1.1 200 OK") && partial.hasSuffix("0123456789"))
        close(upstream)
        t.step()
        // Not a clean end: the connection is reset, never left open as if complete.
        var byte: UInt8 = 0
        let n = recv(client, &byte, 1, 0)
        #expect(n < 0 && errno == ECONNRESET)
    }

    @Test func clientLeavingDoesNotFreeTheWorkerSlotEarly() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1 }
        t.addWorker()
        let a = t.connectClient()
        RawSocket.send(a, "GET /long HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(t.acceptUpstream(0))
        defer { close(upstream) }
        t.step()
        #expect(RawSocket.receive(upstream).hasPrefix("GET /long"))
        // A leaves (reset) while the worker computes.
        RawSocket.reset(a)
        t.step()
        let b = t.connectClient()
        defer { close(b) }
        RawSocket.send(b, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        // The worker is still busy with A's request: B waits in the queue.
        #expect(t.proxy.pool.queueLength == 1)
        #expect(RawSocket.receive(upstream).isEmpty)
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlong")
        t.step()
        // A's answer was read and discarded; then B's request goes out on the same connection.
        #expect(RawSocket.receive(upstream).hasPrefix("GET /next HTTP/1.1\r\n"))
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
        t.step()
        #expect(RawSocket.receive(b).hasSuffix("next"))
    }

    @Test func slowReaderPausesTheWorkerAndBoundsMemory() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let (client, upstream, _) = try t.forward("GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(client); close(upstream) }
        // More than every kernel buffer on the way can hold.
        let total = 96 << 20
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: \(total)\r\n\r\n")
        _ = fcntl(upstream, F_SETFL, fcntl(upstream, F_GETFL) | O_NONBLOCK)
        let chunk = [UInt8](repeating: 0x61, count: 256 * 1024)
        var sent = 0
        func pump() {
            guard sent < total else { return }
            let n = chunk.withUnsafeBytes { Glibc.send(upstream, $0.baseAddress, min($0.count, total - sent), Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n }
        }
        var stalled = 0
        while stalled < 50 && sent < total {
            let before = sent
            pump()
            t.step()
            stalled = sent == before ? stalled + 1 : 0
        }
        // The client reads nothing: the worker is held back, because the
        // proxy stopped reading it, and the proxy holds about one watermark.
        #expect(sent < total)
        #expect(t.proxyClientPendingBytes() <= 512 * 1024)
        #expect(t.proxy.pool.workers.first.map { _ in true } == true)
        // Reading resumes the flow and the whole body arrives.
        var received = 0
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var idle = 0
        while received < total && idle < 2000 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { received += n; idle = 0 } else { idle += 1 }
            pump()
            t.step()
        }
        #expect(sent == total)
        #expect(received >= total)
    }

    @Test func halfClosedClientGetsItsWholeAnswerWithoutSpinning() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let client = t.connectClient()
        defer { close(client) }
        RawSocket.send(client, "GET /h HTTP/1.1\r\nHost: a\r\n\r\n")
        shutdown(client, Int32(SHUT_WR))
        let upstream = try #require(t.acceptUpstream(0))
        defer { close(upstream) }
        t.step()
        _ = RawSocket.receive(upstream)
        // While the answer is pending the loop has nothing to do: no event
        // fires again and again for the half-closed socket.
        var events = 0
        for _ in 0..<20 { events += t.reactor.runReady() }
        #expect(events == 0)
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        t.step()
        let answer = RawSocket.receive(client)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
        #expect(answer.hasSuffix("hello"))
        #expect(answer.contains("Connection: close"))
        #expect(RawSocket.isClosed(client))
    }

    @Test func chunkedAnswerReachesTheClientChunkByChunk() throws {
        let t = try EmbeddedProxy()
        t.addWorker()
        let (client, upstream, _) = try t.forward("GET /sse HTTP/1.1\r\nHost: a\r\n\r\n")
        defer { close(client); close(upstream) }
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        t.step()
        #expect(RawSocket.receive(client).contains("Transfer-Encoding: chunked\r\n"))
        for index in 0..<3 {
            let event = "data: \(index)\n\n"
            RawSocket.send(upstream, String(event.utf8.count, radix: 16) + "\r\n" + event + "\r\n")
            t.step()
            #expect(RawSocket.receive(client) == String(event.utf8.count, radix: 16) + "\r\n" + event + "\r\n")
        }
        RawSocket.send(upstream, "0\r\n\r\n")
        t.step()
        #expect(RawSocket.receive(client) == "0\r\n\r\n")
    }
}

extension EmbeddedProxy {
    /// Bytes the proxy holds for its clients.
    func proxyClientPendingBytes() -> Int { proxy.clientPendingBytes }
}

extension ProxyExchangeTests {
    /// A stream the client walked away from would run forever for nobody:
    /// the worker's connection is closed (it stops) and its slot frees.
    @Test func clientLeavingAStreamStopsItAndFreesTheSlot() throws {
        let t = try EmbeddedProxy { $0.maxInflight = 1 }
        t.addWorker()
        let a = t.connectClient()
        RawSocket.send(a, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        let upstream = try #require(t.acceptUpstream(0))
        defer { close(upstream) }
        t.step()
        _ = RawSocket.receive(upstream)
        RawSocket.send(upstream, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ntoken\r\n")
        t.step()
        #expect(RawSocket.receive(a).hasSuffix("token\r\n"))
        RawSocket.reset(a)
        t.step()
        #expect(RawSocket.isClosed(upstream))
        let b = t.connectClient()
        defer { close(b) }
        RawSocket.send(b, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        t.step()
        #expect(t.proxy.pool.queueLength == 0)
        #expect(t.proxy.pool.workers.first?.inflight == 1)
    }
}

/// Inputs that once could have worn the stack or the loop down.
@Suite struct ProxyHostileInputTests {
    /// Thousands of pipelined requests answered synchronously (queue full,
    /// no worker) are answered one after another, not by recursion.
    @Test func thousandsOfPipelinedRefusalsDoNotRecurse() throws {
        let t = try EmbeddedProxy { $0.queueSize = 0 }
        let client = t.connectClient()
        defer { close(client) }
        let count = 3000
        let request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        RawSocket.send(client, String(repeating: request, count: count))
        var answers = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var text = ""
        for _ in 0..<2000 where answers < count {
            t.step()
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                text += String(decoding: buffer[..<n], as: UTF8.self)
                answers = text.components(separatedBy: "HTTP/1.1 503 ").count - 1
            }
        }
        #expect(answers == count)
    }
}

extension ProxyHostileInputTests {
    /// A client announcing a large body and sending little costs what it
    /// sent, and all buffered bodies together stay within the budget.
    @Test func bufferedBodiesStayWithinTheBudget() throws {
        let t = try EmbeddedProxy { $0.clientMaxBodySize = 1 << 20; $0.maxInflight = 1 }
        t.proxy.bodyBudget = 300_000
        // No worker: every request waits with its body in memory.
        var clients: [Int32] = []
        defer { clients.forEach { close($0) } }
        let body = String(repeating: "b", count: 100_000)
        for _ in 0..<3 {
            let client = t.connectClient()
            clients.append(client)
            RawSocket.send(client, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n" + body)
            t.step()
        }
        #expect(t.proxy.bufferedBodyBytes == 300_000)
        let fourth = t.connectClient()
        clients.append(fourth)
        RawSocket.send(fourth, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n" + body)
        t.step()
        let answer = RawSocket.receive(fourth)
        #expect(answer.hasPrefix("HTTP/1.1 503 "))
        #expect(answer.contains("Retry-After: 1"))
        #expect(t.proxy.bufferedBodyBytes == 300_000)
        // A declared megabyte with nothing sent holds no budget.
        let announcer = t.connectClient()
        clients.append(announcer)
        RawSocket.send(announcer, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n")
        t.step()
        #expect(t.proxy.bufferedBodyBytes == 300_000)
        // Queued requests whose clients reset give their bytes back.
        for client in clients.prefix(3) {
            RawSocket.setResetOnClose(client)
        }
        for client in clients.prefix(3) { close(client) }
        clients.removeFirst(3)
        t.step()
        #expect(t.proxy.bufferedBodyBytes == 0)
    }
}
