import Foundation
import Glibc
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

    // Accepted and connected sockets are owned the same way (issue 14 item 7).

    @Test func aConnectionOwnsItsSocketFromTheStart() throws {
        let reactor = try Reactor()
        let (ours, theirs) = makeSocketPair()
        defer { Glibc.close(theirs) }
        do {
            // Never started nor closed: dropping it closes the socket.
            _ = StreamConnection(socket: OwnedDescriptor(adopting: ours), reactor: reactor)
        }
        #expect(!Self.isOpen(ours), "the dropped connection closed its socket")
        let (mine, peer) = makeSocketPair()
        defer { Glibc.close(peer) }
        let connection = StreamConnection(socket: OwnedDescriptor(adopting: mine), reactor: reactor)
        try connection.start()
        connection.close()
        #expect(!Self.isOpen(mine))
        connection.close()
        #expect(connection.fd.rawValue == mine, "the number stays as a name; closed once")
    }

    @Test func anAcceptedSocketTheHandlerDropsIsClosed() throws {
        let driver = try LoopDriver()
        let listener = try Listener.tcp(host: "127.0.0.1", port: 0)
        let bound = Listener.localPort(listener)
        let port = try #require(bound)
        var accepted: [Int32] = []
        let acceptor = try Acceptor(listener: listener, reactor: driver.reactor, onError: { _ in }) { client, _ in
            accepted.append(client.rawValue)  // and dropped: the handler owned it
        }
        let client = try #require(WireClient.tcp(port))
        driver.when("accepted") { !accepted.isEmpty }
        #expect(driver.run() == nil)
        #expect(accepted.count == 1 && !Self.isOpen(accepted[0]))
        #expect(client.waitForClose(timeout: 3).ending == .eof, "the client sees the drop as a close")
        let number = acceptor.listener.rawValue
        acceptor.close()
        #expect(!Self.isOpen(number), "the acceptor owned its listener")
    }
}
