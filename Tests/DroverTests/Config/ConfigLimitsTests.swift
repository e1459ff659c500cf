import Foundation
import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

/// Values out of range: every numeric, size and duration key is parsed into
/// a checked type and refused as `FILE:LINE: [section] key: message`, never
/// wrapped, never trapped (issue 8, "Values out of range crash it").
@Suite struct ConfigLimitsTests {
    /// Every numeric, size and duration key drover reads, with the section
    /// around it and the lines that must precede it there.
    static let keys: [(section: String, prefix: String, key: String)] = {
        let program = ("[program:x]", "command=/bin/x\nprocess_name=x%(process_num)s\nhealth_path=/h\n")
        let programKeys = ["numprocs", "numprocs_start", "priority", "startsecs", "startretries", "stopwaitsecs", "port",
                           "max_requests", "max_memory", "backoff_max", "stdout_logfile_maxbytes", "stdout_logfile_backups",
                           "stderr_logfile_maxbytes", "stderr_logfile_backups", "health_interval", "health_timeout",
                           "health_fails", "health_start_period", "exitcodes", "umask", "stopsignal"]
        let fcgi = ("[fcgi-program:f]", "command=/bin/f\nsocket=tcp://127.0.0.1:7000\n")
        let supervisord = ("[supervisord]", "")
        let supervisordKeys = ["logfile_maxbytes", "logfile_backups", "minfds", "minprocs", "shutdown_timeout", "umask"]
        let proxy = ("[program:w]\ncommand=/bin/w\nport=9000\n[proxy:p]", "listen=:8080\nupstream=w\n")
        let proxyKeys = ["max_inflight", "queue_size", "queue_timeout", "connect_timeout", "read_timeout", "client_timeout",
                         "keepalive_timeout", "retries", "client_max_body_size", "max_header_size", "rate_limit"]
        var all: [(section: String, prefix: String, key: String)] = []
        for key in programKeys { all.append((program.0, program.1, key)) }
        for key in ["socket_backlog", "numprocs"] { all.append((fcgi.0, fcgi.1, key)) }
        for key in supervisordKeys { all.append((supervisord.0, supervisord.1, key)) }
        for key in proxyKeys { all.append((proxy.0, proxy.1, key)) }
        all.append(("[program:m]\ncommand=/bin/m\n[group:g]", "programs=m\n", "priority"))
        all.append(("[unix_http_server]", "file=/tmp/x.sock\n", "chmod"))
        return all
    }()

    static let hostile = ["99999999999TB", "9223372036854775808", "18446744073709551616", "-9223372036854775809",
                          "1e300", "99999999999h", "-1", "nan", "inf", "0x7fffffffffffffff", "1.5e19", "9" + String(repeating: "9", count: 40)]

    @Test func everyNumericKeyRefusesHostileValuesWithFileLineSectionAndKey() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        for (section, prefix, key) in Self.keys {
            let head = section + "\n" + prefix
            let line = head.split(separator: "\n", omittingEmptySubsequences: false).count
            let sectionName = String(section.split(separator: "\n").last!.dropFirst().dropLast())
            // A negative priority is a priority (supervisord takes any int).
            for value in Self.hostile where !(key == "priority" && value == "-1") {
                let text = head + "\(key) = \(value)\n"
                do {
                    let config = try f.load(text, mode: .check)
                    // The few that a key may take (`-1` is no signal, …) must still be in range.
                    Issue.record("[\(sectionName)] \(key) = \(value) was accepted: \(config.programs.first?.processes.first as Any)")
                } catch {
                    let d = try #require(error.errors.first { $0.key == key }, "\(key) = \(value): \(error.errors)")
                    #expect(d.line == line && d.section == sectionName, "\(d)")
                    #expect(d.description.hasPrefix("\(f.main):\(line): [\(sectionName)] \(key): "), "\(d)")
                }
            }
        }
    }

    @Test func theIssuesValueIsRefusedAsTooLarge() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("[program:x]\ncommand=/bin/x\nstdout_logfile_maxbytes = 99999999999TB\n")
        #expect(e.errors.map(\.description) == ["\(f.main):3: [program:x] stdout_logfile_maxbytes: '99999999999TB' is too large (at most 1024TB)"])
    }

    @Test func valuesAtTheLimitsAreAccepted() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("""
            [supervisord]
            logfile_maxbytes = 1024TB
            shutdown_timeout = 3153600000s
            [program:x]
            command = /bin/x
            process_name = x%(process_num)s
            numprocs = 4096
            numprocs_start = 1000000000
            stopwaitsecs = 999999999
            startsecs = 0.25
            backoff_max = 1.5m
            max_requests = 9223372036854775807
            stdout_logfile_maxbytes = 0.5KB
            stdout_logfile_backups = 1000
            priority = -2147483648
            """)
        let p = try #require(c.programs.first)
        #expect(p.processes.count == 4096 && p.processes.last?.number == 1_000_004_095)
        let s = p.processes[0]
        #expect(s.stopwaitsecs == .seconds(999_999_999) && s.startsecs == .milliseconds(250) && s.backoffMax == .seconds(90))
        #expect(s.maxRequests == Int.max && s.priority == Int(Int32.min))
        #expect(s.stdout == .file(path: "/tmp/x_x1000000000-stdout.log", maxBytes: 512, backups: 1000))
        #expect(c.supervisord.logfileMaxBytes == 1 << 50 && c.supervisord.shutdownTimeout == .seconds(3_153_600_000))
        // One past each limit is refused.
        for (key, value) in [("numprocs", "4097"), ("numprocs_start", "1000000001"), ("stdout_logfile_backups", "1001"),
                             ("stopwaitsecs", "3153600001"), ("stdout_logfile_maxbytes", "1025TB")] {
            let e = f.errors("[program:x]\ncommand=/bin/x\nprocess_name=x%(process_num)s\n\(key) = \(value)\n")
            #expect(has(e.errors, line: 4, key: key, value), "\(key) = \(value): \(e.errors)")
        }
    }

    @Test func sizesAreCheckedInt64Arithmetic() throws {
        #expect(try ConfigValues.byteSize("1_000").get() == 1000)
        #expect(try ConfigValues.byteSize("0.5KB").get() == 512)
        #expect(try ConfigValues.byteSize("1.5GB").get() == 3 << 29)
        #expect(try ConfigValues.byteSize(" 7 b ").get() == 7)
        // 2^63 bytes overflows Int64 in the multiplication: refused, not wrapped.
        for text in ["8589934592GB", "8388608TB", "9223372036854775807KB", "9223372036854775808", "16777216TB"] {
            #expect(throws: ConfigValueError.self, "\(text)") { try ConfigValues.byteSize(text).get() }
        }
        #expect(try ConfigValues.byteSize("16MB", max: 16 << 20).get() == 16 << 20)
        #expect((try? ConfigValues.byteSize("17MB", max: 16 << 20).get()) == nil)
        #expect(ConfigValues.byteSize("-1KB") == .failure(ConfigValueError("'-1KB' is negative; a size is 0 or more")))
        #expect(ConfigValues.byteSize("1e3KB") == .failure(ConfigValueError("'1e3KB' is not a size (e.g. 50MB, 16KB, 2GB)")))
    }

    @Test func durationsAreDurationsWithoutDoubleOverflow() throws {
        #expect(try ConfigValues.duration("0.2").get() == .milliseconds(200))
        #expect(try ConfigValues.duration("1.5s").get() == .milliseconds(1500))
        #expect(try ConfigValues.duration("250ms").get() == .milliseconds(250))
        #expect(try ConfigValues.duration("0.000000001").get() == .nanoseconds(1))
        #expect(try ConfigValues.duration("1_0").get() == .seconds(10))
        #expect(try ConfigValues.duration("+3m").get() == .seconds(180))
        for text in ["1e300", "inf", "nan", "-1", "-0.5s", "99999999999h", "9223372036854775808", "1.", ".", "5 s s", ""] {
            #expect(throws: ConfigValueError.self, "\(text)") { try ConfigValues.duration(text).get() }
        }
        #expect(ConfigValues.duration("99999999999h") == .failure(ConfigValueError("'99999999999h' is too long (at most 3153600000s, 100 years)")))
    }

    @Test func integersPastIntAreOutOfRangeNotGarbage() throws {
        #expect(try ConfigValues.integer("9223372036854775807").get() == Int.max)
        #expect(try ConfigValues.integer("-9223372036854775808").get() == Int.min)
        #expect(try ConfigValues.integer(" +1_000 ").get() == 1000)
        #expect(ConfigValues.integer("9223372036854775808", in: 0...10) == .failure(ConfigValueError("9223372036854775808 is out of range: 0 to 10")))
        #expect(ConfigValues.integer("9223372036854775808") == .failure(ConfigValueError("9223372036854775808 is out of range (past a 64-bit integer)")))
        #expect(ConfigValues.integer("1__0") == .failure(ConfigValueError("'1__0' is not an integer")))
        #expect(throws: ConfigValueError.self) { try ConfigValues.integer("_1").get() }
        #expect(throws: ConfigValueError.self) { try ConfigValues.integer("1_").get() }
    }

    @Test func rateLimitsAndExpansionWidthsAreBounded() throws {
        #expect(throws: ConfigValueError.self) { try ConfigValues.rateLimit("10r/s burst=9223372036854775807").get() }
        #expect(throws: ConfigValueError.self) { try ConfigValues.rateLimit("1e300r/s").get() }
        #expect(throws: ConfigValueError.self) { try ConfigValues.rateLimit("1e-300r/s").get() }
        #expect(try ConfigValues.rateLimit("600r/m burst=1000000").get() == RateLimit(perSecond: 10, burst: 1_000_000))
        // A width Python would honour by building a gigabyte string.
        #expect(throws: ExpansionError.self) { try PercentExpansion.expand("%(n)999999999999999999999d", ["n": .int(1)]) }
        #expect(throws: ExpansionError.self) { try PercentExpansion.expand("%(n).4097s", ["n": .string("x")]) }
        #expect(try PercentExpansion.expand("%(n)04096d", ["n": .int(7)]).count == 4096)
    }

    @Test func includesAreRegularFilesOfBoundedSize() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        // /dev/zero used to be read until memory ran out.
        let c = try f.load("[program:a]\ncommand=/bin/a\n[include]\nfiles=/dev/zer*\n")
        #expect(c.programs.count == 1)
        #expect(has(c.warnings, line: 4, key: "files", "no file matches /dev/zer*"))
        let big = f.write("big.conf", "[program:b]\ncommand=/bin/b\n;" + String(repeating: "x", count: 17 << 20) + "\n")
        let e = f.errors("[program:a]\ncommand=/bin/a\n[include]\nfiles=\(big)\n")
        #expect(has(e.errors, line: 4, key: "files", "larger than 16MB"))
    }
}

/// Found by the config fuzzer through the start-up (issue 14 item 8): a
/// proxied pool's replacements start on `port … port + 2 × numprocs − 1`,
/// and with the pool at the top of the port space that range went past
/// 65535, so a rolling restart started a worker told `PORT=65536` and
/// probed port 0 (the port truncated to 16 bits).
@Suite struct ReplacementPortRangeTests {
    @Test func replacementsNeverTakeAPortPast65535() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let config = try f.load("""
            [program:web]
            command = /bin/w %(port)s
            port = 65535
            [proxy:front]
            listen = 127.0.0.1:8080
            upstream = web
            """)
        let web = try #require(config.programs.first)
        #expect(web.portRange == 65535..<65536, "\(String(describing: web.portRange))")
        #expect(config.warnings.contains { $0.line == 4 && $0.key == "upstream"
            && $0.message.contains("replacements of web would need port 65536, past 65535") }, "\(config.warnings)")
    }

    @Test func aPoolWithRoomForItsReplacementsIsNotWarnedAbout() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let config = try f.load("[program:web]\ncommand = /bin/w %(port)s\nport = 65534\n[proxy:front]\nlisten = 127.0.0.1:8080\nupstream = web\n")
        #expect(config.programs.first?.portRange == 65534..<65536)
        #expect(config.warnings.isEmpty, "\(config.warnings)")
    }
}
