import CSystem
import Config
import Glibc

/// The `drover` command line: subcommands, options and help text in the
/// style of swift-argument-parser. Exit codes follow supervisorctl's:
/// 0 ok, 1 error, 2 bad usage.
package enum DroverCommand {
    package static let version = DroverVersion.current

    struct UsageError: Error {
        var message: String
        var subcommand: Subcommand?
    }

    struct Subcommand {
        var name: String
        var abstract: String
        var usage: String
        var options: [(String, String)] = []
        var discussion: String = ""
        /// Talks to the daemon through the control socket.
        var needsDaemon = false

        /// What every client command takes, after its own options.
        static let socketOptions: [(String, String)] = [
            ("-s, --socket <path>", "The control socket (default: $DROVER_SOCKET, the config's [unix_http_server] file, ./drover.sock)."),
            ("-c, --config <file>", "Where to find [unix_http_server] file (default: ./supervisor.conf)."),
        ]
    }

    static let subcommands: [Subcommand] = [
        Subcommand(name: "run", abstract: "Run the supervisor in the foreground; built to be PID 1.",
                   usage: "drover run [-c <file>] [--dry-run] [--workers <n>|auto] [--listen <addr>] [--health <path>] [--port <port>] [--thread-env <auto|none>] [--cpu-affinity <cpus>|auto|none] [-- <command> ...]",
                   options: [
                       ("-c, --config <file>", "The config file (default: ./supervisor.conf)."),
                       ("--dry-run", "Do everything start-up does with the config short of binding, writing or spawning; say what would start or why it would not (exit 0 or 1)."),
                       ("--workers <n>|auto", "Config-less: how many copies of <command> (default: 1; auto = one per usable CPU)."),
                       ("--listen <addr>", "Config-less: the proxy's listen address (HOST:PORT, :PORT or unix:/path)."),
                       ("--health <path>", "Config-less: the workers' health check path, e.g. /health."),
                       ("--port <port>", "Config-less: the first worker's port for %(port)s and $PORT (default: listen port + 1, else 8000)."),
                       ("--thread-env <auto|none>", "Config-less: set OMP_NUM_THREADS and the other thread variables to each worker's CPUs, as thread_env does (default: auto)."),
                       ("--cpu-affinity <cpus>|auto|none", "Config-less: pin worker i to its own core (auto) or to cores of a list such as 0-3, as cpu_affinity does (default: none)."),
                   ],
                   discussion: """
                   With -- <command>, no config file is read: drover runs <command> --workers
                   times, expanding %(port)s, %(process_num)s and %(program_name)s in its
                   arguments. Each worker gets the slot a config's numprocs = auto would give
                   it (one CPU, DROVER_SLOT, thread variables). With one worker and no
                   --listen it behaves like tini: every signal is forwarded, the child's exit
                   status is passed through (128+n for a signal), and its slot is every usable CPU.
                   """),
        Subcommand(name: "check", abstract: "Validate a config and print the resolved pools.",
                   usage: "drover check [-c <file>]",
                   options: [("-c, --config <file>", "The config file (default: ./supervisor.conf).")],
                   discussion: "Exits 0 when the config is valid (warnings are printed to stderr), 1 when it is not."),
        Subcommand(name: "status", abstract: "Show one line per process.", usage: "drover status [<name> ...] [--json]",
                   options: [("--json", "Print the daemon's JSON instead of lines.")],
                   discussion: """
                   Names are group:process, group:* (or group), a program, or all. Lines come in name
                   order, as supervisorctl prints them. Exits 0 when no named process is STOPPED,
                   EXITED or FATAL, 3 when one is, 4 when a name does not exist or the daemon
                   cannot be reached.
                   """, needsDaemon: true),
        Subcommand(name: "start", abstract: "Start processes.", usage: "drover start <name> ...",
                   discussion: "Exits 0 when each is running (already running included), 7 when one did not stay up, 1 for an unknown name.",
                   needsDaemon: true),
        Subcommand(name: "stop", abstract: "Stop processes.", usage: "drover stop <name> ...", needsDaemon: true),
        Subcommand(name: "restart", abstract: "Restart processes (--rolling: one at a time, no failed request).",
                   usage: "drover restart [--rolling] <name> ...",
                   options: [("--rolling", "Replace a program's workers one at a time, each ready before the next stops.")],
                   discussion: "Without --rolling, as supervisorctl: stop the names, then start them.",
                   needsDaemon: true),
        Subcommand(name: "scale", abstract: "Grow or shrink a pool at run time.", usage: "drover scale <program> <n>", needsDaemon: true),
        Subcommand(name: "signal", abstract: "Send a signal to processes.", usage: "drover signal <signal> <name> ...", needsDaemon: true),
        Subcommand(name: "tail", abstract: "Show a worker's log; -f follows until Ctrl-C.",
                   usage: "drover tail [-f] [-n <lines> | -<bytes>] [--stderr] <name> [stdout|stderr]",
                   options: [("-f, --follow", "Keep printing new output until Ctrl-C."),
                             ("-n, --lines <n>", "How many recent lines to print first (default: 10)."),
                             ("-<bytes>", "The last <bytes> bytes instead, as supervisorctl's tail -1600 <name>."),
                             ("--stderr", "The worker's stderr instead of its stdout (or: <name> stderr).")],
                   needsDaemon: true),
        Subcommand(name: "reload", abstract: "Re-read the config and apply the difference.", usage: "drover reload",
                   discussion: "Not supervisorctl's reload (a restart of the daemon): nothing that did not change restarts.",
                   needsDaemon: true),
        Subcommand(name: "reread", abstract: "Show what reload would change, changing nothing (supervisorctl's reread).",
                   usage: "drover reread", needsDaemon: true),
        Subcommand(name: "update", abstract: "Apply the config, in supervisorctl's words (the same as reload).",
                   usage: "drover update [all]", needsDaemon: true),
        Subcommand(name: "shutdown", abstract: "Stop everything gracefully, then exit.", usage: "drover shutdown", needsDaemon: true),
        Subcommand(name: "pid", abstract: "Print the supervisor's or a process's pid.", usage: "drover pid [<name>]", needsDaemon: true),
        Subcommand(name: "version", abstract: "Print the version and build info.", usage: "drover version"),
        Subcommand(name: "top", abstract: "Live view of the pools: state, CPU, memory, requests/s, latency, queue.",
                   usage: "drover top [--once] [--interval <seconds>]",
                   options: [("--once", "Print one frame, measured over one interval, and exit (for scripts)."),
                             ("--interval <seconds>", "Seconds between refreshes (default: 1).")],
                   discussion: "q or Ctrl-C quits. CPU % and RSS cover each worker's process group, read from /proc.",
                   needsDaemon: true),
        Subcommand(name: "completion", abstract: "Print a shell completion script (bash or zsh).",
                   usage: "drover completion bash|zsh",
                   discussion: """
                   bash:  source <(drover completion bash)
                   zsh:   source <(drover completion zsh)   (after compinit), or save it as _drover in $fpath
                   """),
    ]

    /// supervisorctl verbs drover does not have, each answered with the
    /// drover command that does the job (exit 1, as supervisorctl for a verb
    /// it does not know).
    static let supervisorctlVerbs: [String: String] = [
        "avail": "every configured process is in use in drover: drover status lists them, drover check -c FILE shows the file's pools",
        "clear": "drover keeps the last 64 KiB of each stream in memory and rotates *_logfile at *_maxbytes; to empty a file: : > FILE",
        "maintail": "drover logs to its stdout (docker logs, journalctl -u drover) or [supervisord] logfile: tail -f that file; drover tail NAME shows a worker's",
        "fg": "drover does not attach to a worker's stdin; follow its output with drover tail -f NAME (and NAME stderr)",
        "add": "drover reload (or drover update) starts the programs the file gained",
        "remove": "drover reload (or drover update) stops the programs the file lost",
        "open": "give the socket with -s PATH: drover -s /run/drover.sock status",
    ]

    /// Options that may come before the subcommand as well as after it, as
    /// supervisorctl and `docker -H` take them (SPEC §2).
    static let leadingOptions = ["-s", "--socket", "-c", "--config"]

    /// Entry point; `arguments` excludes the program name.
    package static func main(_ arguments: [String]) -> Int32 {
        var arguments = arguments
        var leading: [String] = []
        while let first = arguments.first {
            if leadingOptions.contains(first) {
                guard arguments.count >= 2 else { return usageError("missing value for '\(first)'", nil) }
                leading += arguments.prefix(2)
                arguments.removeFirst(2)
            } else if leadingOptions.contains(where: { $0.hasPrefix("--") && first.hasPrefix($0 + "=") }) {
                leading.append(first)
                arguments.removeFirst()
            } else {
                break
            }
        }
        guard let first = arguments.first else {
            return usageError(leading.isEmpty ? "missing subcommand" : "missing subcommand after '\(leading.joined(separator: " "))'", nil)
        }
        if first == "__exec-as" && leading.isEmpty { PrivilegeDrop.execAs(Array(arguments.dropFirst())) }
        if first == "__complete-names" { return CompletionCommand.completeNames(leading + Array(arguments.dropFirst())) }
        if first == "-h" || first == "--help" || first == "help" {
            if arguments.count > 1, let sub = subcommands.first(where: { $0.name == arguments[1] }) {
                print(help(sub))
            } else {
                print(mainHelp())
            }
            return 0
        }
        if first == "--version" { print(versionText()); return 0 }
        if let hint = supervisorctlVerbs[first] {
            writeErr("drover: no '\(first)' command: \(hint)\n")
            return 1
        }
        guard let subcommand = subcommands.first(where: { $0.name == first }) else {
            if first.hasPrefix("-") { return usageError("unknown option '\(first)'", nil) }
            let near = UnknownKeyAdvice.nearest(to: first, in: Set(subcommands.map(\.name)))
            return usageError("unknown subcommand '\(first)'" + (near.isEmpty ? "" : " (did you mean " + near.map { "'\($0)'" }.joined(separator: " or ") + "?)"), nil)
        }
        // Leading options go first: `run` stops reading options at `--`.
        let rest = leading + Array(arguments.dropFirst())
        let helpIndex = rest.firstIndex { $0 == "--help" || $0 == "-h" }
        if let helpIndex, !(subcommand.name == "run" && rest.firstIndex(of: "--").map { $0 < helpIndex } == true) {
            print(help(subcommand))
            return 0
        }
        do {
            switch subcommand.name {
            case "run": return try RunCommand.run(rest)
            case "check": return try checkCommand(rest)
            case "top": return try TopCommand.run(rest)
            case "completion": return try CompletionCommand.run(rest)
            case "version":
                guard rest.isEmpty else { throw UsageError(message: "unexpected argument '\(rest[0])'", subcommand: subcommand) }
                print(versionText())
                return 0
            default:
                return try ClientCommands.run(subcommand, rest)
            }
        } catch let error as UsageError {
            return usageError(error.message, error.subcommand)
        } catch {
            writeErr("drover: \(error)\n")
            return 1
        }
    }

    /// Bad usage: one line saying what and where the help is; exit 2.
    @discardableResult
    static func usageError(_ message: String, _ sub: Subcommand?) -> Int32 {
        writeErr("drover: \(message); see '\(sub.map { "drover \($0.name) --help" } ?? "drover --help")'\n")
        return 2
    }

    /// `--name=value` split; nil when `argument` is not that form of `name`.
    static func inlineValue(_ argument: String, _ names: [String]) -> (name: String, value: String)? {
        guard argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") else { return nil }
        let name = String(argument[..<equals])
        guard names.contains(name) else { return nil }
        return (name, String(argument[argument.index(after: equals)...]))
    }

    static func checkCommand(_ arguments: [String]) throws -> Int32 {
        var path = "supervisor.conf"
        var index = 0
        let sub = subcommands.first { $0.name == "check" }
        while index < arguments.count {
            if let (_, value) = inlineValue(arguments[index], ["--config"]) {
                path = value
                index += 1
                continue
            }
            switch arguments[index] {
            case "-c", "--config":
                guard index + 1 < arguments.count else { throw UsageError(message: "missing value for '\(arguments[index])'", subcommand: sub) }
                path = arguments[index + 1]
                index += 2
            default:
                throw UsageError(message: "unexpected argument '\(arguments[index])'", subcommand: sub)
            }
        }
        return runCheck(path: path, environment: ProcessEnvironment.current())
    }

    static func versionText() -> String {
        "drover \(version) (Swift, Linux \(uname().machine); one reactor thread; supervisor.conf compatible)"
    }

    static func mainHelp() -> String {
        var text = """
        OVERVIEW: Run a pool of HTTP workers behind one proxy: supervise them, restart
        what crashes or stops answering its health check, serve only the ready ones.

        USAGE: drover [-s <path>] [-c <file>] <subcommand>

        OPTIONS:
          -s, --socket <path>     The daemon's control socket, for every command that talks to it
                                  (default: $DROVER_SOCKET, the config's [unix_http_server] file, ./drover.sock).
          -c, --config <file>     The config file (default: ./supervisor.conf).
          --version               Show the version.
          -h, --help              Show help information.

        SUBCOMMANDS:

        """
        for sub in subcommands {
            text += "  " + sub.name.padding(toLength: 22) + "  " + sub.abstract + "\n"
        }
        text += "\n  See 'drover help <subcommand>' for detailed help.\n"
        return text
    }

    static func help(_ sub: Subcommand) -> String {
        var text = "OVERVIEW: \(sub.abstract)\n"
        if !sub.discussion.isEmpty { text += "\n" + sub.discussion + "\n" }
        text += "\nUSAGE: \(sub.usage)\n\nOPTIONS:\n"
        let options = sub.options + (sub.needsDaemon ? Subcommand.socketOptions : [])
        for (flag, meaning) in options {
            // As swift-argument-parser: a flag wider than its column puts its meaning on the next line.
            text += flag.count > 22 ? "  \(flag)\n" + String(repeating: " ", count: 26) + meaning + "\n"
                                    : "  " + flag.padding(toLength: 22) + "  " + meaning + "\n"
        }
        text += "  " + "-h, --help".padding(toLength: 22) + "  Show help information.\n"
        return text
    }

    static func writeErr(_ text: String) {
        var text = text
        text.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

func uname() -> (machine: String, release: String) {
    var info = utsname()
    Glibc.uname(&info)
    let machine = withUnsafeBytes(of: &info.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    let release = withUnsafeBytes(of: &info.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    return (machine, release)
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
