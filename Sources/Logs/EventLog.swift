import Config
import System

/// drover's own log: one event per line, `TIME LEVEL PROCESS message`,
/// to `[supervisord] logfile` or, by default, stdout.
package final class EventLog {
    private enum Sink {
        case console(ConsoleWriter)
        case file(RotatingLogFile)
    }

    private var sink: Sink
    package var level: LogLevel

    package init(console: ConsoleWriter, level: LogLevel = .info) {
        sink = .console(console)
        self.level = level
    }

    /// A fault on the file (full disk, rotation blocked) is said once on
    /// `fallback` (drover's stderr), where an operator can still see it.
    package init(file: RotatingLogFile, level: LogLevel = .info, fallback: ConsoleWriter? = nil) {
        sink = .file(file)
        self.level = level
        if let fallback {
            file.onFault = { [unowned fallback] message in
                fallback.write("\(WallClock.timestamp()) \(LogLevel.warn.label) drover \(message)\n")
            }
        }
    }

    package func log(_ level: LogLevel, _ subject: String, _ message: String) {
        guard level >= self.level else { return }
        let line = "\(WallClock.timestamp()) \(level.label) \(subject) \(message)\n"
        switch sink {
        case .console(let writer): writer.write(line)
        case .file(let file): file.write(line)
        }
    }

    package func info(_ subject: String, _ message: String) { log(.info, subject, message) }
    package func warn(_ subject: String, _ message: String) { log(.warn, subject, message) }
    package func error(_ subject: String, _ message: String) { log(.error, subject, message) }
    package func debug(_ subject: String, _ message: String) { log(.debug, subject, message) }

    package func reopen() {
        if case .file(let file) = sink { file.reopen() }
    }
}
