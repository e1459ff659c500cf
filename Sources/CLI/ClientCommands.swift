import CSystem
import Config
import Control
import Glibc
import JSON
import System

/// The supervisorctl-style subcommands: each is one or a few requests to
/// the daemon's control socket. What they print and their exit codes are
/// supervisorctl 4's, line for line where drover has the same verb (SPEC
/// §2, docs/from-supervisord.md lists what differs and why), with one rule
/// of drover's own: a line that reports an error goes to stderr, so stdout
/// holds only what succeeded.
enum ClientCommands {
    /// supervisorctl's exit codes (its LSBInitExitStatuses and, for
    /// `status`, LSBStatusExitStatuses).
    enum Exit {
        static let ok: Int32 = 0
        static let error: Int32 = 1
        static let usage: Int32 = 2
        /// `status`: a named process is STOPPED, EXITED or FATAL.
        static let notRunning: Int32 = 3
        /// The daemon is not reachable; from `status`, a name that does not exist.
        static let unreachable: Int32 = 4
        /// `start` of a process that did not stay up, `signal`/`pid` of one
        /// that is not running (LSB "program is not running").
        static let processNotRunning: Int32 = 7
    }

    /// Options every client command takes, then what is left.
    struct Common {
        var socket: String?
        var config: String?
        var json = false
        var follow = false
        var stderr = false
        var rolling = false
        var lines: Int?
        /// supervisorctl's `tail -1600 NAME`: the last bytes, not lines.
        var bytes: Int?
        var positional: [String] = []
    }

    static func run(_ sub: DroverCommand.Subcommand, _ arguments: [String]) throws -> Int32 {
        // Whatever the parent left blocked or ignored, Ctrl-C and SIGTERM end
        // a client (`tail -f` runs until one of them).
        _ = cs_unblock_all_signals()
        Glibc.signal(SIGINT, SIG_DFL)
        Glibc.signal(SIGTERM, SIG_DFL)
        let common = try parse(sub, arguments)
        if let config = common.config, common.socket == nil,
           let missing = ConfigPaths.missingConfigAdvice(config, commandInstead: false) {
            // supervisorctl refuses a -c file that is not there too (exit 2).
            printError("drover: \(missing), or the daemon's socket with -s PATH")
            return Exit.usage
        }
        let client = ControlClient(socketPath: ControlClient.discover(
            explicit: common.socket, configPath: common.config, environment: ProcessEnvironment.current()))
        do throws(ControlClient.Unreachable) {
            switch sub.name {
            case "status": return try status(client, common)
            case "start", "stop": return try action(sub.name, client, common.positional, sub)
            case "restart": return try restart(client, common, sub)
            case "scale": return try scale(client, common, sub)
            case "signal": return try signal(client, common, sub)
            case "tail": return try tail(client, common, sub)
            case "reload": return try reload(client, common, sub)
            case "reread": return try reread(client, common, sub)
            case "update": return try update(client, common, sub)
            case "shutdown": return try shutdown(client, common, sub)
            case "pid": return try pid(client, common)
            default: return Exit.usage
            }
        } catch {
            DroverCommand.writeErr("drover: \(error)\n")
            return Exit.unreachable
        }
    }

    static func parse(_ sub: DroverCommand.Subcommand, _ arguments: [String]) throws -> Common {
        var common = Common()
        var index = 0
        func value(_ flag: String) throws -> String {
            guard index + 1 < arguments.count else {
                throw DroverCommand.UsageError(message: "missing value for '\(flag)'", subcommand: sub)
            }
            index += 1
            return arguments[index]
        }
        func lineCount(_ text: String) throws -> Int {
            guard let n = Int(text), n >= 0 else {
                throw DroverCommand.UsageError(message: "'\(text)' is not a number of lines", subcommand: sub)
            }
            return n
        }
        while index < arguments.count {
            let argument = arguments[index]
            if let (name, inline) = DroverCommand.inlineValue(argument, ["--socket", "--config", "--lines"]) {
                switch name {
                case "--socket": common.socket = inline
                case "--config": common.config = inline
                default:
                    guard sub.name == "tail" else { throw DroverCommand.UsageError(message: "unknown option '\(name)'", subcommand: sub) }
                    common.lines = try lineCount(inline)
                }
                index += 1
                continue
            }
            switch argument {
            case "-s", "--socket": common.socket = try value(argument)
            case "-c", "--config": common.config = try value(argument)
            case "--json" where sub.name == "status": common.json = true
            case "-f" where sub.name == "tail", "--follow" where sub.name == "tail": common.follow = true
            case "--stderr" where sub.name == "tail": common.stderr = true
            case "--rolling" where sub.name == "restart": common.rolling = true
            case "-n" where sub.name == "tail", "--lines" where sub.name == "tail":
                common.lines = try lineCount(try value(argument))
            case _ where sub.name == "tail" && argument.count > 1 && argument.hasPrefix("-") && argument.dropFirst().allSatisfy(\.isNumber):
                // supervisorctl's `tail -100 NAME`: the last 100 bytes.
                guard let n = Int(argument.dropFirst()) else {
                    throw DroverCommand.UsageError(message: "'\(argument)' is too large a number of bytes", subcommand: sub)
                }
                common.bytes = n
            default:
                if argument.hasPrefix("-") && argument.count > 1 && !(sub.name == "signal" && common.positional.isEmpty) {
                    throw DroverCommand.UsageError(message: "unknown option '\(argument)'", subcommand: sub)
                }
                common.positional.append(argument)
            }
            index += 1
        }
        return common
    }

    // MARK: Status and pids

    /// The daemon's process list, and names resolved against it the way
    /// the daemon resolves them (so `status NAME` can report each unknown
    /// name and still show the others, as supervisorctl does).
    struct ProcessList {
        /// The whole `/v1/status` document, for `status --json`.
        var document: JSONValue
        var processes: [JSONValue]
        var supervisorPid: Int

        var entries: [NameSelector.Entry] {
            processes.map { process in
                let name = process["name"]?.stringValue ?? ""
                let group = process["group"]?.stringValue ?? String(name.prefix { $0 != ":" })
                let program = process["program"]?.stringValue ?? group
                let short = process["process"]?.stringValue ?? String(name.split(separator: ":").last ?? "")
                return NameSelector.Entry(group: group, process: short, program: program)
            }
        }

        /// Indices of the processes `name` selects; empty when none.
        func select(_ name: String) -> [Int] {
            (try? NameSelector.resolve([name], in: entries).get()) ?? []
        }

        static func fetch(_ client: ControlClient) throws(ControlClient.Unreachable) -> ProcessList? {
            let response = try client.request("GET", "/v1/status")
            guard response.status == 200, let json = response.json, var processes = json["processes"]?.arrayValue else {
                _ = failed(response)
                return nil
            }
            // supervisorctl's order (groups by name, then processes by name) for every listing.
            func key(_ process: JSONValue) -> (String, String) {
                StatusRow(json: process).map { ($0.group, $0.process) } ?? ("", "")
            }
            processes.sort { StatusFormatter.precedesByName(key($0), key($1)) }
            return ProcessList(document: json, processes: processes, supervisorPid: json["pid"]?.intValue ?? 0)
        }
    }

    /// supervisorctl's wording for a name that matches nothing: a group
    /// form (`web:*`, `web:`) is a group, anything else a process.
    static func unknownName(_ name: String) -> String {
        if name.hasSuffix(":*") { return "\(name.dropLast(2)): ERROR (no such group)" }
        if name.hasSuffix(":") { return "\(name.dropLast()): ERROR (no such group)" }
        return "\(name): ERROR (no such process)"
    }

    static func status(_ client: ControlClient, _ common: Common) throws(ControlClient.Unreachable) -> Int32 {
        guard let list = try ProcessList.fetch(client) else { return Exit.unreachable }
        var code = Exit.ok
        var chosen: [Int] = []
        if common.positional.isEmpty || common.positional.contains("all") {
            chosen = Array(list.processes.indices)
        } else {
            var seen = Set<Int>()
            for name in common.positional {
                let matches = list.select(name)
                if matches.isEmpty {
                    printError(unknownName(name))
                    code = Exit.unreachable
                }
                for index in matches where seen.insert(index).inserted { chosen.append(index) }
            }
        }
        let shown = chosen.map { list.processes[$0] }
        if common.json {
            // The daemon's document, its process list cut to the names given.
            let members = (list.document.objectValue ?? []).map { key, value in
                key == "processes" ? (key, JSONValue.array(shown)) : (key, value)
            }
            print(JSONValue.object(members).json)
        } else {
            for line in StatusFormatter.lines(StatusFormatter.sortedByName(shown.compactMap(StatusRow.init(json:)))) { print(line) }
        }
        // As supervisorctl: a stopped process wins over an unknown name.
        let stoppedStates: Set<String> = ["STOPPED", "EXITED", "FATAL"]
        if shown.contains(where: { stoppedStates.contains($0["state"]?.stringValue ?? "") }) { code = Exit.notRunning }
        return code
    }

    static func pid(_ client: ControlClient, _ common: Common) throws(ControlClient.Unreachable) -> Int32 {
        guard let list = try ProcessList.fetch(client) else { return Exit.error }
        if common.positional.isEmpty {
            print(list.supervisorPid)
            return Exit.ok
        }
        var code = Exit.ok
        for name in common.positional {
            let matches = list.select(name)
            if matches.isEmpty {
                printError(unknownName(name))
                code = Exit.error
                continue
            }
            for index in matches {
                let pid = list.processes[index]["pid"]?.intValue ?? 0
                print(pid)
                // `pid all` lists zeros quietly; a named process that is not running is exit 7.
                if pid == 0 && name != "all" && code == Exit.ok { code = Exit.processNotRunning }
            }
        }
        return code
    }

    // MARK: start / stop / restart / signal

    /// `start` or `stop` of every name in turn, one line per process:
    /// `web:web_00: started`, `web:web_00: ERROR (already started)`.
    static func action(_ verb: String, _ client: ControlClient, _ names: [String],
                       _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard !names.isEmpty else {
            usage("give at least one name (group:process, group:*, program or all)", sub)
            return Exit.usage
        }
        var code = Exit.ok
        let targets = names.contains("all") ? ["all"] : names
        for name in targets {
            let response = try client.request("POST", "/v1/processes/\(percentEncode(name))/\(verb)")
            guard response.status == 200, let json = response.json else {
                if response.status == 404 {
                    printError(unknownName(name))
                    // supervisorctl: `start nosuch:*` is bad arguments, anything else an error.
                    code = verb == "start" && name.hasSuffix(":*") ? Exit.usage : Exit.error
                } else {
                    code = failed(response, name: name)
                }
                continue
            }
            for result in json["results"]?.arrayValue ?? [] {
                let processName = NameSelector.displayName(result["name"]?.stringValue ?? name)
                let message = result["message"]?.stringValue
                let state = result["state"]?.stringValue ?? ""
                switch (verb, result["ok"]?.boolValue == true, message) {
                case ("start", true, "already started"?), ("stop", true, "not running"?):
                    // Nothing to do is not a failure for supervisorctl either (exit 0).
                    printError("\(processName): ERROR (\(message!))")
                case (_, true, nil):
                    print("\(processName): \(verb == "start" ? "started" : "stopped")")
                case (_, true, let note?):
                    print("\(processName): \(verb == "start" ? "started" : "stopped") (\(note))")
                case (_, false, _):
                    printError("\(processName): ERROR (\(message ?? "failed"))")
                    // A process that did not stay up is "not running" (7), as
                    // supervisorctl's spawn error / abnormal termination.
                    code = verb == "start" && ["BACKOFF", "FATAL", "EXITED"].contains(state) ? Exit.processNotRunning : Exit.error
                }
            }
        }
        return code
    }

    /// supervisorctl's restart: `stop` of the names, then `start` of them,
    /// each line as those print it. `--rolling` replaces a proxied pool's
    /// workers one at a time instead.
    static func restart(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard !common.positional.isEmpty else {
            usage("give at least one name (group:process, group:*, program or all)", sub)
            return Exit.usage
        }
        if common.rolling {
            guard common.positional.count == 1, let program = common.positional.first else {
                usage("--rolling takes one program", sub)
                return Exit.usage
            }
            let response = try client.request("POST", "/v1/processes/\(percentEncode(program))/restart?rolling=1")
            guard response.status == 200, let json = response.json else { return failed(response, name: program) }
            let names = json["replaced"]?.arrayValue?.compactMap(\.stringValue).map(NameSelector.displayName) ?? []
            print("\(program): replaced \(names.joined(separator: ", ")) one at a time")
            return Exit.ok
        }
        let stopped = try action("stop", client, common.positional, sub)
        let started = try action("start", client, common.positional, sub)
        return started != Exit.ok ? started : stopped
    }

    static func signal(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard common.positional.count >= 2 else {
            usage("give a signal and at least one name: drover signal HUP web", sub)
            return Exit.usage
        }
        let signal = common.positional[0]
        guard Signals.number(named: signal.hasPrefix("-") ? String(signal.dropFirst()) : signal) != nil else {
            usage("'\(signal)' is not a signal name or number", sub)
            return Exit.usage
        }
        var code = Exit.ok
        for name in common.positional.dropFirst() {
            let response = try client.request("POST", "/v1/processes/\(percentEncode(name))/signal",
                                              json: .object([("signal", .string(signal))]))
            guard response.status == 200, let json = response.json else {
                if response.status == 404 {
                    printError(unknownName(name))
                    code = Exit.error
                } else {
                    code = failed(response, name: name)
                }
                continue
            }
            for result in json["results"]?.arrayValue ?? [] {
                let processName = NameSelector.displayName(result["name"]?.stringValue ?? name)
                if result["ok"]?.boolValue == true {
                    print("\(processName): signalled")
                } else {
                    printError("\(processName): ERROR (\(result["message"]?.stringValue ?? "failed"))")
                    code = Exit.processNotRunning
                }
            }
        }
        return code
    }

    static func scale(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard common.positional.count == 2, let count = Int(common.positional[1]), count >= 0 else {
            usage("give a program and a number: drover scale web 4", sub)
            return Exit.usage
        }
        let program = common.positional[0]
        let response = try client.request("POST", "/v1/programs/\(percentEncode(program))/scale",
                                          json: .object([("count", .number(count))]))
        guard response.status == 200, let json = response.json else { return failed(response, name: program) }
        print("\(program): \(json["from"]?.intValue ?? 0) -> \(json["to"]?.intValue ?? count) processes")
        return Exit.ok
    }

    // MARK: tail

    /// `tail [-f] [-n LINES | -BYTES] [--stderr] NAME [stdout|stderr]`:
    /// drover's flags and supervisorctl's forms (`tail -100 NAME`, `tail
    /// NAME stderr`, `tail -f NAME stderr`) alike.
    static func tail(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        var positional = common.positional
        var stderr = common.stderr
        if positional.count == 2, let channel = positional.last {
            switch channel.lowercased() {
            case "stdout": positional.removeLast()
            case "stderr": positional.removeLast(); stderr = true
            default:
                usage("bad channel '\(channel)': give stdout or stderr, e.g. drover tail \(positional[0]) stderr", sub)
                return Exit.usage
            }
        }
        guard positional.count == 1, let name = positional.first else {
            usage("give one process name, e.g. drover tail web:web_00 (add stderr for its stderr)", sub)
            return Exit.usage
        }
        var target = "/v1/processes/\(percentEncode(name))/log?stream=\(stderr ? "stderr" : "stdout")"
        if let bytes = common.bytes { target += "&bytes=\(bytes)" } else { target += "&lines=\(common.lines ?? 10)" }
        if common.follow { target += "&follow=1" }
        let response = try client.request("GET", target) { bytes in
            // Streamed as it arrives: `tail -f` shows a line the moment it is read.
            bytes.withUnsafeBytes { _ = Glibc.write(1, $0.baseAddress, $0.count) }
        }
        guard response.status == 200 else {
            if response.status == 404 {
                printError("\(name): ERROR (no such process name)")
                return Exit.error
            }
            return failed(response, name: name)
        }
        return Exit.ok
    }

    // MARK: Config and the daemon

    static func reload(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard common.positional.isEmpty else { return noArguments(sub) }
        guard let summary = try applyConfig(client, dryRun: false) else { return Exit.error }
        print("reloaded: \(summary["summary"]?.stringValue ?? "done")")
        return Exit.ok
    }

    /// supervisorctl's `reread`: what `update` would change, changing
    /// nothing (`web: changed`, `new: available`, `old: disappeared`).
    static func reread(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard common.positional.isEmpty else { return noArguments(sub) }
        guard let summary = try applyConfig(client, dryRun: true) else { return Exit.error }
        var changes: [(String, String)] = []
        for name in names(summary["added"]) { changes.append((name, "available")) }
        for name in Set(names(summary["changed"]) + (summary["scaled"]?.arrayValue ?? []).compactMap { $0["program"]?.stringValue }) {
            changes.append((name, "changed"))
        }
        for name in names(summary["removed"]) { changes.append((name, "disappeared")) }
        if changes.isEmpty { print("No config updates to processes") }
        for (name, change) in changes.sorted(by: { $0.0 < $1.0 }) { print("\(name): \(change)") }
        return Exit.ok
    }

    /// supervisorctl's `update`: apply the file (drover's `reload`), in its
    /// words. A changed pool is replaced one worker at a time rather than
    /// stopped, so there is no `NAME: stopped` line for it.
    static func update(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard common.positional.allSatisfy({ $0 == "all" }) else {
            usage("drover applies the whole file at once: run drover update (or drover reload) without names", sub)
            return Exit.usage
        }
        guard let summary = try applyConfig(client, dryRun: false) else { return Exit.error }
        for name in names(summary["removed"]) { print("\(name): stopped"); print("\(name): removed process group") }
        let changed = Set(names(summary["changed"]) + (summary["scaled"]?.arrayValue ?? []).compactMap { $0["program"]?.stringValue })
        for name in changed.sorted() { print("\(name): updated process group") }
        for name in names(summary["added"]) { print("\(name): added process group") }
        return Exit.ok
    }

    /// POST /v1/reload (`dry_run` for reread); the summary, or nil after
    /// printing why the config was rejected.
    static func applyConfig(_ client: ControlClient, dryRun: Bool) throws(ControlClient.Unreachable) -> JSONValue? {
        let response = try client.request("POST", "/v1/reload" + (dryRun ? "?dry_run=1" : ""))
        guard let json = response.json else {
            _ = failed(response)
            return nil
        }
        if response.status != 200 {
            let errors = json["errors"]?.arrayValue?.compactMap(\.stringValue) ?? [json["error"]?.stringValue ?? "reload failed"]
            for error in errors {
                printError("drover: reload rejected, nothing changed: \(error) (drover check -c FILE shows every problem)")
            }
            return nil
        }
        return json
    }

    static func shutdown(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard common.positional.isEmpty else { return noArguments(sub) }
        let response = try client.request("POST", "/v1/shutdown")
        guard response.status == 202 || response.status == 200 else { return failed(response) }
        print("Shut down")
        return Exit.ok
    }

    // MARK: Helpers

    static func names(_ value: JSONValue?) -> [String] {
        value?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    static func noArguments(_ sub: DroverCommand.Subcommand) -> Int32 {
        usage("\(sub.name) takes no names: drover \(sub.name)", sub)
        return Exit.usage
    }

    /// An answer that is not the one wanted: one line on stderr, worded
    /// `NAME: ERROR (why)` when it is about a name (supervisorctl's form),
    /// else `drover: why`. Returns the exit code.
    static func failed(_ response: ControlClient.Response, name: String? = nil) -> Int32 {
        var message = response.json?["error"]?.stringValue ?? ""
        if message.isEmpty {
            let text = String(decoding: response.body.prefix(200), as: UTF8.self).trimmingTrailingNewline()
            message = text.isEmpty ? "the daemon answered HTTP \(response.status) with no reason" : text
        }
        if let name { printError("\(NameSelector.displayName(name)): ERROR (\(message))") } else { printError("drover: \(message)") }
        return Exit.error
    }

    static func usage(_ message: String, _ sub: DroverCommand.Subcommand) {
        DroverCommand.usageError(message, sub)
    }

    /// Errors go to stderr (a script's stdout holds only what succeeded).
    static func printError(_ line: String) {
        DroverCommand.writeErr(line + "\n")
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: ":"), UInt8(ascii: "*"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}

extension String {
    func trimmingTrailingNewline() -> String {
        var text = self
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }
}
