/// Incremental, strict HTTP/1.1 request parser (RFC 9112) for every drover
/// listener. Feed it whatever the socket gave; it buffers at most one
/// partial head line and turns pipelined requests into events in order.
/// Strict because the front proxy forwards what it accepts: any request two
/// parsers could read differently is refused (400) rather than guessed at.
public struct HTTPRequestParser: Sendable {
    public let limits: HTTPLimits

    private enum State: Sendable {
        case head
        case body
        case failed
    }

    private var state: State = .head
    private var lines = HTTPHeadLineReader()
    private var requestLine: (method: String, target: String, version: HTTPVersion)?
    private var headers = HTTPHeaders()
    private var body = HTTPBodyDecoder(framing: .none, limits: HTTPLimits(), boundsBody: true)

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// True once an error was reported; all later input is ignored.
    public var hasFailed: Bool {
        if case .failed = state { return true }
        return false
    }

    /// True between requests: nothing of a next request has arrived (stray
    /// empty lines aside), so the connection can be closed (idle timeout,
    /// shutdown) without cutting one.
    public var isAtMessageBoundary: Bool {
        if case .head = state { return requestLine == nil && !lines.hasPartialLine }
        return false
    }

    public mutating func parse(_ bytes: UnsafeRawBufferPointer, into events: inout [HTTPRequestEvent]) {
        var index = 0
        while index < bytes.count {
            switch state {
            case .failed:
                return
            case .head:
                let inRequestLine = requestLine == nil
                let (consumed, outcome) = lines.read(
                    bytes, from: index,
                    lineLimit: inRequestLine ? limits.maxRequestLineBytes : nil,
                    lineLimitError: HTTPParseError(status: 414, reason: "request line too long"),
                    headLimit: limits.maxHeaderBytes,
                    headLimitError: HTTPParseError(status: 431, reason: "request header section too large"))
                index += consumed
                switch outcome {
                case .incomplete: break
                case .failure(let error): fail(error, &events)
                case .line:
                    do { try headLine(lines.line, &events) } catch { fail(error, &events) }
                }
            case .body:
                let (consumed, outcome) = body.decode(bytes, from: index) { events.append(.body(Array($0))) }
                index += consumed
                switch outcome {
                case .needMore: break
                case .failure(let error): fail(error, &events)
                case .end: endMessage(&events)
                }
            }
        }
    }

    public mutating func parse(_ bytes: [UInt8], into events: inout [HTTPRequestEvent]) {
        bytes.withUnsafeBytes { parse($0, into: &events) }
    }

    private mutating func fail(_ error: HTTPParseError, _ events: inout [HTTPRequestEvent]) {
        state = .failed
        events.append(.error(error))
    }

    private mutating func endMessage(_ events: inout [HTTPRequestEvent]) {
        events.append(.end)
        state = .head
        lines.reset()
        requestLine = nil
        headers = HTTPHeaders()
    }

    private mutating func headLine(_ line: ArraySlice<UInt8>, _ events: inout [HTTPRequestEvent]) throws(HTTPParseError) {
        guard requestLine != nil else {
            // RFC 9112 §2.2: a server SHOULD ignore at least one empty line
            // before the request line (clients' stray CRLF after a body).
            // They still count toward maxHeaderBytes, so they cannot go on forever.
            if !line.isEmpty { requestLine = try Self.parseRequestLine(line) }
            return
        }
        if !line.isEmpty {
            guard headers.count < limits.maxHeaderCount else {
                throw HTTPParseError(status: 431, reason: "too many header fields")
            }
            let field = try HTTPFieldLine.parse(line)
            headers.add(name: field.name, value: field.value)
            return
        }
        let head = try completeHead()
        events.append(.head(head))
        body = HTTPBodyDecoder(framing: head.framing, limits: limits, boundsBody: true)
        state = .body
        if case .none = head.framing { endMessage(&events) }
        if case .length(0) = head.framing { endMessage(&events) }
    }

    /// method SP request-target SP HTTP-version, exactly one SP apart.
    static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (method: String, target: String, version: HTTPVersion) {
        guard let firstSpace = line.firstIndex(of: HTTPSyntax.space),
              let lastSpace = line.lastIndex(of: HTTPSyntax.space),
              firstSpace != lastSpace else { throw .badRequest("malformed request line") }
        let method = line[line.startIndex..<firstSpace]
        let target = line[(firstSpace + 1)..<lastSpace]
        let version = line[(lastSpace + 1)...]
        guard HTTPSyntax.isToken(method) else { throw .badRequest("invalid method") }
        guard !target.isEmpty, target.allSatisfy(HTTPSyntax.isTargetByte) else {
            throw .badRequest("invalid request target")
        }
        return (String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self), try parseVersion(version))
    }

    /// `HTTP/1.1` or `HTTP/1.0`; another well-formed `HTTP/d.d` is 505.
    static func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        let text = Array(bytes)
        guard text.count == 8, text[0..<5].elementsEqual("HTTP/".utf8),
              (0x30...0x39).contains(text[5]), text[6] == 0x2E, (0x30...0x39).contains(text[7]) else {
            throw .badRequest("malformed HTTP version")
        }
        switch (text[5], text[7]) {
        case (0x31, 0x31): return .http11
        case (0x31, 0x30): return .http10
        default: throw HTTPParseError(status: 505, reason: "HTTP version not supported")
        }
    }

    /// Framing and connection semantics, rejecting every ambiguous combination.
    private func completeHead() throws(HTTPParseError) -> HTTPRequestHead {
        guard let (method, target, version) = requestLine else { throw .badRequest("missing request line") }
        let hostCount = headers.values(for: "host").count
        if hostCount > 1 { throw .badRequest("more than one Host header") }
        if hostCount == 0 && version == .http11 { throw .badRequest("missing Host header") }

        var framing = HTTPBodyFraming.none
        let coding = HTTPFramingRules.transferCoding(headers)
        if coding != .absent {
            if version == .http10 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            if headers.contains(name: "content-length") {
                throw .badRequest("both Content-Length and Transfer-Encoding")
            }
            switch coding {
            case .chunked: framing = .chunked
            case .chunkedNotFinal: throw .badRequest("chunked is not the final transfer coding")
            case .unsupported: throw HTTPParseError(status: 501, reason: "transfer coding not implemented")
            case .absent: break
            }
        } else if let length = try HTTPFramingRules.contentLength(headers) {
            guard length <= limits.maxBodyBytes else { throw HTTPParseError(status: 413, reason: "request body too large") }
            framing = .length(length)
        }

        return HTTPRequestHead(
            method: method, target: target, version: version, headers: headers, framing: framing,
            keepAlive: HTTPFramingRules.keepAlive(version: version, headers: headers),
            expectsContinue: headers.values(for: "expect").contains { HTTPSyntax.equalsIgnoringCase($0, "100-continue") })
    }
}
