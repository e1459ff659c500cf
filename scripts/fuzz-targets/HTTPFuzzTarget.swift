// libFuzzer target for drover's HTTP/1.1 layer, compiled by scripts/fuzz
// together with Sources/HTTP/*.swift (nothing else: the HTTP layer
// has no dependencies). A failed precondition is a crash, i.e. a finding.
//
// Each input is fed to the request parser and the response parser (default
// and tiny limits; GET and HEAD) whole, split at pseudo-random points derived
// from the input, and byte by byte. Checked:
// - every way of feeding gives the same events (bodies merged);
// - nothing follows an error, and feeding more after it emits nothing;
// - a body never exceeds its declared length, a counted body ends exactly at
//   it, a request body never exceeds maxBodyBytes, bodies only between head
//   and end;
// - accepted request heads obey the one set of request rules the proxy
//   uses too (HTTPHeadScanner + HTTPRequestHeadRanges): one Host in 1.1,
//   at most one Content-Length line and never with Transfer-Encoding, no
//   CONNECT, `*` only for OPTIONS, no expectation but 100-continue; and they
//   survive a write/parse round trip.

@_cdecl("LLVMFuzzerTestOneInput")
public func httpFuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    httpFuzzCheck(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

let httpFuzzTinyLimits = HTTPLimits(maxHeaderBytes: 96, maxBodyBytes: 40, maxHeaderCount: 3, maxRequestLineBytes: 24)

func httpFuzzCheck(_ input: UnsafeRawBufferPointer) {
    for limits in [HTTPLimits(), httpFuzzTinyLimits] {
        checkRequests(input, limits: limits)
        for method in ["GET", "HEAD"] {
            checkResponses(input, method: method, limits: limits)
        }
    }
}

/// Split points from the input itself, so a crash reproduces from the file.
struct HTTPFuzzSplitter {
    var state: UInt64

    init(_ input: UnsafeRawBufferPointer) {
        var hash: UInt64 = 0xcbf29ce484222325
        for b in input { hash = (hash ^ UInt64(b)) &* 0x100000001b3 }
        state = hash | 1
    }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// Piece boundaries: a handful of random cuts.
    mutating func pieces(count: Int) -> [Range<Int>] {
        guard count > 0 else { return [] }
        var cuts = Set<Int>()
        let wanted = Int(next() % 8)
        for _ in 0..<wanted { cuts.insert(Int(next() % UInt64(count + 1))) }
        var bounds = [0] + cuts.sorted() + [count]
        bounds = bounds.reduce(into: [Int]()) { if $0.last != $1 { $0.append($1) } }
        if bounds.count == 1 { return [0..<count] }
        return zip(bounds, bounds.dropFirst()).map { $0..<$1 }
    }
}

// MARK: requests

func feedRequests(_ input: UnsafeRawBufferPointer, limits: HTTPLimits, pieces: [Range<Int>]) -> [HTTPRequestEvent] {
    var parser = HTTPRequestParser(limits: limits)
    var events: [HTTPRequestEvent] = []
    for piece in pieces {
        let before = events.count
        let failedBefore = parser.hasFailed
        parser.parse(UnsafeRawBufferPointer(rebasing: input[piece]), into: &events)
        precondition(!failedBefore || events.count == before, "events after an error")
    }
    if parser.hasFailed {
        let count = events.count
        parser.parse(UnsafeRawBufferPointer(rebasing: input[...]), into: &events)
        precondition(events.count == count, "events after an error")
    }
    return mergedRequestBodies(events)
}

func mergedRequestBodies(_ events: [HTTPRequestEvent]) -> [HTTPRequestEvent] {
    var out: [HTTPRequestEvent] = []
    for event in events {
        if case .body(let more) = event {
            if more.isEmpty { continue }
            if case .body(let sofar)? = out.last { out[out.count - 1] = .body(sofar + more); continue }
        }
        out.append(event)
    }
    return out
}

func checkRequests(_ input: UnsafeRawBufferPointer, limits: HTTPLimits) {
    let whole = feedRequests(input, limits: limits, pieces: input.isEmpty ? [] : [0..<input.count])
    var splitter = HTTPFuzzSplitter(input)
    let split = feedRequests(input, limits: limits, pieces: splitter.pieces(count: input.count))
    precondition(whole == split, "request events differ when split")
    let bytewise = feedRequests(input, limits: limits, pieces: (0..<input.count).map { $0..<($0 + 1) })
    precondition(whole == bytewise, "request events differ byte by byte")

    var current: HTTPRequestHead?
    var bodyBytes = 0
    for (index, event) in whole.enumerated() {
        switch event {
        case .head(let head):
            precondition(current == nil, "head inside a message")
            current = head
            bodyBytes = 0
            checkRequestHead(head, limits: limits)
        case .body(let bytes):
            guard let head = current else { preconditionFailure("body outside a message") }
            bodyBytes += bytes.count
            precondition(bodyBytes <= limits.maxBodyBytes, "request body over maxBodyBytes")
            switch head.framing {
            case .length(let n): precondition(bodyBytes <= n, "body longer than Content-Length")
            case .chunked: break
            case .none, .untilClose: preconditionFailure("body without framing")
            }
        case .end:
            guard let head = current else { preconditionFailure("end outside a message") }
            if case .length(let n) = head.framing { precondition(bodyBytes == n, "body shorter than Content-Length") }
            current = nil
        case .error(let error):
            precondition(index == whole.count - 1, "events after an error")
            precondition([400, 413, 414, 417, 431, 501, 505].contains(error.status), "unexpected status \(error.status)")
        }
    }
}

func checkRequestHead(_ head: HTTPRequestHead, limits: HTTPLimits) {
    let hosts = head.headers.values(for: "host").count
    precondition(hosts <= 1 && (head.version == .http10 || hosts == 1), "Host rule broken")
    precondition(!(head.headers.contains(name: "content-length") && head.headers.contains(name: "transfer-encoding")), "CL with TE accepted")
    precondition(head.headers.values(for: "content-length").count <= 1, "repeated Content-Length accepted")
    precondition(head.method != "CONNECT", "CONNECT accepted")
    precondition(head.target != "*" || head.method == "OPTIONS", "* target accepted for \(head.method)")
    precondition(head.target.hasPrefix("/") || head.target == "*" || head.absoluteFormAuthority != nil, "target of no known form accepted")
    precondition(head.headers.values(for: "expect").allSatisfy { $0.lowercased() == "100-continue" }, "unknown expectation accepted")
    precondition(head.headers.count <= limits.maxHeaderCount, "too many headers accepted")
    if case .length(let n) = head.framing { precondition(n <= limits.maxBodyBytes, "Content-Length over the limit accepted") }
    if head.version == .http10 { precondition(head.framing != .chunked, "chunked 1.0 request accepted") }
    precondition(head.framing != .untilClose, "request read until close")
    _ = head.path
    _ = head.queryItems
    _ = head.pathSegments
    _ = head.originFormTarget

    // What was accepted can be written back and means the same thing.
    let bytes: [UInt8]
    do { bytes = try HTTPHeadWriter.request(head) } catch { preconditionFailure("accepted head does not serialize: \(error)") }
    var parser = HTTPRequestParser(limits: HTTPLimits(maxHeaderBytes: 1 << 20, maxBodyBytes: Int.max, maxHeaderCount: 1000, maxRequestLineBytes: 1 << 20))
    var events: [HTTPRequestEvent] = []
    parser.parse(bytes, into: &events)
    guard case .head(let again)? = events.first else { preconditionFailure("written head does not parse: \(events)") }
    precondition(again == head, "round trip changed the head")
}

// MARK: responses

func feedResponses(_ input: UnsafeRawBufferPointer, method: String, limits: HTTPLimits, pieces: [Range<Int>]) -> [HTTPResponseEvent] {
    var parser = HTTPResponseParser(requestMethod: method, limits: limits)
    var events: [HTTPResponseEvent] = []
    for piece in pieces {
        let before = events.count
        let failedBefore = parser.hasFailed
        parser.parse(UnsafeRawBufferPointer(rebasing: input[piece]), into: &events)
        precondition(!failedBefore || events.count == before, "events after an error")
    }
    parser.finish(into: &events)
    let count = events.count
    parser.parse(UnsafeRawBufferPointer(rebasing: input[...]), into: &events)
    parser.finish(into: &events)
    precondition(events.count == count, "events after finish")
    var out: [HTTPResponseEvent] = []
    for event in events {
        if case .body(let more) = event {
            if more.isEmpty { continue }
            if case .body(let sofar)? = out.last { out[out.count - 1] = .body(sofar + more); continue }
        }
        out.append(event)
    }
    return out
}

func checkResponses(_ input: UnsafeRawBufferPointer, method: String, limits: HTTPLimits) {
    let whole = feedResponses(input, method: method, limits: limits, pieces: input.isEmpty ? [] : [0..<input.count])
    var splitter = HTTPFuzzSplitter(input)
    let split = feedResponses(input, method: method, limits: limits, pieces: splitter.pieces(count: input.count))
    precondition(whole == split, "response events differ when split")
    let bytewise = feedResponses(input, method: method, limits: limits, pieces: (0..<input.count).map { $0..<($0 + 1) })
    precondition(whole == bytewise, "response events differ byte by byte")

    var current: HTTPResponseHead?
    var bodyBytes = 0
    for (index, event) in whole.enumerated() {
        switch event {
        case .informational(let head):
            precondition(current == nil && head.status < 200 && head.framing == .none, "bad informational")
        case .head(let head):
            precondition(current == nil, "head inside a message")
            precondition(head.status >= 200, "final head with 1xx")
            if method == "HEAD" || head.status == 204 || head.status == 304 { precondition(head.framing == .none, "bodiless response with framing") }
            if head.framing == .untilClose { precondition(!head.keepAlive, "until-close response kept alive") }
            current = head
            bodyBytes = 0
            do { _ = try HTTPHeadWriter.response(head) } catch { preconditionFailure("accepted response head does not serialize: \(error)") }
        case .body(let bytes):
            guard let head = current else { preconditionFailure("body outside a message") }
            bodyBytes += bytes.count
            switch head.framing {
            case .length(let n): precondition(bodyBytes <= n, "body longer than Content-Length")
            case .chunked, .untilClose: break
            case .none: preconditionFailure("body without framing")
            }
        case .end:
            guard let head = current else { preconditionFailure("end outside a message") }
            if case .length(let n) = head.framing { precondition(bodyBytes == n, "body shorter than Content-Length") }
            current = nil
        case .error(let error):
            precondition(index == whole.count - 1, "events after an error")
            precondition(error.status == 502, "response error is not 502")
        }
    }
    if current != nil {
        guard case .error? = whole.last else { preconditionFailure("finish left a message open") }
    }
}
