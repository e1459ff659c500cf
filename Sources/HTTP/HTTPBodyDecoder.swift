/// Finds the end of one message body and hands out its bytes: a counted
/// body, a chunked one (extensions skipped, trailers parsed and dropped) or
/// one that lasts until the connection closes. Body bytes are passed
/// through without copying into a buffer of its own.
package struct HTTPBodyDecoder: Sendable {
    package enum Outcome {
        /// Every byte given was consumed; the body goes on.
        case needMore
        /// The body ended after `consumed` bytes; the rest is the next message.
        case end
        case failure(HTTPParseError)
    }

    /// Bytes a chunk-size line may spend on extensions: they are skipped,
    /// so the bound only keeps a peer from streaming them forever.
    static let maxChunkExtensionBytes = 4096
    /// 16 hex digits fill 64 bits; more is the overflow RFC 9112 §7.1 warns of.
    static let maxChunkSizeDigits = 16

    private enum State: Sendable {
        case length(remaining: Int)
        case chunkSize(digits: Int, value: UInt64)
        /// Whitespace after the size: only `;` may follow (BWS before an extension).
        case chunkSizeWhitespace(bytes: Int)
        case chunkExtension(bytes: Int)
        /// The CR of the size line was seen; LF must follow.
        case chunkSizeLF
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailers
        case untilClose
        case done
    }

    private var state: State
    private let limits: HTTPLimits
    /// Requests are bounded by maxBodyBytes; responses stream unbounded.
    private let boundsBody: Bool
    private var chunkedTotal = 0
    private var pendingChunkSize = 0
    private var trailerLines = HTTPHeadLineReader()
    private var trailerCount = 0

    package init(framing: HTTPBodyFraming, limits: HTTPLimits, boundsBody: Bool) {
        switch framing {
        case .none: state = .done
        case .length(let n): state = n == 0 ? .done : .length(remaining: n)
        case .chunked: state = .chunkSize(digits: 0, value: 0)
        case .untilClose: state = .untilClose
        }
        self.limits = limits
        self.boundsBody = boundsBody
    }

    /// Whether the body ends only at end of input.
    package var endsAtClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// Consumes body bytes from `input[start...]`, calling `body` with each
    /// run of payload, until the body ends or the input runs out.
    package mutating func decode(
        _ input: UnsafeRawBufferPointer, from start: Int,
        body: (UnsafeRawBufferPointer) -> Void
    ) -> (consumed: Int, outcome: Outcome) {
        var i = start
        func fail(_ reason: String, status: Int = 400) -> (consumed: Int, outcome: Outcome) {
            (i - start, .failure(HTTPParseError(status: status, reason: reason)))
        }
        while true {
            if case .done = state { return (i - start, .end) }
            guard i < input.count else { return (i - start, .needMore) }
            switch state {
            case .length(let remaining):
                let n = min(remaining, input.count - i)
                body(UnsafeRawBufferPointer(rebasing: input[i..<(i + n)]))
                i += n
                state = remaining == n ? .done : .length(remaining: remaining - n)

            case .untilClose:
                body(UnsafeRawBufferPointer(rebasing: input[i...]))
                i = input.count

            case .chunkSize(let digits, let value):
                let b = input[i]
                if let hex = HTTPSyntax.hexValue(b) {
                    guard digits < Self.maxChunkSizeDigits else { return fail("chunk size too long") }
                    state = .chunkSize(digits: digits + 1, value: value << 4 | UInt64(hex))
                    i += 1
                    continue
                }
                guard digits > 0 else { return fail("invalid chunk size") }
                // The size is complete: check it before anything else of the line.
                let limit = boundsBody ? limits.maxBodyBytes : Int.max
                guard value <= UInt64(Int.max), Int(value) <= limit - chunkedTotal else {
                    return boundsBody ? fail("chunked body too large", status: 413) : fail("chunk size overflows")
                }
                pendingChunkSize = Int(value)
                chunkedTotal += pendingChunkSize
                switch b {
                case HTTPSyntax.semicolon: state = .chunkExtension(bytes: 0)
                case HTTPSyntax.space, HTTPSyntax.tab: state = .chunkSizeWhitespace(bytes: 1)
                case HTTPSyntax.cr: state = .chunkSizeLF
                default: return fail("invalid character after chunk size")
                }
                i += 1

            case .chunkSizeWhitespace(let bytes):
                let b = input[i]
                if HTTPSyntax.isWhitespace(b) {
                    guard bytes < Self.maxChunkExtensionBytes else { return fail("chunk extension too long") }
                    state = .chunkSizeWhitespace(bytes: bytes + 1)
                } else if b == HTTPSyntax.semicolon {
                    state = .chunkExtension(bytes: 0)
                } else {
                    return fail("invalid character after chunk size")
                }
                i += 1

            case .chunkExtension(let bytes):
                let b = input[i]
                if b == HTTPSyntax.cr {
                    state = .chunkSizeLF
                } else if !HTTPSyntax.isFieldValueByte(b) {
                    return fail(b == HTTPSyntax.lf ? "chunk line ends in a bare LF" : "control character in chunk extension")
                } else if bytes >= Self.maxChunkExtensionBytes {
                    return fail("chunk extension too long")
                } else {
                    state = .chunkExtension(bytes: bytes + 1)
                }
                i += 1

            case .chunkSizeLF:
                guard input[i] == HTTPSyntax.lf else { return fail("chunk size line: CR not followed by LF") }
                i += 1
                if pendingChunkSize == 0 {
                    trailerLines.reset()
                    trailerCount = 0
                    state = .trailers
                } else {
                    state = .chunkData(remaining: pendingChunkSize)
                }

            case .chunkData(let remaining):
                let n = min(remaining, input.count - i)
                body(UnsafeRawBufferPointer(rebasing: input[i..<(i + n)]))
                i += n
                state = remaining == n ? .chunkDataCR : .chunkData(remaining: remaining - n)

            case .chunkDataCR:
                guard input[i] == HTTPSyntax.cr else { return fail("missing CRLF after chunk data") }
                i += 1
                state = .chunkDataLF

            case .chunkDataLF:
                guard input[i] == HTTPSyntax.lf else { return fail("missing CRLF after chunk data") }
                i += 1
                state = .chunkSize(digits: 0, value: 0)

            case .trailers:
                let tooLarge = HTTPParseError(status: 431, reason: "trailer section too large")
                let (consumed, outcome) = trailerLines.read(
                    input, from: i, lineLimit: nil, lineLimitError: tooLarge,
                    headLimit: limits.maxHeaderBytes, headLimitError: tooLarge)
                i += consumed
                switch outcome {
                case .incomplete: break
                case .failure(let error): return (i - start, .failure(error))
                case .line:
                    let line = trailerLines.line
                    if line.isEmpty { state = .done; break }
                    trailerCount += 1
                    guard trailerCount <= limits.maxHeaderCount else { return (i - start, .failure(tooLarge)) }
                    // Trailers are dropped, but still must be well-formed lines.
                    do { _ = try HTTPFieldLine.parse(line) } catch { return (i - start, .failure(error)) }
                }

            case .done:
                return (i - start, .end)
            }
        }
    }
}
