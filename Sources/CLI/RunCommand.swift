import CSystem
import Config
import Glibc
import Runtime
import System

/// `drover run`: from a config file, or config-less with `-- CMD ARGS`.
enum RunCommand {
    static func run(_ arguments: [String]) throws -> Int32 {
        // Block the signals drover handles before anything can start a thread:
        // a thread without them blocked could take a SIGCHLD the signalfd never
        // sees. Only `run` does this; client commands keep Ctrl-C working.
        Signals.blockHandled()
        let sub = DroverCommand.subcommands.first { $0.name == "run" }
        func usage(_ message: String) -> DroverCommand.UsageError { .init(message: message, subcommand: sub) }

        var configPath: String?
        var workersText: String?
        var listen: String?
        var health: String?
        var portText: String?
        var slotFlags = RunSlotFlags()
        var command: [String] = []
        var dryRun = false
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                command = Array(arguments[(index + 1)...])
                break
            }
            if argument == "--dry-run" {
                dryRun = true
                index += 1
                continue
            }
            let takesValue = ["-c", "--config", "--workers", "--listen", "--health", "--port", "--thread-env", "--cpu-affinity"]
            var name = argument, inlineValue: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            guard takesValue.contains(name) else { throw usage("unexpected argument '\(argument)'") }
            let value: String
            if let inlineValue {
                value = inlineValue
                index += 1
            } else {
                guard index + 1 < arguments.count else { throw usage("missing value for '\(name)'") }
                value = arguments[index + 1]
                index += 2
            }
            switch name {
            case "-c", "--config": configPath = value
            case "--workers": workersText = value
            case "--listen": listen = value
            case "--health": health = value
            case "--thread-env": slotFlags.threadEnv = value
            case "--cpu-affinity": slotFlags.cpuAffinity = value
            default: portText = value
            }
        }

        let environment = ProcessEnvironment.current()
        var settings: Daemon.Settings
        if command.isEmpty {
            if workersText != nil || listen != nil || health != nil || portText != nil || slotFlags.given {
                throw usage("--workers, --listen, --health, --port, --thread-env and --cpu-affinity need a command after --")
            }
            let path = configPath ?? "supervisor.conf"
            if let missing = ConfigPaths.missingConfigAdvice(path, commandInstead: true) {
                DroverCommand.writeErr("drover: \(missing)\n")
                return 1
            }
            let isRoot = geteuid() == 0
            guard let config = loadReporting(path: path, environment: environment, isRoot: isRoot) else { return 1 }
            settings = Daemon.Settings(config: config)
            settings.reloadConfig = ConfigReloader(path: path, isRoot: isRoot).load
        } else {
            if configPath != nil { throw usage("give either -c <file> or -- <command>, not both") }
            guard !command[0].isEmpty else { throw usage("empty command after --") }
            var proxy: ProxyConfig?
            if let listen {
                let address: ListenAddress
                switch ConfigValues.listenAddress(listen) {
                case .success(let parsed): address = parsed
                case .failure(let error): throw usage("--listen \(error.message)")
                }
                proxy = ProxyConfig(name: "front", listen: address, upstream: "app")
            }
            let machine = MachineShape.current(environment: environment)
            let (workers, slots) = try slotFlags.plan(workers: workersText ?? "1", tini: { $0 == 1 && proxy == nil },
                                                      machine: machine, usage)
            var firstPort: Int?
            if let portText {
                guard let port = Int(portText), (1...65535).contains(port) else { throw usage("--port '\(portText)' is not a port number") }
                firstPort = port
            } else if command.contains(where: { $0.contains("%(port)") }) || proxy != nil {
                if case .tcp(_, let port) = proxy?.listen { firstPort = port + 1 } else { firstPort = 8000 }
            }
            if let health, !health.hasPrefix("/") { throw usage("--health '\(health)' must be a path starting with /") }
            let program: ProgramConfig
            do throws(ConfigDiagnostic) {
                program = try ConfigLessProgram.make(argv: command, workers: workers, firstPort: firstPort,
                                                     healthPath: health, environment: environment,
                                                     tini: workers == 1 && proxy == nil, slots: slots)
            } catch {
                throw usage(error.description)
            }
            var config = DroverConfig(path: nil, programs: [program], proxies: proxy.map { [$0] } ?? [])
            config.machine = machine
            if let why = slots.autoPinningDeclined {
                config.warnings.append(ConfigDiagnostic(file: "command line", line: 0, key: "--cpu-affinity", message: why))
            }
            settings = Daemon.Settings(config: config)
            settings.tiniMode = workers == 1 && proxy == nil
        }
        if dryRun { return DryRun.report(settings, environment: environment) }
        let daemon = try Daemon(settings: settings, selfExecutable: ProcessEnvironment.executablePath(), environment: environment)
        return daemon.run()
    }

    /// Loads a config, printing warnings and errors; nil when it has errors.
    static func loadReporting(path: String, environment: [String: String], isRoot: Bool) -> DroverConfig? {
        let result: Result<DroverConfig, ConfigErrors>
        do throws(ConfigErrors) {
            result = .success(try ConfigLoader.load(path: path, environment: environment, isRoot: isRoot))
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let config):
            return config
        case .failure(let error):
            for warning in error.warnings { DroverCommand.writeErr("warning: \(warning)\n") }
            for diagnostic in error.errors { DroverCommand.writeErr("error: \(diagnostic)\n") }
            return nil
        }
    }
}

/// Re-reads the same file with the environment of the moment (SIGHUP, reload).
struct ConfigReloader {
    let path: String
    let isRoot: Bool

    func load() throws(ConfigErrors) -> DroverConfig {
        try ConfigLoader.load(path: path, environment: ProcessEnvironment.current(), isRoot: isRoot)
    }
}
