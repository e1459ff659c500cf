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
    /// The bytes of the head being read (the scanner needs them in one
    /// buffer); never more than `maxPendingBytes`.
    private var pending: [UInt8] = []
    private var scanner: HTTPHeadScanner
    private var body = HTTPBodyDecoder(framing: .none, limits: HTTPLimits(), boundsBody: true)

    /// Enough for the leading empty lines the scanner tolerates plus the
    /// largest head: by then the scanner has found the head or failed, so
    /// input beyond this is never buffered.
    private let maxPendingBytes: Int

    package init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
        scanner = HTTPHeadScanner(limits: .request(limits))
        let (sum, overflow) = limits.maxHeaderBytes.addingReportingOverflow(HTTPHeadScanner.maxLeadingEmptyLineBytes + 3)
        maxPendingBytes = overflow ? Int.max : sum
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

    /// Adds input to the head being read and scans it; once the head is
    /// complete, reports it and starts its body. Returns how many bytes of
    /// `input` belong to the head: the rest is body or the next request.
    private mutating func readHead(_ input: UnsafeRawBufferPointer, _ events: inout [HTTPRequestEvent]) -> Int {
        let before = pending.count
        let take = min(input.count, maxPendingBytes - before)
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[0..<take]))
        let scanned = pending.withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) in try scanner.scan(raw) }
        }
        switch scanned {
        case .failure(let error):
            fail(error, &events)
            return input.count
        case .success(.incomplete):
            guard take == input.count else {
                // Unreachable with maxPendingBytes as chosen; refuse rather than spin.
                fail(HTTPParseError(status: 431, reason: "header section too large"), &events)
                return input.count
            }
            return take
        case .success(.complete(let length)):
            let interpreted = pending.withUnsafeBytes { raw in
                Result { () throws(HTTPParseError) in
                    let ranges = try HTTPRequestHeadRanges.parse(raw, scanner, maxBody: limits.maxBodyBytes)
                    return Self.requestHead(raw, scanner, ranges)
                }
            }
            pending.removeAll(keepingCapacity: true)
            scanner.reset()
            switch interpreted {
            case .failure(let error):
                fail(error, &events)
                return input.count
            case .success(let head):
                events.append(.head(head))
                body = HTTPBodyDecoder(framing: head.framing, limits: limits, boundsBody: true)
                state = .body
                if case .none = head.framing { endMessage(&events) }
                if case .length(0) = head.framing { endMessage(&events) }
                return length - before
            }
        }
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
        pending = []
        events.append(.error(error))
    }

    private mutating func endMessage(_ events: inout [HTTPRequestEvent]) {
        events.append(.end)
        state = .head
    }
}
