/// One message head gathered across reads until `HTTPHeadScanner` finds its
/// end, for the parsers that turn heads into Strings (`HTTPRequestParser`,
/// `HTTPResponseParser`; the proxy scans its own input buffer in place).
/// The scanner needs the head in one buffer; never more than the largest
/// head plus the empty lines the scanner tolerates is kept, since by then
/// the scanner has found the head or failed.
struct HTTPHeadCollector: Sendable {
    enum Outcome<Head> {
        case incomplete
        case failed(HTTPParseError)
        case head(Head)
    }

    /// The bytes of the head read so far.
    private(set) var pending: [UInt8] = []
    private var scanner: HTTPHeadScanner
    private let maxPendingBytes: Int

    init(limits: HTTPHeadScanner.Limits) {
        scanner = HTTPHeadScanner(limits: limits)
        let (sum, overflow) = limits.maxHeadBytes.addingReportingOverflow(HTTPHeadScanner.maxLeadingEmptyLineBytes + 3)
        maxPendingBytes = overflow ? Int.max : sum
    }

    /// Adds `input` to the head and scans it. Once the head is complete,
    /// `interpret` reads it (the bytes and the scanner's ranges) and the
    /// collector starts over. Returns how many bytes of `input` belong to
    /// this head: the rest is a body or the next message.
    mutating func collect<Head>(
        _ input: UnsafeRawBufferPointer,
        _ interpret: (UnsafeRawBufferPointer, HTTPHeadScanner) throws(HTTPParseError) -> Head
    ) -> (consumed: Int, outcome: Outcome<Head>) {
        let before = pending.count
        let take = min(input.count, maxPendingBytes - before)
        pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[0..<take]))
        let scanned = pending.withUnsafeBytes { raw in
            Result { () throws(HTTPParseError) in try scanner.scan(raw) }
        }
        switch scanned {
        case .failure(let error):
            reset()
            return (input.count, .failed(error))
        case .success(.incomplete):
            // Unreachable with maxPendingBytes as chosen; refuse rather than spin.
            guard take == input.count else {
                reset()
                return (input.count, .failed(HTTPParseError(status: scanner.limits.tooLargeStatus, reason: "header section too large")))
            }
            return (take, .incomplete)
        case .success(.complete(let length)):
            let interpreted = pending.withUnsafeBytes { raw in
                Result { () throws(HTTPParseError) in try interpret(raw, scanner) }
            }
            reset()
            switch interpreted {
            case .failure(let error): return (input.count, .failed(error))
            case .success(let head): return (length - before, .head(head))
            }
        }
    }

    mutating func reset() {
        pending.removeAll(keepingCapacity: true)
        scanner.reset()
    }
}
