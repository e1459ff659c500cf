/// Incremental HTTP/1.1 response parser for worker responses (proxy, health
/// probes) and the CLI client. Whether a body follows depends on the request,
/// so the caller sets `requestMethod` before each response is parsed.
/// Every problem is reported as 502: what a proxy answers for an invalid
/// upstream response. Bodies are not size-limited: responses stream.
package struct HTTPResponseParser: Sendable {
    package let limits: HTTPLimits
    /// The method of the request the next response answers: `HEAD` means no
    /// body whatever the headers say.
    package var requestMethod: String

    private enum State: Sendable {
        case head
        case body
        case failed
        case closed
    }

    private var state: State = .head
    private var lines = HTTPHeadLineReader()
    private var statusLine: (version: HTTPVersion, status: Int, reason: String)?
    private var headers = HTTPHeaders()
    private var body = HTTPBodyDecoder(framing: .none, limits: HTTPLimits(), boundsBody: false)

    package init(requestMethod: String = "GET", limits: HTTPLimits = HTTPLimits()) {
        self.requestMethod = requestMethod
        self.limits = limits
    }

    package var hasFailed: Bool {
        if case .failed = state { return true }
        return false
    }

    /// True between responses: no byte of a next response has arrived.
    package var isAtMessageBoundary: Bool {
        if case .head = state { return statusLine == nil && !lines.hasPartialLine }
        return false
    }

    package mutating func parse(_ bytes: UnsafeRawBufferPointer, into events: inout [HTTPResponseEvent]) {
        var index = 0
        while index < bytes.count {
            switch state {
            case .failed, .closed:
                return
            case .head:
                let tooLarge = HTTPParseError(status: 502, reason: "response header section too large")
                let (consumed, outcome) = lines.read(
                    bytes, from: index, lineLimit: nil, lineLimitError: tooLarge,
                    headLimit: limits.maxHeaderBytes, headLimitError: tooLarge)
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

    package mutating func parse(_ bytes: [UInt8], into events: inout [HTTPResponseEvent]) {
        bytes.withUnsafeBytes { parse($0, into: &events) }
    }

    /// The connection reached end of file: ends a read-until-close body, and
    /// reports a truncated head or counted/chunked body as an error (a proxy
    /// must not pass a cut-off body on as complete). A close between
    /// responses emits nothing. Later input is ignored.
    package mutating func finish(into events: inout [HTTPResponseEvent]) {
        switch state {
        case .failed, .closed:
            return
        case .head:
            if isAtMessageBoundary { state = .closed } else { fail(.init(status: 502, reason: "connection closed inside a response head"), &events) }
        case .body:
            if body.endsAtClose {
                events.append(.end)
                state = .closed
            } else {
                fail(.init(status: 502, reason: "connection closed before the response body was complete"), &events)
            }
        }
    }

    private mutating func fail(_ error: HTTPParseError, _ events: inout [HTTPResponseEvent]) {
        state = .failed
        events.append(.error(HTTPParseError(status: 502, reason: error.reason)))
    }

    private mutating func endMessage(_ events: inout [HTTPResponseEvent]) {
        events.append(.end)
        resetHead()
    }

    private mutating func resetHead() {
        state = .head
        lines.reset()
        statusLine = nil
        headers = HTTPHeaders()
    }

    private mutating func headLine(_ line: ArraySlice<UInt8>, _ events: inout [HTTPResponseEvent]) throws(HTTPParseError) {
        guard statusLine != nil else {
            statusLine = try Self.parseStatusLine(line)
            return
        }
        if !line.isEmpty {
            guard headers.count < limits.maxHeaderCount else { throw .badRequest("too many header fields") }
            let field = try HTTPFieldLine.parse(line)
            headers.add(name: field.name, value: field.value)
            return
        }
        let head = try completeHead()
        if head.status < 200 {
            events.append(.informational(head))
            resetHead()
            return
        }
        events.append(.head(head))
        body = HTTPBodyDecoder(framing: head.framing, limits: limits, boundsBody: false)
        state = .body
        if case .none = head.framing { endMessage(&events) }
        if case .length(0) = head.framing { endMessage(&events) }
    }

    /// HTTP-version SP 3DIGIT SP reason-phrase. A missing `SP reason` is
    /// tolerated: some servers send `HTTP/1.1 200` and nothing is ambiguous.
    static func parseStatusLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (version: HTTPVersion, status: Int, reason: String) {
        guard line.count >= 12, line[line.startIndex + 8] == HTTPSyntax.space else {
            throw .badRequest("malformed status line")
        }
        let start = line.startIndex
        // The same version rule as request lines; the Result carries the
        // typed error out of the closure.
        let version = try Array(line[start..<(start + 8)]).withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) in try HTTPVersion(parsing: raw) }
        }.get()
        var status = 0
        for b in line[(start + 9)..<(start + 12)] {
            guard b >= 0x30, b <= 0x39 else { throw .badRequest("malformed status code") }
            status = status * 10 + Int(b - 0x30)
        }
        guard (100...599).contains(status) else { throw .badRequest("status code out of range") }
        var reason = ""
        if line.count > 12 {
            guard line[start + 12] == HTTPSyntax.space else { throw .badRequest("malformed status line") }
            let text = line[(start + 13)...]
            guard text.allSatisfy(HTTPSyntax.isFieldValueByte) else { throw .badRequest("control character in reason phrase") }
            reason = String(decoding: text, as: UTF8.self)
        }
        return (version, status, reason)
    }

    /// RFC 9112 §6.3 in order. Ambiguous framing (CL with TE, differing
    /// lengths, codings other than plain chunked) is refused rather than
    /// repaired: the worker is local, so a broken one should be noticed.
    private func completeHead() throws(HTTPParseError) -> HTTPResponseHead {
        guard let (version, status, reason) = statusLine else { throw .badRequest("missing status line") }
        if status == 101 { throw .badRequest("unexpected 101 Switching Protocols (upgrades are not supported)") }
        var framing = HTTPBodyFraming.untilClose
        let noBody = status < 200 || status == 204 || status == 304
            || HTTPSyntax.equalsIgnoringCase(requestMethod, "HEAD")
        if noBody {
            framing = .none
        } else {
            let coding = HTTPFramingRules.transferCoding(headers)
            if coding != .absent {
                if version == .http10 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 response") }
                if headers.contains(name: "content-length") { throw .badRequest("both Content-Length and Transfer-Encoding") }
                guard coding == .chunked else { throw .badRequest("unsupported transfer coding") }
                framing = .chunked
            } else if let length = try HTTPFramingRules.contentLength(headers) {
                framing = .length(length)
            }
        }
        var keepAlive = HTTPFramingRules.keepAlive(version: version, headers: headers)
        if case .untilClose = framing { keepAlive = false }
        return HTTPResponseHead(version: version, status: status, reason: reason, headers: headers, framing: framing, keepAlive: keepAlive)
    }
}
