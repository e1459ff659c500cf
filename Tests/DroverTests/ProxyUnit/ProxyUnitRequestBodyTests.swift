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

/// The request body as ProxyClientConnection reads it (HTTPBodyDecoder with
/// the proxy's body limits, boundsBody: true): checklist H11–H13, H22.
/// Each body is fed whole and split at every byte boundary.
@Suite struct ProxyUnitRequestBodyTests {
    enum Outcome: Equatable {
        case needMore
        case end(body: String, consumed: Int)
        case failure(Int)
    }

    static func decode(_ framing: HTTPBodyFraming, _ text: String, maxBody: Int = 10 * 1024 * 1024, split: Int? = nil) -> Outcome {
        var decoder = HTTPBodyDecoder(framing: framing, limits: HTTPLimits(maxHeaderBytes: 16 * 1024, maxBodyBytes: maxBody),
                                      boundsBody: true)
        let bytes = Array(text.utf8)
        var body: [UInt8] = []
        var offset = 0
        let pieces = split.map { [0..<$0, $0..<bytes.count] } ?? [0..<bytes.count]
        for piece in pieces {
            // As ProxyClientConnection: what was not consumed stays in the buffer.
            let available = Array(bytes[offset..<piece.upperBound])
            let (consumed, outcome) = available.withUnsafeBytes { raw in
                decoder.decode(raw, from: 0) { body.append(contentsOf: $0) }
            }
            offset += consumed
            switch outcome {
            case .needMore: continue
            case .end: return .end(body: String(decoding: body, as: UTF8.self), consumed: offset)
            case .failure(let error): return .failure(error.status)
            }
        }
        return .needMore
    }

    static func check(_ framing: HTTPBodyFraming, _ text: String, maxBody: Int = 10 * 1024 * 1024,
                      sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
        let whole = decode(framing, text, maxBody: maxBody)
        for split in 1..<max(1, text.utf8.count) {
            let piecewise = decode(framing, text, maxBody: maxBody, split: split)
            if piecewise != whole {
                Issue.record("split at \(split): \(piecewise) but whole: \(whole)", sourceLocation: sourceLocation)
                break
            }
        }
        return whole
    }

    @Test func h22CountedBody() {
        #expect(Self.check(.length(5), "helloGET / HTTP/1.1\r\n") == .end(body: "hello", consumed: 5))
        #expect(Self.check(.length(5), "hel") == .needMore)
    }

    @Test func chunkedBody() {
        #expect(Self.check(.chunked, "5\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\nNEXT") == .end(body: "hello0123456789", consumed: 30))
        #expect(Self.check(.chunked, "5\r\nhello\r\n0\r\n") == .needMore)
    }

    @Test func h12ExtensionsAndTrailers() {
        #expect(Self.check(.chunked, "5;ext=1\r\nabcde\r\n0\r\nX-Trailer: t\r\n\r\n") == .end(body: "abcde", consumed: 35))
        #expect(Self.check(.chunked, "5 ;ext=\"q\"\r\nabcde\r\n0;last\r\n\r\n").isEnd)
    }

    @Test(arguments: ["0x5\r\nabcde\r\n0\r\n\r\n", "+5\r\nabcde\r\n0\r\n\r\n", "5 junk\r\nabcde\r\n0\r\n\r\n",
                      "00000000000000005\r\nabcde\r\n0\r\n\r\n", "-1\r\n", "\r\n", " 5\r\nabcde\r\n0\r\n\r\n",
                      "5\r\nabcdef\r\n0\r\n\r\n", "5\r\nabcde0\r\n\r\n", "5\rabcde\r\n0\r\n\r\n"])
    func h11BadChunkSizes(body: String) {
        #expect(Self.check(.chunked, body) == .failure(400), "\(ProxyUnit.escaped(Array(body.utf8)))")
    }

    @Test func h13BareLFInChunkLines() {
        #expect(Self.check(.chunked, "0\n\r\n") == .failure(400))
        #expect(Self.check(.chunked, "5\nabcde\r\n0\r\n\r\n") == .failure(400))
        #expect(Self.check(.chunked, "5;x\nabcde\r\n0\r\n\r\n") == .failure(400))
        #expect(Self.check(.chunked, "5\r\nabcde\n0\r\n\r\n") == .failure(400))
        #expect(Self.check(.chunked, "0\r\nX-T: t\n\r\n").isFailure)
        #expect(Self.check(.chunked, "0\r\n\n").isFailure)
    }

    @Test func chunkedBodyOverTheLimitIs413() {
        #expect(Self.check(.chunked, "6\r\nabcdef\r\n0\r\n\r\n", maxBody: 5) == .failure(413))
        #expect(Self.check(.chunked, "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", maxBody: 5) == .failure(413))
        #expect(Self.check(.chunked, "FFFFFFFFFFFFFFFF\r\n", maxBody: 5) == .failure(413))
        #expect(Self.check(.chunked, "5\r\nabcde\r\n0\r\n\r\n", maxBody: 5) == .end(body: "abcde", consumed: 15))
    }
}

extension ProxyUnitRequestBodyTests.Outcome {
    var isEnd: Bool { if case .end = self { return true } else { return false } }
    var isFailure: Bool { if case .failure = self { return true } else { return false } }
}
