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

/// Helpers for the in-process proxy unit tests: run `HTTPHeadScanner` and the
/// request/response head parsers over exact bytes, whole and split at every
/// byte boundary, and reduce the result to a comparable value.
enum ProxyUnit {
    /// The request line's own bound in ProxyClientConnection (414 above it).
    static let maxRequestLine = 12 * 1024

    /// The limits ProxyClientConnection gives its scanner (default config).
    static func requestLimits(maxHeaderSize: Int = 16 * 1024) -> HTTPHeadScanner.Limits {
        .init(maxHeadBytes: maxHeaderSize, maxStartLineBytes: maxRequestLine, maxFields: 100, tooLargeStatus: 431)
    }

    /// The limits UpstreamConnection gives its scanner.
    static let responseLimits = HTTPHeadScanner.Limits(maxHeadBytes: 64 * 1024, maxStartLineBytes: 8 * 1024,
                                                   maxFields: 256, tooLargeStatus: 502)

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    // MARK: Request side

    struct Request: Equatable, CustomStringConvertible {
        var headLength: Int
        var method: String
        var originTarget: String
        var authority: String?
        var version: HTTPVersion
        var framing: HTTPRequestHeadRanges.Framing
        var keepAlive: Bool
        var isHead: Bool
        var isIdempotent: Bool
        var expectsContinue: Bool
        var requestID: String?
        var forwardedFor: [String]
        var nominated: [String]

        var description: String {
            "\(method) \(originTarget) authority=\(authority ?? "-") \(version.text) framing=\(framing) keepAlive=\(keepAlive) head=\(headLength)"
        }
    }

    enum RequestOutcome: Equatable, CustomStringConvertible {
        case incomplete
        case rejected(Int)
        case parsed(Request)

        var status: Int? {
            if case .rejected(let s) = self { return s }
            return nil
        }

        var request: Request? {
            if case .parsed(let r) = self { return r }
            return nil
        }

        var description: String {
            switch self {
            case .incomplete: return "incomplete"
            case .rejected(let s): return "rejected \(s)"
            case .parsed(let r): return "parsed \(r)"
            }
        }
    }

    static func summarize(_ raw: UnsafeRawBufferPointer, _ head: HTTPRequestHeadRanges, length: Int) -> Request {
        Request(headLength: length,
                method: HTTPHeadBytes.string(raw, head.method),
                originTarget: HTTPHeadBytes.string(raw, head.originTarget),
                authority: head.authority.map { HTTPHeadBytes.string(raw, $0) },
                version: head.version, framing: head.framing, keepAlive: head.keepAlive,
                isHead: head.isHead, isIdempotent: head.isIdempotent, expectsContinue: head.expectsContinue,
                requestID: head.requestID.map { HTTPHeadBytes.string(raw, $0) },
                forwardedFor: head.forwardedFor.map { HTTPHeadBytes.string(raw, $0) },
                nominated: head.nominated.map { HTTPHeadBytes.string(raw, $0) })
    }

    /// One scan call over `prefix` with `scanner`, then (if complete) the parse.
    private static func step(_ scanner: inout HTTPHeadScanner, _ prefix: UnsafeRawBufferPointer, maxBody: Int) -> RequestOutcome {
        do throws(HTTPParseError) {
            guard case .complete(let length) = try scanner.scan(prefix) else { return .incomplete }
            let head = try HTTPRequestHeadRanges.parse(prefix, scanner, maxBody: maxBody)
            return .parsed(summarize(prefix, head, length: length))
        } catch {
            return .rejected(error.status)
        }
    }

    /// The bytes in one piece.
    static func requestWhole(_ bytes: [UInt8], maxBody: Int = 10 * 1024 * 1024,
                             maxHeaderSize: Int = 16 * 1024) -> RequestOutcome {
        var scanner = HTTPHeadScanner(limits: requestLimits(maxHeaderSize: maxHeaderSize))
        return bytes.withUnsafeBytes { step(&scanner, $0, maxBody: maxBody) }
    }

    /// Growing prefixes `0..<1`, `0..<2`, … until an answer (a byte at a time).
    static func requestByteByByte(_ bytes: [UInt8], maxBody: Int = 10 * 1024 * 1024,
                                  maxHeaderSize: Int = 16 * 1024) -> RequestOutcome {
        var scanner = HTTPHeadScanner(limits: requestLimits(maxHeaderSize: maxHeaderSize))
        return bytes.withUnsafeBytes { raw in
            var outcome = RequestOutcome.incomplete
            for end in 1...max(1, raw.count) where end <= raw.count {
                outcome = step(&scanner, UnsafeRawBufferPointer(rebasing: raw[0..<end]), maxBody: maxBody)
                if outcome != .incomplete { return outcome }
            }
            return outcome
        }
    }

    /// Two pieces: `0..<split`, then all of it (the first piece may already decide).
    static func requestSplit(_ bytes: [UInt8], at split: Int, maxBody: Int = 10 * 1024 * 1024,
                             maxHeaderSize: Int = 16 * 1024) -> RequestOutcome {
        var scanner = HTTPHeadScanner(limits: requestLimits(maxHeaderSize: maxHeaderSize))
        return bytes.withUnsafeBytes { raw in
            let first = step(&scanner, UnsafeRawBufferPointer(rebasing: raw[0..<split]), maxBody: maxBody)
            if first != .incomplete { return first }
            return step(&scanner, raw, maxBody: maxBody)
        }
    }

    /// The split points to try: all of them for small inputs; for large ones
    /// every byte near the ends and near the limits, and a stride between.
    static func splitPoints(_ count: Int, limits: [Int] = [8 * 1024, 12 * 1024, 16 * 1024]) -> [Int] {
        guard count > 1 else { return [] }
        if count <= 2048 { return Array(1..<count) }
        var points = Set<Int>()
        for p in 1..<min(count, 96) { points.insert(p) }
        for p in max(1, count - 96)..<count { points.insert(p) }
        for limit in limits {
            for p in (limit - 8)...(limit + 8) where p >= 1 && p < count { points.insert(p) }
        }
        for p in stride(from: 1, to: count, by: 53) { points.insert(p) }
        return points.sorted()
    }

    /// The outcome of the whole bytes, after checking that every way of
    /// delivering them (byte by byte; two pieces at each split point) ends
    /// the same. Records an issue naming the first differing split.
    @discardableResult
    static func checkRequest(_ bytes: [UInt8], maxBody: Int = 10 * 1024 * 1024, maxHeaderSize: Int = 16 * 1024,
                             sourceLocation: SourceLocation = #_sourceLocation) -> RequestOutcome {
        let whole = requestWhole(bytes, maxBody: maxBody, maxHeaderSize: maxHeaderSize)
        let trickle = requestByteByByte(bytes, maxBody: maxBody, maxHeaderSize: maxHeaderSize)
        #expect(trickle == whole, "byte by byte: \(trickle) but whole: \(whole)", sourceLocation: sourceLocation)
        for split in splitPoints(bytes.count) {
            let piecewise = requestSplit(bytes, at: split, maxBody: maxBody, maxHeaderSize: maxHeaderSize)
            if piecewise != whole {
                Issue.record("split at \(split): \(piecewise) but whole: \(whole)", sourceLocation: sourceLocation)
                break
            }
        }
        return whole
    }

    /// `checkRequest` and expect a refusal with `status`.
    static func expectRejected(_ text: String, _ status: Int, maxBody: Int = 10 * 1024 * 1024,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        expectRejected(bytes(text), status, maxBody: maxBody, sourceLocation: sourceLocation)
    }

    static func expectRejected(_ bytes: [UInt8], _ status: Int, maxBody: Int = 10 * 1024 * 1024,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        let outcome = checkRequest(bytes, maxBody: maxBody, sourceLocation: sourceLocation)
        #expect(outcome == .rejected(status), "\(escaped(bytes))", sourceLocation: sourceLocation)
    }

    /// `checkRequest` and return the parsed request (nil + an issue otherwise).
    static func expectParsed(_ text: String, maxBody: Int = 10 * 1024 * 1024,
                             sourceLocation: SourceLocation = #_sourceLocation) -> Request? {
        expectParsed(bytes(text), maxBody: maxBody, sourceLocation: sourceLocation)
    }

    static func expectParsed(_ bytes: [UInt8], maxBody: Int = 10 * 1024 * 1024,
                             sourceLocation: SourceLocation = #_sourceLocation) -> Request? {
        let outcome = checkRequest(bytes, maxBody: maxBody, sourceLocation: sourceLocation)
        guard let request = outcome.request else {
            Issue.record("expected a parsed request, got \(outcome) for \(escaped(bytes))", sourceLocation: sourceLocation)
            return nil
        }
        return request
    }

    static func escaped(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes.prefix(160) {
            switch b {
            case 0x0D: out += "\\r"
            case 0x0A: out += "\\n"
            case 0x20...0x7E: out.append(Character(Unicode.Scalar(b)))
            default: out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        if bytes.count > 160 { out += "…(\(bytes.count) bytes)" }
        return out
    }

    // MARK: Response side

    struct Response: Equatable, CustomStringConvertible {
        var headLength: Int
        var status: Int
        var statusAndReason: String
        var framing: ProxyResponseHead.Framing
        var reusable: Bool
        var isInterim: Bool
        var passContentLength: Bool
        var nominated: [String]

        var description: String {
            "\(statusAndReason) framing=\(framing) reusable=\(reusable) interim=\(isInterim) passCL=\(passContentLength)"
        }
    }

    enum ResponseOutcome: Equatable, CustomStringConvertible {
        case incomplete
        /// The scanner refused the head (UpstreamConnection turns any of
        /// these into a 502); `status` is what it said.
        case scannerRejected(Int)
        /// ProxyResponseHead.parse refused it.
        case rejected(Int)
        case parsed(Response)

        var response: Response? {
            if case .parsed(let r) = self { return r }
            return nil
        }

        var description: String {
            switch self {
            case .incomplete: return "incomplete"
            case .scannerRejected(let s): return "scanner rejected \(s)"
            case .rejected(let s): return "rejected \(s)"
            case .parsed(let r): return "parsed \(r)"
            }
        }
    }

    private static func responseStep(_ scanner: inout HTTPHeadScanner, _ prefix: UnsafeRawBufferPointer, isHead: Bool) -> ResponseOutcome {
        let length: Int
        do throws(HTTPParseError) {
            guard case .complete(let n) = try scanner.scan(prefix) else { return .incomplete }
            length = n
        } catch {
            return .scannerRejected(error.status)
        }
        do throws(HTTPParseError) {
            let head = try ProxyResponseHead.parse(prefix, scanner, requestIsHead: isHead)
            return .parsed(Response(headLength: length, status: head.status,
                                    statusAndReason: HTTPHeadBytes.string(prefix, head.statusAndReason),
                                    framing: head.framing, reusable: head.reusable, isInterim: head.isInterim,
                                    passContentLength: head.passContentLength,
                                    nominated: head.nominated.map { HTTPHeadBytes.string(prefix, $0) }))
        } catch {
            return .rejected(error.status)
        }
    }

    static func response(_ text: String, isHead: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) -> ResponseOutcome {
        let data = bytes(text)
        var scanner = HTTPHeadScanner(limits: responseLimits)
        let whole = data.withUnsafeBytes { responseStep(&scanner, $0, isHead: isHead) }
        for split in splitPoints(data.count) {
            var pieces = HTTPHeadScanner(limits: responseLimits)
            let outcome: ResponseOutcome = data.withUnsafeBytes { raw in
                let first = responseStep(&pieces, UnsafeRawBufferPointer(rebasing: raw[0..<split]), isHead: isHead)
                return first != .incomplete ? first : responseStep(&pieces, raw, isHead: isHead)
            }
            if outcome != whole {
                Issue.record("split at \(split): \(outcome) but whole: \(whole)", sourceLocation: sourceLocation)
                break
            }
        }
        return whole
    }
}
