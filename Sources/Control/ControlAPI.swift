import Config
import Glibc
import HTTP
import HTTPServing
import JSON
import Supervision
import System

/// The `/v1/` API of SPEC §6, served on the control socket and (GETs open,
/// changes behind the bearer token) on the admin listener. Every answer is
/// JSON; errors are `{"error": "...", "code": "..."}` with a fitting status.
package final class ControlAPI {
    private let supervisor: Supervisor
    private let snapshot: () -> StatusSnapshot
    private let reload: () -> Result<ReloadSummary, ConfigErrors>
    /// What a reload would change, changing nothing (`?dry_run=1`, `drover reread`).
    private let preview: () -> Result<ReloadSummary, ConfigErrors>
    private let shutdown: () -> Void

    package init(supervisor: Supervisor, snapshot: @escaping () -> StatusSnapshot,
         reload: @escaping () -> Result<ReloadSummary, ConfigErrors>,
         preview: @escaping () -> Result<ReloadSummary, ConfigErrors> = { .success(ReloadSummary()) },
         shutdown: @escaping () -> Void) {
        self.supervisor = supervisor
        self.snapshot = snapshot
        self.reload = reload
        self.preview = preview
        self.shutdown = shutdown
    }

    /// Whether this request would change anything (the admin listener asks for a token then).
    static func changesState(_ request: HTTPRequest) -> Bool {
        request.head.method != "GET" && request.head.method != "HEAD"
    }

    package func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let head = request.head
        guard let segments = head.pathSegments else { return Self.error(responder, 400, "malformed percent-escape in the path", "bad_path") }
        guard segments.first == "v1" else { return notFound(head, responder) }
        let route = Array(segments.dropFirst())
        switch (head.method, route.count, route.first) {
        case ("GET", 1, "status"), ("HEAD", 1, "status"):
            status(request, responder)
        case (_, 1, "status"):
            methodNotAllowed("GET", responder)
        case ("POST", 1, "reload"):
            let dryRun = head.queryItems.contains { $0.name == "dry_run" && $0.value != "0" && $0.value != "false" }
            doReload(dryRun: dryRun, responder)
        case ("POST", 1, "shutdown"):
            Self.json(responder, 202, .object([("status", .string("shutting down"))]))
            shutdown()
        case (_, 1, "reload"), (_, 1, "shutdown"):
            methodNotAllowed("POST", responder)
        case ("POST", 3, "processes"):
            processAction(name: route[1], action: route[2], request, responder)
        case ("GET", 3, "processes") where route[2] == "log", ("HEAD", 3, "processes") where route[2] == "log":
            log(name: route[1], request, responder)
        case (_, 3, "processes"):
            methodNotAllowed(route[2] == "log" ? "GET" : "POST", responder)
        case ("POST", 3, "programs") where route[2] == "scale":
            scale(program: route[1], request, responder)
        case (_, 3, "programs") where route[2] == "scale":
            methodNotAllowed("POST", responder)
        default:
            notFound(head, responder)
        }
    }

    // MARK: Routes

    private func status(_ request: HTTPRequest, _ responder: HTTPResponder) {
        var snap = snapshot()
        let names = request.head.queryItems.filter { $0.name == "name" }.flatMap { $0.value.split(separator: ",").map(String.init) }
        if !names.isEmpty {
            switch select(names) {
            case .failure(let error): return Self.error(responder, 404, error.message, error.code)
            case .success(let processes):
                let wanted = Set(processes.map(\.name))
                snap.processes = snap.processes.filter { wanted.contains($0.name) }
            }
        }
        Self.json(responder, 200, snap.json)
    }

    private func processAction(name: String, action: String, _ request: HTTPRequest, _ responder: HTTPResponder) {
        guard ["start", "stop", "restart", "signal"].contains(action) else {
            return Self.error(responder, 404, "no action '\(action)' (start, stop, restart, signal)", "not_found")
        }
        let body: JSONValue
        switch Self.body(request) {
        case .failure(let bad): return Self.error(responder, 400, bad.message, "bad_json")
        case .success(let value): body = value
        }
        if action == "restart", request.head.queryItems.contains(where: { $0.name == "rolling" && $0.value != "0" })
            || body["rolling"]?.boolValue == true {
            return rolling(program: name, responder)
        }
        let processes: [ManagedProcess]
        switch select([name]) {
        case .failure(let error): return Self.error(responder, 404, error.message, error.code)
        case .success(let found): processes = found
        }
        if action == "signal" {
            let text = body["signal"]?.stringValue ?? request.head.queryItems.first { $0.name == "signal" }?.value
            guard let text, let number = Signals.number(named: text) else {
                return Self.error(responder, 400, "give the signal as {\"signal\": \"HUP\"} (a name or a number)", "bad_signal")
            }
            let results = processes.map { process -> ActionOutcome in
                process.pid > 0 && supervisor.signal(number, process)
                    ? supervisor.outcome(process, ok: true, "sent \(Signals.name(number))")
                    : supervisor.outcome(process, ok: false, "not running")
            }
            return Self.json(responder, 200, Self.results(results))
        }
        var results: [ActionOutcome?] = Array(repeating: nil, count: processes.count)
        var remaining = processes.count
        for (index, process) in processes.enumerated() {
            let done: (ActionOutcome) -> Void = { outcome in
                results[index] = outcome
                remaining -= 1
                if remaining == 0 { Self.json(responder, 200, Self.results(results.compactMap { $0 })) }
            }
            switch action {
            case "start": supervisor.start(process, completion: done)
            case "stop": supervisor.stop(process, completion: done)
            default: supervisor.restart(process, completion: done)
            }
        }
    }

    private func rolling(program: String, _ responder: HTTPResponder) {
        supervisor.rollingRestart(program: program) { result in
            switch result {
            case .success(let names):
                Self.json(responder, 200, .object([("ok", .bool(true)), ("replaced", .array(names.map { .string($0) }))]))
            case .failure(let error):
                Self.error(responder, error.code == "no_such_program" ? 404 : 500, error.message, error.code)
            }
        }
    }

    private func scale(program: String, _ request: HTTPRequest, _ responder: HTTPResponder) {
        var count: Int?
        switch Self.body(request) {
        case .failure(let bad): return Self.error(responder, 400, bad.message, "bad_json")
        case .success(let body): count = body["count"]?.intValue
        }
        if count == nil, let text = request.head.queryItems.first(where: { $0.name == "count" })?.value { count = Int(text) }
        guard let count, count >= 0, count <= 1024 else {
            return Self.error(responder, 400, "give the new size as {\"count\": N} with 0 <= N <= 1024", "bad_count")
        }
        let before = supervisor.poolSize(ofProgram: program)
        do throws(SupervisorError) {
            try supervisor.scale(program: program, to: count)
        } catch {
            return Self.error(responder, error.code == "no_such_program" ? 404 : 400, error.message, error.code)
        }
        Self.json(responder, 200, .object([("program", .string(program)), ("from", .number(before)), ("to", .number(count))]))
    }

    private func doReload(dryRun: Bool, _ responder: HTTPResponder) {
        switch dryRun ? preview() : reload() {
        case .success(let summary):
            Self.json(responder, 200, .object([
                ("added", .array(summary.added.map { .string($0) })),
                ("removed", .array(summary.removed.map { .string($0) })),
                ("changed", .array(summary.changed.map { .string($0) })),
                ("scaled", .array(summary.scaled.map { entry -> JSONValue in
                    .object([("program", .string(entry.program)), ("from", .number(entry.from)), ("to", .number(entry.to))])
                })),
                ("summary", .string(summary.description)),
            ]))
        case .failure(let errors):
            Self.json(responder, 400, .object([
                ("error", .string(errors.errors.first.map(\.description) ?? "config rejected")),
                ("code", .string("bad_config")),
                ("errors", .array(errors.errors.map { .string($0.description) })),
            ]))
        }
    }

    private func log(name: String, _ request: HTTPRequest, _ responder: HTTPResponder) {
        let query = request.head.queryItems
        let streamName = query.first { $0.name == "stream" }?.value ?? "stdout"
        guard streamName == "stdout" || streamName == "stderr" else {
            return Self.error(responder, 400, "stream must be stdout or stderr", "bad_stream")
        }
        let follow = query.contains { $0.name == "follow" && $0.value != "0" && $0.value != "false" }
        let linesText = query.first { $0.name == "lines" }?.value
        let lines = linesText.flatMap(Int.init) ?? 10
        guard lines >= 0 else { return Self.error(responder, 400, "lines must be a number >= 0", "bad_lines") }
        // supervisorctl's `tail -1600 NAME` counts bytes; `bytes` wins over `lines`.
        var bytes: Int?
        if let text = query.first(where: { $0.name == "bytes" })?.value {
            guard let n = Int(text), n >= 0 else { return Self.error(responder, 400, "bytes must be a number >= 0", "bad_bytes") }
            bytes = n
        }
        let processes: [ManagedProcess]
        switch select([name]) {
        case .failure(let error): return Self.error(responder, 404, error.message, error.code)
        case .success(let found): processes = found
        }
        guard processes.count == 1, let process = processes.first else {
            let names = processes.map { NameSelector.displayName($0.name) }
            let listed = names.count <= 4 ? names.joined(separator: ", ") : names.prefix(3).joined(separator: ", ") + ", …"
            return Self.error(responder, 400, "names \(processes.count) processes (\(listed)); tail one: drover tail \(names.first ?? name)", "ambiguous_name")
        }
        var capture = process.stdout
        if streamName == "stderr" {
            guard let stderr = process.stderr else {
                return Self.error(responder, 400, "\(process.name) sends stderr to stdout (redirect_stderr)", "no_stderr")
            }
            capture = stderr
        }
        let recent = bytes.map { Array(capture.ring.contents.suffix($0)) } ?? capture.ring.lastLines(lines)
        guard follow else { return responder.respond(status: 200, body: recent) }
        responder.startStream(status: 200, contentType: "text/plain; charset=utf-8")
        responder.send(recent)
        let token = capture.addFollower { bytes in responder.send(bytes) }
        responder.onClose = { [weak capture] in capture?.removeFollower(token) }
    }

    // MARK: Helpers

    private func select(_ names: [String]) -> Result<[ManagedProcess], SupervisorError> {
        let all = supervisor.processes.filter { !$0.removing }
        let entries = all.map { NameSelector.Entry(group: $0.spec.groupName, process: $0.spec.name, program: $0.spec.programName) }
        switch NameSelector.resolve(names, in: entries) {
        case .success(let indices): return .success(indices.map { all[$0] })
        case .failure(let error): return .failure(SupervisorError(error.description, code: "no_such_process"))
        }
    }

    private struct BadBody: Error {
        var message: String
    }

    private static func body(_ request: HTTPRequest) -> Result<JSONValue, BadBody> {
        if request.body.isEmpty { return .success(.object([])) }
        do throws(JSONError) {
            return .success(try JSONValue.parse(request.body))
        } catch {
            return .failure(BadBody(message: "request body is not JSON: \(error)"))
        }
    }

    static func results(_ outcomes: [ActionOutcome]) -> JSONValue {
        .object([
            ("ok", .bool(outcomes.allSatisfy(\.ok))),
            ("results", .array(outcomes.map { outcome in
                var fields: [(String, JSONValue)] = [("name", .string(outcome.name)), ("ok", .bool(outcome.ok)),
                                                     ("state", .string(outcome.state.rawValue))]
                if let message = outcome.message { fields.append(("message", .string(message))) }
                return .object(fields)
            })),
        ])
    }

    static func json(_ responder: HTTPResponder, _ status: Int, _ value: JSONValue) {
        responder.respond(status: status, contentType: "application/json", body: Array((value.json + "\n").utf8))
    }

    package static func error(_ responder: HTTPResponder, _ status: Int, _ message: String, _ code: String, headers: [(String, String)] = []) {
        responder.respond(status: status, contentType: "application/json", headers: headers,
                          body: Array((JSONValue.error(message, code: code).json + "\n").utf8))
    }

    private func notFound(_ head: HTTPRequestHead, _ responder: HTTPResponder) {
        Self.error(responder, 404, "no such path \(head.path)", "not_found")
    }

    private func methodNotAllowed(_ allowed: String, _ responder: HTTPResponder) {
        Self.error(responder, 405, "method not allowed; use \(allowed)", "method_not_allowed", headers: [("Allow", allowed)])
    }
}
