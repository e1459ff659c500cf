// Command-line flags. Environment variables ($PORT, $DEMO_COST) provide
// defaults because supervisors commonly pass the port that way
// (`%(port)s` in argv works too).

import Glibc

struct Options {
    var host = "127.0.0.1"
    var port: Int = 8000
    var cost: Double = 1
    var tokenDelayMs: Double = 20
    var startupDelay: Double = 0
    var testRoutes = false

    static let usage = """
    usage: drover-demo-worker [--host ADDR] [--port N] [--cost X]
                              [--token-delay-ms MS] [--startup-delay SECONDS]
                              [--test-routes]

    A small CPU-bound demo model server: a character n-gram naive Bayes
    sentiment classifier (positive / negative / neutral) behind a
    single-threaded HTTP/1.1 server. It answers one request at a time,
    like a synchronous gunicorn worker.

      --host ADDR              IPv4 address to listen on (default 127.0.0.1)
      --port N                 TCP port (default $PORT, else 8000; 0 = any free port)
      --cost X                 multiply the per-request CPU work by X
                               (default $DEMO_COST, else 1 ≈ 3 ms per request)
      --token-delay-ms MS      pause between streamed tokens (default 20)
      --startup-delay SECONDS  sleep before listening, emulating model loading
      --help                   show this help

    Endpoints:
      GET  /          this description
      GET  /health    {"status":"ok","pid":N}
      POST /predict   body = text or {"text":"..."}  → label, scores, pid, port, cpu_ms
      GET  /stream?text=...  (or POST /stream with a body)
                      text/event-stream, one `data:` event per word explaining
                      the prediction, then `data: [DONE]`

    Test routes, for drover's own tests (only with --test-routes; else 404):
      ANY  /echo          200, body = the request head as received, CRLF, the body
      GET  /sleep?ms=N    block the worker N ms, then `PID\n`
      GET  /pid           `PID\n`
      GET  /raw/NAME      a scripted (often broken) answer: close-delimited,
                          head-body, 204-body, bad-cl, two-cl, cl-te, obs-fold,
                          space-colon, interim, reset, die-mid-body, exit,
                          stream?n=N&ms=M, big?bytes=N; with &port=P only the
                          worker on port P misbehaves, the others say `PID\n`

    """

    enum ParseError: Error { case help, invalid(String) }

    static func parse(_ arguments: [String]) throws(ParseError) -> Options {
        var options = Options()
        if let p = getenv("PORT").map({ String(cString: $0) }), !p.isEmpty {
            guard let port = Int(p), (0...65535).contains(port) else { throw .invalid("invalid $PORT: \(p)") }
            options.port = port
        }
        if let c = getenv("DEMO_COST").map({ String(cString: $0) }), !c.isEmpty {
            guard let cost = Double(c), cost >= 0, cost.isFinite else { throw .invalid("invalid $DEMO_COST: \(c)") }
            options.cost = cost
        }
        var rest = arguments[...]
        while let arg = rest.popFirst() {
            if arg == "--help" || arg == "-h" { throw .help }
            // Accept both "--flag value" and "--flag=value".
            var name = arg, inline: String?
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq]); inline = String(arg[arg.index(after: eq)...])
            }
            func value() throws(ParseError) -> String {
                if let inline { return inline }
                guard let v = rest.popFirst() else { throw .invalid("\(name) needs a value") }
                return v
            }
            func number(_ min: Double) throws(ParseError) -> Double {
                let text = try value()
                guard let v = Double(text), v.isFinite, v >= min else { throw .invalid("invalid value for \(name): \(text)") }
                return v
            }
            switch name {
            case "--host": options.host = try value()
            case "--port":
                let text = try value()
                guard let p = Int(text), (0...65535).contains(p) else { throw .invalid("invalid port: \(text)") }
                options.port = p
            case "--cost": options.cost = try number(0)
            case "--token-delay-ms": options.tokenDelayMs = try number(0)
            case "--startup-delay": options.startupDelay = try number(0)
            case "--test-routes":
                guard inline == nil else { throw .invalid("--test-routes takes no value") }
                options.testRoutes = true
            default: throw .invalid("unknown argument: \(arg)")
            }
        }
        return options
    }
}
