import CSystem
import Control
import Glibc
import System

/// The supervisorctl-style subcommands: each is one or a few requests to
/// the daemon's control socket. Exit codes are supervisorctl's (SPEC §2).
enum ClientCommands {
    enum Exit {
        static let ok: Int32 = 0
        static let error: Int32 = 1
        static let usage: Int32 = 2
        static let notRunning: Int32 = 3
        static let unreachable: Int32 = 4
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
        var positional: [String] = []
    }

    static func run(_ sub: DroverCommand.Subcommand, _ arguments: [String]) throws -> Int32 {
        // Whatever the parent left blocked or ignored, Ctrl-C and SIGTERM end
        // a client (`tail -f` runs until one of them).
        _ = cs_unblock_all_signals()
        Glibc.signal(SIGINT, SIG_DFL)
        Glibc.signal(SIGTERM, SIG_DFL)
        let common = try parse(sub, arguments)
        let client = ControlClient(socketPath: ControlClient.discover(
            explicit: common.socket, configPath: common.config, environment: ProcessEnvironment.current()))
        do throws(ControlClient.Unreachable) {
            switch sub.name {
            case "status": return try status(client, common)
            case "start", "stop", "restart": return try action(sub.name, client, common, sub)
            case "scale": return try scale(client, common, sub)
            case "signal": return try signal(client, common, sub)
            case "tail": return try tail(client, common, sub)
            case "reload": return try reload(client)
            case "shutdown": return try shutdown(client)
            case "pid": return try pid(client, common)
            default: return Exit.usage
            }
        } catch {
            DroverCommand.writeErr("drover: cannot reach the daemon at \(error.socket): \(error.reason)\n")
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
        while index < arguments.count {
            let argument = arguments[index]
            if let (name, inline) = DroverCommand.inlineValue(argument, ["--socket", "--config", "--lines"]) {
                switch name {
                case "--socket": common.socket = inline
                case "--config": common.config = inline
                default:
                    guard sub.name == "tail" else { throw DroverCommand.UsageError(message: "unknown option '\(name)'", subcommand: sub) }
                    guard let n = Int(inline), n >= 0 else {
                        throw DroverCommand.UsageError(message: "'\(inline)' is not a number of lines", subcommand: sub)
                    }
                    common.lines = n
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
                let text = try value(argument)
                guard let n = Int(text), n >= 0 else {
                    throw DroverCommand.UsageError(message: "'\(text)' is not a number of lines", subcommand: sub)
                }
                common.lines = n
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

    // MARK: Commands

    static func status(_ client: ControlClient, _ common: Common) throws(ControlClient.Unreachable) -> Int32 {
        let query = common.positional.isEmpty ? "" : "?name=" + common.positional.map(percentEncode).joined(separator: ",")
        let response = try client.request("GET", "/v1/status" + query)
        guard response.status == 200, let json = response.json else { return failed(response, notFound: Exit.unreachable) }
        let processes = json["processes"]?.arrayValue ?? []
        if common.json {
            print(String(decoding: response.body, as: UTF8.self), terminator: response.body.last == 10 ? "" : "\n")
        } else {
            for line in StatusFormatter.lines(processes.compactMap(StatusRow.init(json:))) { print(line) }
        }
        let allRunning = processes.allSatisfy { $0["state"]?.stringValue == "RUNNING" }
        return allRunning ? Exit.ok : Exit.notRunning
    }

    static func action(_ verb: String, _ client: ControlClient, _ common: Common,
                       _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard !common.positional.isEmpty else {
            usage("give at least one name (group:process, group, group:* or all)", sub)
            return Exit.usage
        }
        if common.rolling {
            guard common.positional.count == 1, let program = common.positional.first else {
                usage("--rolling takes one program", sub)
                return Exit.usage
            }
            let response = try client.request("POST", "/v1/processes/\(percentEncode(program))/restart?rolling=1")
            guard response.status == 200, let json = response.json else { return failed(response) }
            let names = json["replaced"]?.arrayValue?.compactMap(\.stringValue) ?? []
            print("\(program): replaced \(names.joined(separator: ", ")) one at a time")
            return Exit.ok
        }
        var code = Exit.ok
        let done = ["start": "started", "stop": "stopped", "restart": "restarted"][verb] ?? verb
        for name in common.positional {
            let response = try client.request("POST", "/v1/processes/\(percentEncode(name))/\(verb)")
            guard response.status == 200, let json = response.json else {
                if response.status == 404 { printError("\(name): ERROR (no such process)") } else { _ = failed(response) }
                code = Exit.error
                continue
            }
            for result in json["results"]?.arrayValue ?? [] {
                let processName = result["name"]?.stringValue ?? name
                let message = result["message"]?.stringValue
                if result["ok"]?.boolValue == true {
                    print("\(processName): \(message.map { "\(done) (\($0))" } ?? done)")
                } else {
                    printError("\(processName): ERROR (\(message ?? "failed"))")
                    code = Exit.error
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
        guard response.status == 200, let json = response.json else { return failed(response) }
        print("\(program): \(json["from"]?.intValue ?? 0) -> \(json["to"]?.intValue ?? count) processes")
        return Exit.ok
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
                if response.status == 404 { printError("\(name): ERROR (no such process)") } else { _ = failed(response) }
                code = Exit.error
                continue
            }
            for result in json["results"]?.arrayValue ?? [] {
                let processName = result["name"]?.stringValue ?? name
                if result["ok"]?.boolValue == true {
                    print("\(processName): signalled")
                } else {
                    printError("\(processName): ERROR (\(result["message"]?.stringValue ?? "failed"))")
                    code = Exit.error
                }
            }
        }
        return code
    }

    static func tail(_ client: ControlClient, _ common: Common, _ sub: DroverCommand.Subcommand) throws(ControlClient.Unreachable) -> Int32 {
        guard common.positional.count == 1, let name = common.positional.first else {
            usage("give one process name", sub)
            return Exit.usage
        }
        var target = "/v1/processes/\(percentEncode(name))/log?stream=\(common.stderr ? "stderr" : "stdout")"
        target += "&lines=\(common.lines ?? 10)"
        if common.follow { target += "&follow=1" }
        var status = 0
        let response = try client.request("GET", target) { bytes in
            // Streamed as it arrives: `tail -f` shows a line the moment it is read.
            bytes.withUnsafeBytes { _ = Glibc.write(1, $0.baseAddress, $0.count) }
        }
        status = response.status
        if status != 200 {
            return failed(response)
        }
        return Exit.ok
    }

    static func reload(_ client: ControlClient) throws(ControlClient.Unreachable) -> Int32 {
        let response = try client.request("POST", "/v1/reload")
        guard let json = response.json else { return failed(response) }
        if response.status != 200 {
            for error in json["errors"]?.arrayValue?.compactMap(\.stringValue) ?? [json["error"]?.stringValue ?? "reload failed"] {
                DroverCommand.writeErr("drover: reload rejected, nothing changed: \(error)\n")
            }
            return Exit.error
        }
        print("reloaded: \(json["summary"]?.stringValue ?? "done")")
        return Exit.ok
    }

    static func shutdown(_ client: ControlClient) throws(ControlClient.Unreachable) -> Int32 {
        let response = try client.request("POST", "/v1/shutdown")
        guard response.status == 202 || response.status == 200 else { return failed(response) }
        print("drover: shutting down")
        return Exit.ok
    }

    static func pid(_ client: ControlClient, _ common: Common) throws(ControlClient.Unreachable) -> Int32 {
        if common.positional.count > 1 {
            usage("give at most one name", DroverCommand.subcommands.first { $0.name == "pid" }!)
            return Exit.usage
        }
        let query = common.positional.first.map { "?name=" + percentEncode($0) } ?? ""
        let response = try client.request("GET", "/v1/status" + query)
        guard response.status == 200, let json = response.json else { return failed(response) }
        if common.positional.isEmpty {
            print(json["pid"]?.intValue ?? 0)
            return Exit.ok
        }
        let processes = json["processes"]?.arrayValue ?? []
        var code = Exit.ok
        for process in processes {
            if let pid = process["pid"]?.intValue { print(pid) } else {
                print(0)
                printError("\(process["name"]?.stringValue ?? "?"): ERROR (not running)")
                code = Exit.error
            }
        }
        return code
    }

    // MARK: Helpers

    /// Prints the daemon's `{"error": ...}` on one line; returns the exit code.
    static func failed(_ response: ControlClient.Response, notFound: Int32 = Exit.error) -> Int32 {
        let message = response.json?["error"]?.stringValue ?? String(decoding: response.body.prefix(200), as: UTF8.self)
        DroverCommand.writeErr("drover: \(message) (HTTP \(response.status))\n")
        return response.status == 404 ? notFound : Exit.error
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
