import Foundation
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
import Testing

/// A log file whose rotation, open or write fails: nothing loops, the fault
/// is said once, output is dropped (the ring buffer keeps it) and the file
/// is written again when the fault goes.
@Suite struct LogFaultTests {
    // MARK: In process: the file object alone, counting system calls

    @Test(.timeLimit(.minutes(1)))
    func blockedRotationIsTriedOncePerIntervalNotInALoop() throws {
        let dir = TempDir("rotunit")
        defer { dir.cleanup() }
        let path = dir.file("app.log")
        try FileManager.default.createDirectory(atPath: path + ".1", withIntermediateDirectories: false)
        var faults: [String] = []
        let file = RotatingLogFile(path: path, maxBytes: 100, backups: 1) { faults.append($0) }
        let line = Array("0123456789012345678901234567890123456789\n".utf8)
        // The old code retried the rename forever inside the first write past 100 bytes.
        for _ in 0..<1000 { line.withUnsafeBytes { file.write($0) } }
        #expect(file.failedCalls == 1, "one failed rename, then writes are dropped until the retry interval passes")
        #expect(faults.count == 1)
        #expect(faults.first?.contains("cannot rotate log file \(path)") == true)
        #expect(faults.first?.contains("Is a directory") == true)
        #expect(file.droppedBytes > 30_000)
        #expect(file.isFailing)
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
        #expect(size <= 100, "the file never grows past maxBytes")

        // Still blocked after the interval: one more attempt, nothing more said.
        usleep(UInt32(RotatingLogFile.retryInterval.secondsValue * 1_100_000))
        for _ in 0..<100 { line.withUnsafeBytes { file.write($0) } }
        #expect(file.failedCalls == 2)
        #expect(faults.count == 1)

        // The fault goes: the next attempt rotates and says so once.
        try FileManager.default.removeItem(atPath: path + ".1")
        usleep(UInt32(RotatingLogFile.retryInterval.secondsValue * 1_100_000))
        for _ in 0..<10 { line.withUnsafeBytes { file.write($0) } }
        #expect(!file.isFailing)
        #expect(faults.count == 2)
        #expect(faults.last?.contains("is written again") == true)
        var isDirectory: ObjCBool = true
        #expect(FileManager.default.fileExists(atPath: path + ".1", isDirectory: &isDirectory) && !isDirectory.boolValue)
        file.close()
    }

    @Test func devicesAreNeverRotated() throws {
        // With maxbytes set, rotating /dev/null would rename it away (as root).
        let file = try RotatingLogFile(path: "/dev/null", maxBytes: 10, backups: 2)
        let line = Array("more than ten bytes\n".utf8)
        for _ in 0..<50 { line.withUnsafeBytes { file.write($0) } }
        #expect(file.failedCalls == 0)
        #expect(!FileManager.default.fileExists(atPath: "/dev/null.1"))
        file.close()
    }

    @Test func faultNoticeSaysOnceAndRateLimitsFlapping() {
        var notice = FaultNotice(quietPeriod: 30)
        let start = Instant.now
        #expect(notice.failed("disk full", now: start) == "disk full")
        #expect(notice.failed("disk full", now: start.adding(seconds: 1)) == nil)
        #expect(notice.succeeded() == "recovered after 2 failed attempts")
        // Back within the quiet period: counted, not said.
        #expect(notice.failed("disk full", now: start.adding(seconds: 5)) == nil)
        #expect(notice.succeeded() == nil)
        #expect(notice.failed("read-only", now: start.adding(seconds: 40))?.contains("1 earlier fault not logged") == true)
    }

    // MARK: Through the binary

    @Test func blockedRotationTargetKeepsDroverResponsiveAndRecovers() throws {
        let dir = TempDir("rotblock")
        defer { dir.cleanup() }
        let log = dir.file("chatty.log")
        try FileManager.default.createDirectory(atPath: log + ".1/inside", withIntermediateDirectories: true)
        let socket = dir.file("drover.sock")
        let drover = try DroverHarness(config: """
            [unix_http_server]
            file = \(socket)

            [program:chatty]
            command = /bin/sh -c 'i=0; while :; do i=$((i+1)); echo "line $i padding-padding-padding-padding-padding-padding"; [ $((i %% 20)) = 0 ] && sleep 0.01; done'
            stdout_logfile = \(log)
            stdout_logfile_maxbytes = 4KB
            stdout_logfile_backups = 1
            stdout_mirror = false
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("chatty", "cannot rotate log file \(log)", "Is a directory")
        // Before: the rename was retried forever, a whole core, and the control socket never answered.
        let cpu = Faults.cpuPercent(drover.pid, over: 1.5)
        #expect(cpu < 50, "drover used \(cpu)% of a core with its rotation blocked")
        #expect(Faults.controlLatency(socket) != nil, "the control socket answers")
        let tail = RawHTTP.get(unix: socket, "/v1/processes/chatty/log?lines=3")
        #expect(tail?.status == 200 && tail?.body.contains("line ") == true, "the ring buffer keeps the output for tail")
        #expect(Faults.count(drover, "cannot rotate log file") == 1, "said once")

        try FileManager.default.removeItem(atPath: log + ".1")
        drover.waitForLine("chatty", "log file \(log) is written again")
        var isDirectory: ObjCBool = true
        #expect(waitUntil { FileManager.default.fileExists(atPath: log + ".1", isDirectory: &isDirectory) && !isDirectory.boolValue },
                "rotation works again")
        #expect(Faults.count(drover, "cannot rotate log file") == 1)
        #expect(drover.process.isRunning)
    }

    @Test func readOnlyLogDirectoryIsSaidOnceAndRecovers() throws {
        let dir = TempDir("rolog")
        defer {
            chmod(dir.file("logs"), 0o755)
            dir.cleanup()
        }
        try FileManager.default.createDirectory(atPath: dir.file("logs"), withIntermediateDirectories: true)
        let log = dir.file("logs/chatty.log")
        let socket = dir.file("drover.sock")
        let config = dir.write("supervisor.conf", """
            [unix_http_server]
            file = \(socket)

            [program:chatty]
            command = /bin/sh -c 'i=0; while :; do i=$((i+1)); echo "line $i padding-padding-padding-padding-padding-padding"; [ $((i %% 20)) = 0 ] && sleep 0.01; done'
            stdout_logfile = \(log)
            stdout_logfile_maxbytes = 4KB
            stdout_logfile_backups = 2
            stdout_mirror = false
            """)
        let (executable, arguments) = Faults.withoutPermissionOverride(["run", "-c", config])
        let drover = try DroverHarness(arguments: arguments, directory: dir.path, executable: executable)
        defer { drover.terminate() }
        #expect(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: log + ".1") }, "rotating while writable")
        #expect(chmod(dir.file("logs"), 0o555) == 0)
        drover.waitForLine("chatty", "cannot rotate log file \(log)", "Permission denied")
        let cpu = Faults.cpuPercent(drover.pid, over: 1.5)
        #expect(cpu < 50, "drover used \(cpu)% of a core with its log directory read-only")
        #expect(Faults.controlLatency(socket) != nil)
        #expect(Faults.count(drover, "cannot rotate log file") == 1, "said once")

        #expect(chmod(dir.file("logs"), 0o755) == 0)
        drover.waitForLine("chatty", "log file \(log) is written again")
        #expect(drover.process.isRunning)
    }
}
