// Typed readings of config values, with supervisord's datatypes (options.py /
// datatypes.py) so a value supervisord accepts means the same here. Each
// parser returns the value or a message for the diagnostic.

import Glibc

public enum ConfigValues {
    /// supervisord's `boolean`: true/yes/on/1, false/no/off/0, any case.
    public static func boolean(_ text: String) -> Result<Bool, ConfigValueError> {
        switch text.pyStripped.lowercased() {
        case "true", "yes", "on", "1": .success(true)
        case "false", "no", "off", "0": .success(false)
        default: .failure(ConfigValueError("'\(text)' is not a boolean (true/false, yes/no, on/off, 1/0)"))
        }
    }

    /// Python's int(): surrounding spaces, a sign and `_` separators allowed.
    public static func integer(_ text: String) -> Result<Int, ConfigValueError> {
        let t = text.pyStripped.configReplacingAll("_", with: "")
        guard let n = Int(t.hasPrefix("+") ? String(t.dropFirst()) : t) else {
            return .failure(ConfigValueError("'\(text)' is not an integer"))
        }
        return .success(n)
    }

    public static func integer(_ text: String, min: Int, max: Int = Int.max) -> Result<Int, ConfigValueError> {
        integer(text).flatMap { n in
            n >= min && n <= max ? .success(n)
                : .failure(ConfigValueError(max == Int.max ? "\(n) is below \(min)" : "\(n) is not within \(min)...\(max)"))
        }
    }

    /// supervisord's `byte_size`: a number with an optional KB/MB/GB suffix
    /// (powers of 1024, any case). drover also takes B and TB.
    public static func byteSize(_ text: String) -> Result<Int, ConfigValueError> {
        let t = text.pyStripped.lowercased()
        let suffixes: [(String, Int)] = [("tb", 1 << 40), ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("b", 1)]
        for (suffix, multiplier) in suffixes where t.hasSuffix(suffix) {
            let number = String(t.dropLast(suffix.count)).pyStripped
            if let n = Int(number), n >= 0 { return .success(n * multiplier) }
            if let d = Double(number), d >= 0, d.isFinite { return .success(Int(d * Double(multiplier))) }
            return .failure(ConfigValueError("'\(text)' is not a size (e.g. 50MB, 16KB, 2GB)"))
        }
        if let n = Int(t), n >= 0 { return .success(n) }
        return .failure(ConfigValueError("'\(text)' is not a size (e.g. 50MB, 16KB, 2GB)"))
    }

    /// drover's durations: `100ms`, `5s`, `2m`, `1h`, or a bare number of
    /// seconds (so supervisord's integer `startsecs=10` still reads).
    public static func duration(_ text: String) -> Result<Double, ConfigValueError> {
        let t = text.pyStripped.lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, scale) in units where t.hasSuffix(unit) {
            if let d = Double(String(t.dropLast(unit.count)).pyStripped), d >= 0, d.isFinite {
                return .success(d * scale)
            }
            break
        }
        if let d = Double(t), d >= 0, d.isFinite { return .success(d) }
        return .failure(ConfigValueError("'\(text)' is not a duration (e.g. 100ms, 5s, 2m, 1h, or seconds)"))
    }

    /// Linux signal numbers by name, for `stopsignal` and `drover signal`.
    public static let signalNumbers: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP, "ABRT": SIGABRT,
        "IOT": SIGABRT, "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL, "USR1": SIGUSR1, "SEGV": SIGSEGV,
        "USR2": SIGUSR2, "PIPE": SIGPIPE, "ALRM": SIGALRM, "TERM": SIGTERM, "STKFLT": SIGSTKFLT,
        "CHLD": SIGCHLD, "CLD": SIGCHLD, "CONT": SIGCONT, "STOP": SIGSTOP, "TSTP": SIGTSTP, "TTIN": SIGTTIN,
        "TTOU": SIGTTOU, "URG": SIGURG, "XCPU": SIGXCPU, "XFSZ": SIGXFSZ, "VTALRM": SIGVTALRM,
        "PROF": SIGPROF, "WINCH": SIGWINCH, "IO": SIGIO, "POLL": SIGIO, "PWR": SIGPWR, "SYS": SIGSYS,
    ]

    /// supervisord's `signal_number`: a number, or a name with or without `SIG`.
    public static func signal(_ text: String) -> Result<Int32, ConfigValueError> {
        let t = text.pyStripped
        if let n = Int32(t) {
            return n > 0 && n < 65 ? .success(n) : .failure(ConfigValueError("\(n) is not a signal number"))
        }
        var name = t.uppercased()
        if name.hasPrefix("SIG") { name = String(name.dropFirst(3)) }
        if let n = signalNumbers[name] { return .success(n) }
        return .failure(ConfigValueError("'\(text)' is not a signal name (TERM, INT, QUIT, HUP, KILL, USR1, USR2, …)"))
    }

    /// supervisord's `list_of_exitcodes`: comma-separated 0...255.
    public static func exitcodes(_ text: String) -> Result<[Int32], ConfigValueError> {
        var codes: [Int32] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let n = Int32(String(part).pyStripped), (0...255).contains(n) else {
                return .failure(ConfigValueError("'\(text)' is not a list of exit codes 0-255 (e.g. 0,2)"))
            }
            codes.append(n)
        }
        return .success(codes)
    }

    /// supervisord's `octal_type` (umask, chmod).
    public static func octal(_ text: String) -> Result<UInt32, ConfigValueError> {
        var t = text.pyStripped
        if t.lowercased().hasPrefix("0o") { t = String(t.dropFirst(2)) }
        guard let n = UInt32(t, radix: 8), n <= 0o7777 else {
            return .failure(ConfigValueError("'\(text)' is not an octal mode (e.g. 022, 0700)"))
        }
        return .success(n)
    }

    /// supervisord's `auto_restart`.
    public static func autorestart(_ text: String) -> Result<AutoRestart, ConfigValueError> {
        switch text.pyStripped.lowercased() {
        case "false", "no", "off", "0": .success(.never)
        case "true", "yes", "on", "1": .success(.always)
        case "unexpected": .success(.unexpected)
        default: .failure(ConfigValueError("'\(text)' is not one of true, false, unexpected"))
        }
    }

    /// supervisord's log levels, plus their four-letter labels and `warning`.
    public static func logLevel(_ text: String) -> Result<LogLevel, ConfigValueError> {
        switch text.pyStripped.lowercased() {
        case "trace", "trac", "blather", "blat": .success(.trace)
        case "debug", "debg": .success(.debug)
        case "info": .success(.info)
        case "warn", "warning": .success(.warn)
        case "error", "erro": .success(.error)
        case "critical", "crit": .success(.critical)
        default: .failure(ConfigValueError("'\(text)' is not a log level (critical, error, warn, info, debug, trace)"))
        }
    }

    /// `HOST:PORT`, `:PORT` (every interface), `[v6]:PORT`, or `unix:/path`.
    public static func listenAddress(_ text: String) -> Result<ListenAddress, ConfigValueError> {
        let t = text.pyStripped
        if t.hasPrefix("unix:") {
            var path = String(t.dropFirst(5))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }  // unix:///path, as serverurl writes it
            guard path.hasPrefix("/") else { return .failure(ConfigValueError("'\(text)': unix: needs an absolute path")) }
            return .success(.unix(path: path))
        }
        guard let colon = t.lastIndex(of: ":") else {
            return .failure(ConfigValueError("'\(text)' is not HOST:PORT, :PORT or unix:/path"))
        }
        var host = String(t[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "*" { host = "0.0.0.0" }
        guard let port = Int(t[t.index(after: colon)...]), (0...65535).contains(port) else {
            return .failure(ConfigValueError("'\(text)': the port must be a number 0-65535"))
        }
        return .success(.tcp(host: host, port: port))
    }

    /// `10r/s`, `600r/m`, with an optional ` burst=20` (nginx's limit_req).
    public static func rateLimit(_ text: String) -> Result<RateLimit?, ConfigValueError> {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }).map(String.init)
        guard let rate = parts.first else { return .success(nil) }
        if parts.count == 1 && ["off", "none", "0"].contains(rate.lowercased()) { return .success(nil) }
        let bad = ConfigValueError("'\(text)' is not a rate limit (e.g. `10r/s burst=20`, `600r/m`)")
        let lower = rate.lowercased()
        let perUnit: Double
        if lower.hasSuffix("r/s") { perUnit = 1 } else if lower.hasSuffix("r/m") { perUnit = 60 } else { return .failure(bad) }
        guard let n = Double(lower.dropLast(3)), n > 0, n.isFinite else { return .failure(bad) }
        var burst = 0
        for extra in parts.dropFirst() {
            guard extra.lowercased().hasPrefix("burst="), let b = Int(extra.dropFirst(6)), b >= 0 else { return .failure(bad) }
            burst = b
        }
        return .success(RateLimit(perSecond: n / perUnit, burst: burst))
    }

    /// `off`, or a path or `stdout`, optionally followed by `combined` or `json`.
    public static func accessLog(_ text: String) -> Result<AccessLog?, ConfigValueError> {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let target = parts.first, !["off", "none"].contains(target.lowercased()) || parts.count > 1 else {
            return .success(nil)
        }
        var format = AccessLog.Format.combined
        if parts.count == 2 {
            guard let f = AccessLog.Format(rawValue: parts[1].lowercased()) else {
                return .failure(ConfigValueError("'\(parts[1])' is not an access log format (combined, json)"))
            }
            format = f
        } else if parts.count > 2 {
            return .failure(ConfigValueError("'\(text)' is not `PATH|stdout [combined|json]`"))
        }
        return .success(AccessLog(target: target.lowercased() == "stdout" ? "stdout" : target, format: format))
    }
}

/// Why a value was refused; becomes the diagnostic's message.
public struct ConfigValueError: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

extension String {
    /// Python's str.strip().
    var pyStripped: String {
        var s = Substring(self)
        while let f = s.unicodeScalars.first, f.properties.isWhitespace { s = Substring(s.unicodeScalars.dropFirst()) }
        while let l = s.unicodeScalars.last, l.properties.isWhitespace { s = Substring(s.unicodeScalars.dropLast()) }
        return String(s)
    }

    func configReplacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
