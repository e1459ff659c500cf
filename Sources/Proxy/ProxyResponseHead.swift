import HTTP

/// A worker's response head as the proxy forwards it: status, how its body
/// ends, whether the connection can carry another request, and which
/// fields stay behind (hop-by-hop, framing the proxy re-does). Anything a
/// second parser could read differently is a 502 (proxy-checklist R3–R5),
/// and so is a body in a transfer coding drover does not decode.
///
/// Why 502 and not "pass the coding on": drover decodes only `chunked`.
/// A body in `gzip` (read until close, RFC 9112 §6.3 rule 4) or in
/// `gzip, chunked` could be passed on only by labelling it
/// `Transfer-Encoding: gzip[, chunked]` to the client, yet TE is
/// hop-by-hop and drover never forwards the client's, so no client said it
/// accepts that coding (RFC 9110 §10.1.4), and an HTTP/1.0 client cannot be
/// sent any (RFC 9112 §6.1). Re-chunking it as plain `chunked` would hand
/// the client coded bytes as the content. So the worker's answer is one
/// drover cannot deliver faithfully: an invalid response (RFC 9110 §15.6.3).
struct ProxyResponseHead {
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    var status: Int
    /// `SSS reason` after the version: re-sent behind our own `HTTP/1.1`.
    var statusAndReason: Range<Int>
    var framing: Framing
    /// The upstream connection may carry another request afterwards.
    var reusable: Bool
    var nominated: [Range<Int>] = []
    /// A Content-Length line to pass through unchanged (HEAD and 304 answers
    /// describe the body they do not carry).
    var passContentLength = false
    /// `Content-Length: 0` on an answer that could have a body: the client
    /// is told so (with no length at all it would read until close).
    var emptyByLength = false
    /// The worker sent a Date; otherwise the proxy adds its own (RFC 9110 §6.6.1).
    var hasDate = false

    var isInterim: Bool { status >= 100 && status < 200 }

    static func parse(_ bytes: UnsafeRawBufferPointer, _ scanner: HTTPHeadScanner, requestIsHead: Bool) throws(HTTPParseError) -> ProxyResponseHead {
        let line: HTTPStatusLine
        do throws(HTTPParseError) { line = try HTTPStatusLine.parse(bytes, scanner.startLine) } catch { throw Self.bad(error.reason) }
        let status = line.status
        var head = ProxyResponseHead(status: status, statusAndReason: line.statusAndReason,
                                     framing: .untilClose, reusable: line.version == .http11)
        var contentLength: Int?
        var contentLengthLines = 0
        var codings = 0
        var chunkedOnly = false
        var transferEncoding = false
        var sawClose = false
        var sawKeepAlive = false
        for field in scanner.fields {
            switch field.field {
            case .contentLength:
                contentLengthLines += 1
                guard let n = HTTPHeadBytes.decimal(bytes, field.value) else { throw Self.bad("invalid Content-Length") }
                if let contentLength, contentLength != n { throw Self.bad("conflicting Content-Length values") }
                contentLength = n
            case .transferEncoding:
                transferEncoding = true
                HTTPHeadBytes.listElements(bytes, field.value) { element in
                    codings += 1
                    chunkedOnly = codings == 1 && HTTPHeadBytes.equalsLowercase(bytes, element, "chunked")
                }
            case .date:
                head.hasDate = true
            case .connection:
                HTTPHeadBytes.listElements(bytes, field.value) { token in
                    if HTTPHeadBytes.equalsLowercase(bytes, token, "close") {
                        sawClose = true
                    } else if HTTPHeadBytes.equalsLowercase(bytes, token, "keep-alive") {
                        sawKeepAlive = true
                    } else if !HTTPKnownField.classify(bytes, token).isNeverNominated {
                        head.nominated.append(token)
                    }
                }
            default:
                break
            }
        }
        // close wins wherever it appears; a 1.0 answer persists only when asked.
        head.reusable = !sawClose && (line.version == .http11 || sawKeepAlive)
        if head.isInterim {
            head.framing = .none
            head.reusable = true
            return head
        }
        if requestIsHead || status == 204 || status == 304 {
            head.framing = .none
            // HEAD and 304 answers describe a body they do not carry; a 204
            // must not send Content-Length at all (RFC 9110 §8.6).
            head.passContentLength = status != 204 && contentLengthLines == 1 && !transferEncoding
            return head
        }
        if transferEncoding {
            guard chunkedOnly else { throw Self.bad("transfer coding other than chunked (drover decodes only chunked)") }
            // Chunked wins over Content-Length (RFC 9112 §6.3 rule 3), and such
            // a connection is not trusted again.
            if contentLength != nil { head.reusable = false }
            head.framing = .chunked
        } else if let contentLength {
            head.framing = contentLength == 0 ? .none : .length(contentLength)
            head.emptyByLength = contentLength == 0
        } else {
            head.framing = .untilClose
            head.reusable = false
        }
        return head
    }

    private static func bad(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: 502, reason: "invalid response from the worker: \(reason)")
    }
}
