// Typed readings of config values, with supervisord's datatypes (options.py /
// datatypes.py) so a value supervisord accepts means the same here. Each
// parser returns the value or a message for the diagnostic.

import Glibc

package enum ConfigValues {
    /// supervisord's `boolean`: true/yes/on/1, false/no/off/0, any case.
    package static func boolean(_ text: String) -> Result<Bool, ConfigValueError> {
        switch text.pyStripped.lowercased() {
        case "true", "yes", "on", "1": .success(true)
        case "false", "no", "off", "0": .success(false)
        default: .failure(ConfigValueError("'\(text)' is not a boolean (true/false, yes/no, on/off, 1/0)"))
        }
    }

    /// Python's int(): surrounding spaces, a sign and `_` separators
    /// allowed; anything past Int's range is refused, never wrapped.
    package static func integer(_ text: String) -> Result<Int, ConfigValueError> {
        integer(text, min: Int.min, max: Int.max)
    }

    package static func integer(_ text: String, min: Int, max: Int) -> Result<Int, ConfigValueError> {
        let t = text.pyStripped
        guard let (negative, digits) = pythonDigits(t) else {
            return .failure(ConfigValueError("'\(text)' is not an integer"))
        }
        // Accumulated as a magnitude with overflow checks: a value past Int
        // is "out of range", not a different number and not a trap.
        var magnitude: UInt64 = 0
        for d in digits {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return .failure(ConfigValueError(rangeMessage(text, min: min, max: max))) }
            magnitude = a
        }
        let value: Int
        if negative {
            guard magnitude <= UInt64(Int.max) + 1 else { return .failure(ConfigValueError(rangeMessage(text, min: min, max: max))) }
            value = magnitude == UInt64(Int.max) + 1 ? Int.min : -Int(magnitude)
        } else {
            guard magnitude <= UInt64(Int.max) else { return .failure(ConfigValueError(rangeMessage(text, min: min, max: max))) }
            value = Int(magnitude)
        }
        guard value >= min && value <= max else { return .failure(ConfigValueError(rangeMessage(text, min: min, max: max))) }
        return .success(value)
    }

    static func rangeMessage(_ text: String, min: Int, max: Int) -> String {
        let shown = text.pyStripped
        if min == Int.min && max == Int.max { return "\(shown) is out of range (past a 64-bit integer)" }
        if max == Int.max { return "\(shown) is out of range: at least \(min)" }
        if min == Int.min { return "\(shown) is out of range: at most \(max)" }
        return "\(shown) is out of range: \(min) to \(max)"
    }

    /// The sign and decimal digits of Python int() text (`_` only between
    /// digits); nil when it is not one.
    static func pythonDigits(_ t: String) -> (negative: Bool, digits: [UInt8])? {
        var scalars = Substring(t).unicodeScalars[...]
        var negative = false
        if let f = scalars.first, f == "+" || f == "-" { negative = f == "-"; scalars = scalars.dropFirst() }
        var digits: [UInt8] = []
        var previousUnderscore = true  // no leading `_`
        for c in scalars {
            if c == "_" {
                if previousUnderscore { return nil }
                previousUnderscore = true
            } else if c.value >= 48 && c.value <= 57 {
                digits.append(UInt8(c.value - 48))
                previousUnderscore = false
            } else {
                return nil
            }
        }
        guard !digits.isEmpty, !previousUnderscore else { return nil }
        return (negative, digits)
    }

    package static func integer(_ text: String, in range: ClosedRange<Int>) -> Result<Int, ConfigValueError> {
        integer(text, min: range.lowerBound, max: range.upperBound)
    }

    /// The largest size any key takes: 1024TB. Sizes are Int64 byte counts
    /// computed with overflow checks; this bound leaves every consumer room
    /// to add to them (a file's size plus a write) without overflow.
    package static let maxByteSize: Int64 = 1 << 50

    /// supervisord's `byte_size`: a number with an optional KB/MB/GB suffix
    /// (powers of 1024, any case). drover also takes B, TB and a decimal
    /// number (`1.5GB`). Out of range is refused, never wrapped or trapped.
    package static func byteSize(_ text: String, max: Int64 = maxByteSize) -> Result<Int, ConfigValueError> {
        let bad = ConfigValueError("'\(text)' is not a size (e.g. 50MB, 16KB, 2GB)")
        let t = text.pyStripped.lowercased()
        let suffixes: [(String, Int64)] = [("tb", 1 << 40), ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("b", 1)]
        var number = t
        var multiplier: Int64 = 1
        if let (suffix, m) = suffixes.first(where: { t.hasSuffix($0.0) }) {
            number = String(t.dropLast(suffix.count)).pyStripped
            multiplier = m
        }
        let tooLarge = ConfigValueError("'\(text.pyStripped)' is too large (at most \(describeSize(max)))")
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let (negative, wholeDigits) = pythonDigits(parts[0].isEmpty && parts.count == 2 ? "0" : parts[0]) else { return .failure(bad) }
        if negative { return .failure(ConfigValueError("'\(text.pyStripped)' is negative; a size is 0 or more")) }
        var whole: Int64 = 0
        for d in wholeDigits {
            let (m, o1) = whole.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return .failure(tooLarge) }
            whole = a
        }
        let (bytes, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow, bytes <= max else { return .failure(tooLarge) }
        var total = bytes
        if parts.count == 2 {
            // The fraction of one unit (< multiplier ≤ 2^40): Double is exact enough and cannot overflow here.
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.unicodeScalars.allSatisfy({ $0.value >= 48 && $0.value <= 57 }),
                  let f = Double("0." + fraction.prefix(18)) else { return .failure(bad) }
            let (sum, o) = total.addingReportingOverflow(Int64((f * Double(multiplier)).rounded(.down)))
            guard !o, sum <= max else { return .failure(tooLarge) }
            total = sum
        }
        return .success(Int(total))
    }

    /// `1024TB`, `16MB`, `100B`: the largest unit that divides the size.
    static func describeSize(_ bytes: Int64) -> String {
        for (suffix, m) in [("TB", Int64(1) << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] where bytes >= m && bytes % m == 0 {
            return "\(bytes / m)\(suffix)"
        }
        return "\(bytes)B"
    }

    /// The longest duration any key takes: 100 years, far beyond any real
    /// timeout (`stopwaitsecs = 999999999` still reads) and, in nanoseconds,
    /// far inside Int64 and the monotonic clock's UInt64.
    package static let maxDuration: Duration = .seconds(100 * 365 * 86_400)

    /// drover's durations: `100ms`, `5s`, `2m`, `1h`, or a bare number of
    /// seconds (so supervisord's integer `startsecs=10` still reads), with
    /// an optional decimal fraction (`0.2`, `1.5s`). Computed in integer
    /// nanoseconds with overflow checks; longer than `maxDuration` is refused.
    package static func duration(_ text: String, max: Duration = maxDuration) -> Result<Duration, ConfigValueError> {
        let t = text.pyStripped.lowercased()
        let bad = ConfigValueError("'\(text)' is not a duration (e.g. 100ms, 5s, 2m, 1h, or seconds)")
        let units: [(String, Int64)] = [("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000)]
        var number = t
        var unit: Int64 = 1_000_000_000
        if let (suffix, nanos) = units.first(where: { t.hasSuffix($0.0) }) {
            number = String(t.dropLast(suffix.count)).pyStripped
            unit = nanos
        }
        let maxNanos = Int64(max.components.seconds) * 1_000_000_000
        let tooLong = ConfigValueError("'\(text.pyStripped)' is too long (at most \(describeDuration(max)))")
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let (negative, wholeDigits) = pythonDigits(parts[0].isEmpty && parts.count == 2 ? "0" : parts[0]) else { return .failure(bad) }
        if negative { return .failure(ConfigValueError("'\(text.pyStripped)' is negative; a duration is 0 or more")) }
        var whole: Int64 = 0
        for d in wholeDigits {
            let (m, o1) = whole.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return .failure(tooLong) }
            whole = a
        }
        let (nanos, overflow) = whole.multipliedReportingOverflow(by: unit)
        guard !overflow, nanos <= maxNanos else { return .failure(tooLong) }
        var total = nanos
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.unicodeScalars.allSatisfy({ $0.value >= 48 && $0.value <= 57 }),
                  let f = Double("0." + fraction.prefix(18)) else { return .failure(bad) }
            // Less than one unit (≤ 1h in ns, 3.6e12): exact enough in a Double.
            let (sum, o) = total.addingReportingOverflow(Int64((f * Double(unit)).rounded()))
            guard !o, sum <= maxNanos else { return .failure(tooLong) }
            total = sum
        }
        return .success(.nanoseconds(total))
    }

    /// `100 years (3153600000s)`, `1h`, `30s`, `250ms`.
    static func describeDuration(_ d: Duration) -> String {
        let (seconds, atto) = d.components
        if seconds >= 365 * 86_400 && seconds % (365 * 86_400) == 0 && atto == 0 {
            return "\(seconds)s, \(seconds / (365 * 86_400)) years"
        }
        if atto == 0 { return "\(seconds)s" }
        return "\(seconds * 1000 + atto / 1_000_000_000_000_000)ms"
    }

    /// Linux signal numbers by name, for `stopsignal` and `drover signal`.
    package static let signalNumbers: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP, "ABRT": SIGABRT,
        "IOT": SIGABRT, "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL, "USR1": SIGUSR1, "SEGV": SIGSEGV,
        "USR2": SIGUSR2, "PIPE": SIGPIPE, "ALRM": SIGALRM, "TERM": SIGTERM, "STKFLT": SIGSTKFLT,
        "CHLD": SIGCHLD, "CLD": SIGCHLD, "CONT": SIGCONT, "STOP": SIGSTOP, "TSTP": SIGTSTP, "TTIN": SIGTTIN,
        "TTOU": SIGTTOU, "URG": SIGURG, "XCPU": SIGXCPU, "XFSZ": SIGXFSZ, "VTALRM": SIGVTALRM,
        "PROF": SIGPROF, "WINCH": SIGWINCH, "IO": SIGIO, "POLL": SIGIO, "PWR": SIGPWR, "SYS": SIGSYS,
    ]

    /// supervisord's `signal_number`: a number, or a name with or without `SIG`.
    package static func signal(_ text: String) -> Result<Int32, ConfigValueError> {
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
    package static func exitcodes(_ text: String) -> Result<[Int32], ConfigValueError> {
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
    package static func octal(_ text: String) -> Result<UInt32, ConfigValueError> {
        var t = text.pyStripped
        if t.lowercased().hasPrefix("0o") { t = String(t.dropFirst(2)) }
        guard let n = UInt32(t, radix: 8), n <= 0o7777 else {
            return .failure(ConfigValueError("'\(text)' is not an octal mode (e.g. 022, 0700)"))
        }
        return .success(n)
    }

    /// supervisord's `auto_restart`.
    package static func autorestart(_ text: String) -> Result<AutoRestart, ConfigValueError> {
        switch text.pyStripped.lowercased() {
        case "false", "no", "off", "0": .success(.never)
        case "true", "yes", "on", "1": .success(.always)
        case "unexpected": .success(.unexpected)
        default: .failure(ConfigValueError("'\(text)' is not one of true, false, unexpected"))
        }
    }

    /// supervisord's log levels, plus their four-letter labels and `warning`.
    package static func logLevel(_ text: String) -> Result<LogLevel, ConfigValueError> {
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
    package static func listenAddress(_ text: String) -> Result<ListenAddress, ConfigValueError> {
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
    package static func rateLimit(_ text: String) -> Result<RateLimit?, ConfigValueError> {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }).map(String.init)
        guard let rate = parts.first else { return .success(nil) }
        if parts.count == 1 && ["off", "none", "0"].contains(rate.lowercased()) { return .success(nil) }
        let bad = ConfigValueError("'\(text)' is not a rate limit (e.g. `10r/s burst=20`, `600r/m`)")
        let lower = rate.lowercased()
        let perUnit: Double
        if lower.hasSuffix("r/s") { perUnit = 1 } else if lower.hasSuffix("r/m") { perUnit = 60 } else { return .failure(bad) }
        guard let n = Double(lower.dropLast(3)), n > 0, n.isFinite else { return .failure(bad) }
        guard n / perUnit <= ConfigLimits.ratePerSecond else {
            return .failure(ConfigValueError("'\(rate)' is too high (at most \(Int(ConfigLimits.ratePerSecond))r/s)"))
        }
        guard n / perUnit >= 1.0 / 3600 else {
            return .failure(ConfigValueError("'\(rate)' is too low (at least one request an hour)"))
        }
        var burst = 0
        for extra in parts.dropFirst() {
            guard extra.lowercased().hasPrefix("burst=") else { return .failure(bad) }
            switch integer(String(extra.dropFirst(6)), in: ConfigLimits.rateBurst) {
            case .success(let b): burst = b
            case .failure(let e): return .failure(ConfigValueError("burst: " + e.message))
            }
        }
        return .success(RateLimit(perSecond: n / perUnit, burst: burst))
    }

    /// `off`, or a path or `stdout`, optionally followed by `combined` or `json`.
    package static func accessLog(_ text: String) -> Result<AccessLog?, ConfigValueError> {
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

/// The range of every numeric key, in one place. Each bound is what drover
/// can act on without overflow or an absurd allocation (a pool of a billion
/// workers, a rotation loop over 10^18 backups), well beyond real configs.
package enum ConfigLimits {
    /// numprocs, `scale`, `--workers`.
    package static let numprocs = 0...4096
    /// numprocs_start: process_num stays far from Int's end.
    package static let numprocsStart = 0...1_000_000_000
    package static let priority = Int(Int32.min)...Int(Int32.max)
    package static let startretries = 0...1_000_000
    /// *_logfile_backups: each rotation renames up to this many files.
    package static let backups = 0...1000
    package static let healthFails = 1...1_000_000
    package static let maxRequests = 0...Int.max
    package static let minfds = 0...(1 << 30)
    package static let minprocs = 0...(1 << 30)
    package static let port = 1...65535
    package static let maxInflight = 0...1_000_000
    package static let queueSize = 0...10_000_000
    package static let retries = 0...100
    package static let socketBacklog = 1...65535
    /// The proxy holds a whole request body in memory.
    package static let clientMaxBodySize: Int64 = 1 << 34  // 16GB
    package static let maxHeaderSize: Int64 = 1 << 20      // 1MB
    package static let rateBurst = 0...1_000_000
    package static let ratePerSecond = 1_000_000.0
}

extension Duration {
    /// The config's Duration as Double seconds, for the consumers that
    /// still count in seconds (always finite: config durations are bounded).
    package var configSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Why a value was refused; becomes the diagnostic's message.
package struct ConfigValueError: Error, Sendable, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
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
