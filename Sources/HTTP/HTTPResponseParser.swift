/// Incremental HTTP/1.1 response parser for the CLI client (and tests).
/// Heads are found with the proxy's `HTTPHeadScanner` and their status line
/// read by `HTTPStatusLine`, as the proxy reads its workers' answers, so
/// both accept the same heads; only then is the head turned into Strings.
/// Whether a body follows depends on the request, so the caller sets
/// `requestMethod` before each response is parsed. Every problem is
/// reported as 502: what a proxy answers for an invalid upstream response.
/// Bodies are not size-limited: responses stream.
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
    private var head: HTTPHeadCollector
    private var body = HTTPBodyDecoder(framing: .none, limits: HTTPLimits(), boundsBody: false)

    package init(requestMethod: String = "GET", limits: HTTPLimits = HTTPLimits()) {
        self.requestMethod = requestMethod
        self.limits = limits
        head = HTTPHeadCollector(limits: .init(maxHeadBytes: limits.maxHeaderBytes, maxStartLineBytes: limits.maxHeaderBytes,
                                               maxFields: limits.maxHeaderCount, tooLargeStatus: 502))
    }

    package var hasFailed: Bool {
        if case .failed = state { return true }
        return false
    }

    /// True between responses: no byte of a next response has arrived.
    package var isAtMessageBoundary: Bool {
        if case .head = state { return head.pending.isEmpty }
        return false
    }

    package mutating func parse(_ bytes: UnsafeRawBufferPointer, into events: inout [HTTPResponseEvent]) {
        var index = 0
        while index < bytes.count {
            switch state {
            case .failed, .closed:
                return
            case .head:
                index += readHead(UnsafeRawBufferPointer(rebasing: bytes[index...]), &events)
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
        head.reset()
        events.append(.error(HTTPParseError(status: 502, reason: error.reason)))
    }

    private mutating func endMessage(_ events: inout [HTTPResponseEvent]) {
        events.append(.end)
        state = .head
    }

    /// Adds input to the head being read; once it is complete, reports it
    /// (an interim 1xx, or the final head and its body's start). Returns how
    /// many bytes of `input` belong to the head.
    private mutating func readHead(_ input: UnsafeRawBufferPointer, _ events: inout [HTTPResponseEvent]) -> Int {
        let method = requestMethod
        let (consumed, outcome) = head.collect(input) { raw, scanner throws(HTTPParseError) in
            try Self.completeHead(raw, scanner, requestMethod: method)
        }
        switch outcome {
        case .incomplete: break
        case .failed(let error): fail(error, &events)
        case .head(let head) where head.status < 200:
            events.append(.informational(head))
        case .head(let head):
            events.append(.head(head))
            body = HTTPBodyDecoder(framing: head.framing, limits: limits, boundsBody: false)
            state = .body
            if case .none = head.framing { endMessage(&events) }
            if case .length(0) = head.framing { endMessage(&events) }
        }
        return consumed
    }

    /// RFC 9112 §6.3 in order. Ambiguous framing (CL with TE, differing
    /// lengths, codings other than plain chunked) is refused rather than
    /// repaired: the worker is local, so a broken one should be noticed.
    private static func completeHead(_ raw: UnsafeRawBufferPointer, _ scanner: HTTPHeadScanner,
                                     requestMethod: String) throws(HTTPParseError) -> HTTPResponseHead {
        let line = try HTTPStatusLine.parse(raw, scanner.startLine)
        let (version, status, reason) = (line.version, line.status, HTTPHeadBytes.string(raw, line.reason))
        var headers = HTTPHeaders()
        for field in scanner.fields {
            headers.add(name: HTTPHeadBytes.string(raw, field.name), value: HTTPHeadBytes.string(raw, field.value))
        }
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
