/// drover's own log: one event per line, `TIME LEVEL PROCESS message`,
/// to `[supervisord] logfile` or, by default, stdout.
public final class EventLog {
    private enum Sink {
        case console(ConsoleWriter)
        case file(RotatingLogFile)
    }

    private var sink: Sink
    public var level: LogLevel

    public init(console: ConsoleWriter, level: LogLevel = .info) {
        sink = .console(console)
        self.level = level
    }

    /// A fault on the file (full disk, rotation blocked) is said once on
    /// `fallback` (drover's stderr), where an operator can still see it.
    public init(file: RotatingLogFile, level: LogLevel = .info, fallback: ConsoleWriter? = nil) {
        sink = .file(file)
        self.level = level
        if let fallback {
            file.onFault = { [unowned fallback] message in
                fallback.write("\(WallClock.timestamp()) \(LogLevel.warn.label) drover \(message)\n")
            }
        }
    }

    public func log(_ level: LogLevel, _ subject: String, _ message: String) {
        guard level >= self.level else { return }
        let line = "\(WallClock.timestamp()) \(level.label) \(subject) \(message)\n"
        switch sink {
        case .console(let writer): writer.write(line)
        case .file(let file): file.write(line)
        }
    }

    public func info(_ subject: String, _ message: String) { log(.info, subject, message) }
    public func warn(_ subject: String, _ message: String) { log(.warn, subject, message) }
    public func error(_ subject: String, _ message: String) { log(.error, subject, message) }
    public func debug(_ subject: String, _ message: String) { log(.debug, subject, message) }

    public func reopen() {
        if case .file(let file) = sink { file.reopen() }
    }
}
