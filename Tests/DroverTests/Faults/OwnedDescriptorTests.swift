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

/// The move-only descriptor: closed exactly once, by `close()`, by going out
/// of scope on an error path, or by its new owner; never leaked.
@Suite struct OwnedDescriptorTests {
    static func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }

    struct Planned: Error {}

    static func openThenFail(_ raw: inout Int32) throws {
        let fd = try OwnedDescriptor.open("/dev/null", O_RDONLY)
        raw = fd.rawValue
        // An error after the descriptor was made: no close written, none needed.
        throw Planned()
    }

    @Test func anErrorPathClosesWhatWasOpened() throws {
        var raw: Int32 = -1
        #expect(throws: Planned.self) { try Self.openThenFail(&raw) }
        #expect(raw >= 0)
        #expect(!Self.isOpen(raw), "dropped on the throw, so closed")
    }

    @Test func closeAndReleaseAreExplicitHandOffs() throws {
        let first = try OwnedDescriptor.open("/dev/null", O_RDONLY)
        let raw = first.rawValue
        #expect(Self.isOpen(raw))
        first.close()
        #expect(!Self.isOpen(raw))

        let second = try OwnedDescriptor.open("/dev/null", O_RDONLY)
        let view = second.release()
        #expect(Self.isOpen(view.rawValue), "released: the new owner closes it")
        view.close()
    }

    @Test func aPipeWhoseSpawnNeverHappenedIsClosedWhole() throws {
        var ends: (Int32, Int32) = (-1, -1)
        do {
            let pipe = try PipePair(nonblockingRead: true)
            ends = (pipe.readEnd.rawValue, pipe.writeEnd.rawValue)
            #expect(Self.isOpen(ends.0) && Self.isOpen(ends.1))
        }
        #expect(!Self.isOpen(ends.0) && !Self.isOpen(ends.1))
    }

    @Test func openFailureNamesThePath() {
        do {
            let fd = try OwnedDescriptor.open("/nonexistent/dir/file", O_RDONLY)
            fd.close()
            Issue.record("opened a path that does not exist")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description.contains("/nonexistent/dir/file"))
        }
    }

    @Test func droversOwnLogSaysItsFaultOnceOnStderr() throws {
        // drover's own logfile on a full disk (/dev/full): the fault is said
        // once on the fallback (drover's stderr, a file here), not per line.
        let dir = TempDir("ownlog")
        defer { dir.cleanup() }
        let stderrPath = dir.file("stderr")
        let stderrFD = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        #expect(stderrFD >= 0)
        defer { close(stderrFD) }
        let fallback = ConsoleWriter(descriptor: FileDescriptor(rawValue: stderrFD), reactor: nil)
        let file = try RotatingLogFile(path: "/dev/full", maxBytes: 0, backups: 0)
        let log = EventLog(file: file, level: .info, fallback: fallback)
        for index in 0..<200 { log.info("test", "event \(index)") }
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n").filter { $0.contains("cannot write log file /dev/full") }
        #expect(lines.count == 1, "\(text)")
        #expect(lines.first?.contains("No space left on device") == true)
        #expect(file.failedCalls == 1, "later lines wait for the retry interval instead of failing again")
    }
}
