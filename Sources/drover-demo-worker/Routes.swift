// The endpoints. Routing returns either a complete response or a request
// to stream; the server loop owns the socket and does the writing.

struct Response {
    var status: Int
    var contentType = "application/json"
    var body: [UInt8]
    var extraHeaders: [(String, String)] = []

    init(status: Int, json: String, extraHeaders: [(String, String)] = []) {
        self.status = status
        self.body = Array((json + "\n").utf8)
        self.extraHeaders = extraHeaders
    }

    init(status: Int, text: String) {
        self.status = status
        contentType = "text/plain; charset=utf-8"
        body = Array(text.utf8)
    }

    static func error(_ status: Int, _ message: String, extraHeaders: [(String, String)] = []) -> Response {
        Response(status: status, json: "{\"error\":\(jsonString(message))}", extraHeaders: extraHeaders)
    }
}

enum Handled {
    case respond(Response)
    case stream(text: [UInt8])
    /// A `--test-routes` endpoint that needs the socket (TestRoutes.swift).
    case test(TestAction)
}

struct App {
    let predictor: Predictor
    let pid: Int32
    /// The port actually bound (differs from --port 0).
    var port: Int
    /// `--test-routes`: /echo, /sleep, /pid and /raw/* answer (else 404).
    var testRoutes = false

    func handle(_ request: HTTPRequest) -> Handled {
        let method = request.method
        if testRoutes, let handled = handleTestRoute(request) { return handled }
        switch request.path {
        case "/":
            guard method == "GET" || method == "HEAD" else { return .respond(notAllowed("GET, HEAD")) }
            return .respond(Response(status: 200, text: Options.usage))
        case "/health":
            guard method == "GET" || method == "HEAD" else { return .respond(notAllowed("GET, HEAD")) }
            return .respond(Response(status: 200, json: "{\"status\":\"ok\",\"pid\":\(pid)}"))
        case "/predict":
            guard method == "POST" else { return .respond(notAllowed("POST")) }
            switch requestText(request) {
            case .failure(let response): return .respond(response)
            case .success(let text):
                let p = predictor.predict(text)
                return .respond(Response(status: 200, json: predictionJSON(p)))
            }
        case "/stream":
            if method == "GET" || method == "HEAD" {
                guard let text = queryValue(request.query, "text"), !text.isEmpty else {
                    return .respond(.error(400, "missing ?text= query parameter"))
                }
                if method == "HEAD" { return .respond(Response(status: 200, text: "")) }
                return .stream(text: Array(text.utf8))
            }
            guard method == "POST" else { return .respond(notAllowed("GET, POST")) }
            switch requestText(request) {
            case .failure(let response): return .respond(response)
            case .success(let text): return .stream(text: text)
            }
        default:
            return .respond(.error(404, "no such endpoint: \(request.path)"))
        }
    }

    func predictionJSON(_ p: Prediction) -> String {
        let scores = Classifier.labels.indices
            .map { "\(jsonString(Classifier.labels[$0])):\(jsonNumber(p.probabilities[$0], digits: 4))" }
            .joined(separator: ",")
        return "{\"label\":\(jsonString(Classifier.labels[p.label])),\"scores\":{\(scores)},"
            + "\"agreement\":\(jsonNumber(p.agreement, digits: 4)),\"ngrams\":\(p.features),\"passes\":\(p.passes),"
            + "\"pid\":\(pid),\"port\":\(port),\"cpu_ms\":\(jsonNumber(p.cpuMilliseconds, digits: 3))}"
    }

    private func notAllowed(_ allow: String) -> Response {
        .error(405, "method not allowed", extraHeaders: [("Allow", allow)])
    }

    private enum TextResult { case success([UInt8]), failure(Response) }

    /// The text to classify: a JSON object's "text" member, a form field
    /// `text=...`, or else the raw body (so `curl -d 'nice!'` just works).
    private func requestText(_ request: HTTPRequest) -> TextResult {
        let body = request.body
        let contentType = request.header("content-type")?.lowercased() ?? ""
        let firstByte = body.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        if contentType.hasPrefix("application/json") || firstByte == UInt8(ascii: "{") {
            do {
                guard let text = try jsonStringMember(body, key: "text") else {
                    return .failure(.error(400, "JSON body needs a string member \"text\""))
                }
                return text.isEmpty ? .failure(.error(400, "empty text")) : .success(Array(text.utf8))
            } catch {
                guard case .invalid(let why) = error else { return .failure(.error(400, "invalid JSON")) }
                return .failure(.error(400, "invalid JSON: \(why)"))
            }
        }
        if contentType.hasPrefix("application/x-www-form-urlencoded"), body.starts(with: Array("text=".utf8)) {
            let text = queryValue(String(decoding: body, as: UTF8.self), "text") ?? ""
            return text.isEmpty ? .failure(.error(400, "empty text")) : .success(Array(text.utf8))
        }
        guard firstByte != nil else { return .failure(.error(400, "empty text: send the text as the request body")) }
        return .success(body)
    }
}

let reasonPhrases: [Int: String] = [
    100: "Continue", 200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    413: "Content Too Large", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
]

/// Serialises status line + headers (+ body unless `headOnly`).
func serialize(_ response: Response, keepAlive: Bool, minorVersion: Int, headOnly: Bool = false) -> [UInt8] {
    var head = "HTTP/1.1 \(response.status) \(reasonPhrases[response.status] ?? "Unknown")\r\n"
    head += "Content-Type: \(response.contentType)\r\n"
    head += "Content-Length: \(response.body.count)\r\n"
    for (name, value) in response.extraHeaders { head += "\(name): \(value)\r\n" }
    if !keepAlive { head += "Connection: close\r\n" }
    else if minorVersion == 0 { head += "Connection: keep-alive\r\n" }
    head += "\r\n"
    var bytes = Array(head.utf8)
    if !headOnly { bytes += response.body }
    return bytes
}
