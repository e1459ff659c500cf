import Config
import Glibc
import Logs
import System

/// `access_log = PATH|stdout [combined|json]`: one line per answered
/// request with HAProxy's two timers split out: time queued (Tw) and time
/// at the worker (Tr), plus the request id and the worker that served it.
final class AccessLogWriter {
    private let format: AccessLog.Format
    private let console: ConsoleWriter?
    private let file: RotatingLogFile?

    init(_ settings: AccessLog, console: ConsoleWriter) throws(SystemError) {
        format = settings.format
        if settings.target == "stdout" {
            self.console = console
            file = nil
        } else {
            self.console = nil
            file = try RotatingLogFile(path: settings.target, maxBytes: 0, backups: 0)
        }
    }

    func reopen() { file?.reopen() }

    func record(_ exchange: Exchange, worker: String?, proxy: String) {
        let now = Instant.now
        let queued = (exchange.dispatchedAt ?? now).duration(since: exchange.receivedAt).secondsValue
        let upstream = exchange.dispatchedAt.map { (exchange.respondedAt ?? now).duration(since: $0).secondsValue }
        var line: String
        switch format {
        case .combined:
            line = "\(exchange.clientAddress.isEmpty ? "-" : exchange.clientAddress) - - [\(Self.commonLogTime())] "
            line += "\"\(Self.escaped(exchange.requestLine))\" \(exchange.status) \(exchange.bytesToClient) "
            line += "\"\(Self.escaped(exchange.referer.isEmpty ? "-" : exchange.referer))\" \"\(Self.escaped(exchange.userAgent.isEmpty ? "-" : exchange.userAgent))\""
            line += " rid=\(exchange.requestID) tq=\(Self.millis(queued)) tu=\(upstream.map(Self.millis) ?? "-")"
            line += " worker=\(worker ?? "-") retries=\(exchange.retried) proxy=\(proxy)\n"
        case .json:
            line = "{\"time\":\"\(WallClock.timestamp())\",\"proxy\":"
            JSONText.appendQuoted(proxy, to: &line)
            line += ",\"client\":"
            JSONText.appendQuoted(exchange.clientAddress, to: &line)
            line += ",\"request\":"
            JSONText.appendQuoted(exchange.requestLine, to: &line)
            line += ",\"status\":\(exchange.status),\"bytes\":\(exchange.bytesToClient),\"request_id\":"
            JSONText.appendQuoted(exchange.requestID, to: &line)
            line += ",\"queue_ms\":\(Self.millis(queued)),\"upstream_ms\":\(upstream.map(Self.millis) ?? "null"),\"worker\":"
            if let worker { JSONText.appendQuoted(worker, to: &line) } else { line += "null" }
            line += ",\"retries\":\(exchange.retried),\"user_agent\":"
            JSONText.appendQuoted(exchange.userAgent, to: &line)
            line += "}\n"
        }
        if let console {
            console.write(line)
        } else if let file {
            var bytes = line
            bytes.withUTF8 { file.write(UnsafeRawBufferPointer($0)) }
        }
    }

    private static func millis(_ seconds: Double) -> String {
        let ms = (seconds * 10_000).rounded() / 10
        return String(ms)
    }

    /// Quotes and backslashes escaped, control bytes as \xHH (nginx's escaping).
    private static func escaped(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out += "\\" + String(UnicodeScalar(byte))
            } else if byte < 0x20 || byte >= 0x7F {
                let hex = String(byte, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
            } else {
                out.unicodeScalars.append(UnicodeScalar(byte))
            }
        }
        return out
    }

    /// `01/Dec/2026:04:11:06 +0000`
    private static func commonLogTime() -> String {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var seconds = time_t(WallClock.nowNanoseconds() / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return "\(WallClock.pad(parts.tm_mday))/\(months[Int(parts.tm_mon)])/\(parts.tm_year + 1900):"
            + "\(WallClock.pad(parts.tm_hour)):\(WallClock.pad(parts.tm_min)):\(WallClock.pad(parts.tm_sec)) +0000"
    }
}
