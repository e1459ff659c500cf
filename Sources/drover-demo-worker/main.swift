// drover-demo-worker: the bundled demo inference worker. Start-up order:
// parse flags → train the model (milliseconds) → optional --startup-delay
// (emulated model loading) → bind and listen → one log line → serve.
// Nothing listens until the model is ready, so "accepts connections" is
// the readiness signal; there is no 503-while-loading state.

import CSystem
import Glibc

let options: Options
do {
    options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    if case .invalid(let message) = error {
        logError("drover-demo-worker: \(message)\n\(Options.usage)")
        exit(2)
    }
    logLine(Options.usage)
    exit(0)
}

// A client that disconnects mid-response must cost us an EPIPE, not our life.
signal(SIGPIPE, SIG_IGN)
// SIGTERM/SIGINT are read from a signalfd inside the poll loop, so they
// interrupt an idle wait immediately and never land mid-write.
let exitSignals: [Int32] = [SIGTERM, SIGINT]
cs_block_signals(exitSignals, Int32(exitSignals.count))
let signalFD = cs_signalfd(exitSignals, Int32(exitSignals.count))
guard signalFD >= 0 else { logError("drover-demo-worker: signalfd failed: errno \(errno)"); exit(1) }

let classifier = Classifier(corpus: trainingCorpus)
let predictor = Predictor(classifier: classifier, cost: options.cost)

if options.startupDelay > 0 {
    // Emulated model loading; SIGTERM still ends it at once.
    let deadline = cs_monotonic_ns() + UInt64(options.startupDelay * 1e9)
    while case let now = cs_monotonic_ns(), now < deadline {
        var p = pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, Int32(min((deadline - now) / 1_000_000 + 1, 60_000))) > 0 {
            var signo: Int32 = 0, pid: Int32 = 0
            if cs_signalfd_read(signalFD, &signo, &pid) == 1 { exit(0) }
        }
    }
}

let listenFD: Int32, boundPort: Int
switch openListener(host: options.host, port: options.port) {
case .success(let fd, let port): (listenFD, boundPort) = (fd, port)
case .failure(let message):
    logError("drover-demo-worker: \(message)")
    exit(1)
}

let pid = getpid()
logLine("demo worker pid \(pid) listening on \(options.host):\(boundPort)")

let app = App(predictor: predictor, pid: pid, port: boundPort, testRoutes: options.testRoutes)
Server(listenFD: listenFD, signalFD: signalFD, app: app, tokenDelayMs: options.tokenDelayMs).run()
