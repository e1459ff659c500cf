/// Collects the CRLF-terminated lines of a head (or of a trailer block)
/// across feeds, enforcing the size limits as bytes arrive so a peer cannot
/// make it buffer more than the limit by never sending a line end.
///
/// Limits fire at a byte position, not at a feed boundary: whether the input
/// arrives whole or byte by byte, the same limit fails at the same byte.
struct HTTPHeadLineReader: Sendable {
    enum Outcome {
        /// Every byte given was consumed; the line goes on.
        case incomplete
        /// `line` (without CRLF) is complete and valid until the next `read`.
        case line
        case failure(HTTPParseError)
    }

    /// The current line including its CR LF once complete.
    private var buffer: [UInt8] = []
    private var lineComplete = false
    /// Bytes of the completed lines of this head.
    private(set) var headBytes = 0

    /// Whether part of a line has arrived but not its end.
    var hasPartialLine: Bool { !buffer.isEmpty && !lineComplete }

    /// The last completed line without its CRLF.
    var line: ArraySlice<UInt8> { buffer[0..<(buffer.count - 2)] }

    mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        lineComplete = false
        headBytes = 0
    }

    /// Consumes bytes from `input[start...]` up to and including the next LF.
    /// `lineLimit` bounds the line's content (CRLF excluded), `headLimit` all
    /// bytes of the head so far (CRLFs included).
    mutating func read(
        _ input: UnsafeRawBufferPointer, from start: Int,
        lineLimit: Int?, lineLimitError: HTTPParseError,
        headLimit: Int, headLimitError: HTTPParseError
    ) -> (consumed: Int, outcome: Outcome) {
        if lineComplete {
            headBytes += buffer.count
            buffer.removeAll(keepingCapacity: true)
            lineComplete = false
        }
        let rest = UnsafeRawBufferPointer(rebasing: input[start...])
        let lf = rest.firstIndex(of: HTTPSyntax.lf)
        let take = lf.map { $0 + 1 } ?? rest.count
        let lengthWithTake = buffer.count + take
        let beforeLF = lf == nil ? lengthWithTake : lengthWithTake - 1

        // Positions (1-based within this line) where each limit is first
        // exceeded; the earlier one is the error, exactly as byte-by-byte.
        var lineOverflowAt = Int.max
        if let lineLimit, beforeLF > lineLimit + 1 { lineOverflowAt = lineLimit + 2 }
        var headOverflowAt = Int.max
        if headBytes + lengthWithTake > headLimit { headOverflowAt = headLimit - headBytes + 1 }
        if lineOverflowAt != Int.max || headOverflowAt != Int.max {
            return (take, .failure(lineOverflowAt <= headOverflowAt ? lineLimitError : headLimitError))
        }

        buffer.append(contentsOf: rest[0..<take])
        guard lf != nil else { return (take, .incomplete) }
        // A bare LF ends a line for some parsers and not for others; that
        // disagreement is a request-smuggling vector, so only CRLF is a line end.
        guard buffer.count >= 2, buffer[buffer.count - 2] == HTTPSyntax.cr else {
            return (take, .failure(.badRequest("line ends in a bare LF; CRLF required")))
        }
        lineComplete = true
        return (take, .line)
    }
}
