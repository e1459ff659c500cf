/// Incremental HTTP/1.1 request parser for the control socket and the admin
/// listener: feed it whatever the socket gave, and it turns pipelined
/// requests into events in order. Heads are read with the front proxy's
/// rules (`HTTPHeadScanner`, `HTTPRequestHeadRanges`), so every drover
/// listener accepts and refuses exactly the same requests; only then is the
/// head turned into Strings, which these listeners can afford. Bodies go
/// through `HTTPBodyDecoder`, as on the proxy.
package struct HTTPRequestParser: Sendable {
    package let limits: HTTPLimits

    private enum State: Sendable {
        case head
        case body
        case failed
    }

    private var state: State = .head
    private var head: HTTPHeadCollector
    private var body = HTTPBodyDecoder(framing: .none, limits: HTTPLimits(), boundsBody: true)

    package init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
        head = HTTPHeadCollector(limits: .request(limits))
    }

    /// True once an error was reported; all later input is ignored.
    package var hasFailed: Bool {
        if case .failed = state { return true }
        return false
    }

    /// True between requests: nothing of a next request has arrived (stray
    /// empty lines aside), so the connection can be closed (idle timeout,
    /// shutdown) without cutting one.
    package var isAtMessageBoundary: Bool {
        let pending = head.pending
        guard case .head = state, pending.count % 2 == 0 else { return false }
        var index = 0
        while index < pending.count {
            if pending[index] != HTTPSyntax.cr || pending[index + 1] != HTTPSyntax.lf { return false }
            index += 2
        }
        return true
    }

    package mutating func parse(_ bytes: UnsafeRawBufferPointer, into events: inout [HTTPRequestEvent]) {
        var index = 0
        while index < bytes.count {
            switch state {
            case .failed:
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

    package mutating func parse(_ bytes: [UInt8], into events: inout [HTTPRequestEvent]) {
        bytes.withUnsafeBytes { parse($0, into: &events) }
    }

    /// Adds input to the head being read; once it is complete, reports it
    /// and starts its body. Returns how many bytes of `input` belong to the
    /// head: the rest is body or the next request.
    private mutating func readHead(_ input: UnsafeRawBufferPointer, _ events: inout [HTTPRequestEvent]) -> Int {
        let maxBody = limits.maxBodyBytes
        let (consumed, outcome) = head.collect(input) { raw, scanner throws(HTTPParseError) in
            Self.requestHead(raw, scanner, try HTTPRequestHeadRanges.parse(raw, scanner, maxBody: maxBody))
        }
        switch outcome {
        case .incomplete: break
        case .failed(let error): fail(error, &events)
        case .head(let head):
            events.append(.head(head))
            body = HTTPBodyDecoder(framing: head.framing, limits: limits, boundsBody: true)
            state = .body
            if case .none = head.framing { endMessage(&events) }
            if case .length(0) = head.framing { endMessage(&events) }
        }
        return consumed
    }

    /// The interpreted head as Strings. The target is kept whole, as
    /// received (absolute-form included): the interpreter checked that the
    /// request line is `method SP target SP HTTP/x.y`, so it lies between
    /// the method's space and the 9 bytes of ` HTTP/x.y`.
    private static func requestHead(_ raw: UnsafeRawBufferPointer, _ scanner: HTTPHeadScanner,
                                    _ ranges: HTTPRequestHeadRanges) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        var hasContentLength = false
        for field in scanner.fields {
            headers.add(name: HTTPHeadBytes.string(raw, field.name), value: HTTPHeadBytes.string(raw, field.value))
            if field.field == .contentLength { hasContentLength = true }
        }
        let framing: HTTPBodyFraming
        switch ranges.framing {
        // `Content-Length: 0` stays a length for handlers, as it was sent.
        case .none: framing = hasContentLength ? .length(0) : .none
        case .length(let n): framing = .length(n)
        case .chunked: framing = .chunked
        }
        let target = (ranges.method.upperBound + 1)..<(scanner.startLine.upperBound - 9)
        return HTTPRequestHead(
            method: HTTPHeadBytes.string(raw, ranges.method), target: HTTPHeadBytes.string(raw, target),
            version: ranges.version, headers: headers, framing: framing,
            keepAlive: ranges.keepAlive, expectsContinue: ranges.expectsContinue)
    }

    private mutating func fail(_ error: HTTPParseError, _ events: inout [HTTPRequestEvent]) {
        state = .failed
        head.reset()
        events.append(.error(error))
    }

    private mutating func endMessage(_ events: inout [HTTPRequestEvent]) {
        events.append(.end)
        state = .head
    }
}
