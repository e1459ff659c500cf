import Foundation
import Testing
@testable import Config

/// Whatever `drover check` accepts, `drover run` starts or refuses with a
/// message; values that once crashed the start (issue 14) are read as
/// errors that say what to write instead.
@Suite struct StartupRefusalTests {
    @Test(arguments: [
        ("", "chown is empty"),
        (":docker", "names no user"),
        ("app:", "names no group"),
        ("app:docker:x", "more than one ':'"),
    ])
    func badSocketOwnersAreErrorsWithTheLine(owner: String, message: String) {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let errors = f.errors("[unix_http_server]\nfile=%(here)s/drover.sock\nchown=\(owner)\n[program:a]\ncommand=/bin/true\n")
        #expect(has(errors.errors, line: 3, key: "chown", message), "\(errors.errors)")
    }

    @Test func socketOwnersParse() throws {
        #expect(try SocketOwner.parse("app").get() == SocketOwner(user: "app", group: nil))
        #expect(try SocketOwner.parse("app:docker").get() == SocketOwner(user: "app", group: "docker"))
    }

    @Test func emptyChownIsRefusedByCheckAndRunNotACrash() throws {
        // Before: check said OK and run died of SIGILL (an index out of range).
        let dir = TempDir("chown-empty")
        defer { dir.cleanup() }
        let path = dir.write("supervisor.conf", "[unix_http_server]\nfile = %(here)s/drover.sock\nchown =\n\n[program:a]\ncommand = /bin/sleep 5\n")
        let check = try runCommand(Binaries.drover, ["check", "-c", path])
        #expect(check.status == 1 && check.stderr.contains("supervisor.conf:3: [unix_http_server] chown: chown is empty"), "\(check.stderr)")
        let run = try runCommand(Binaries.drover, ["run", "-c", path], timeout: 10)
        #expect(run.status == 1 && run.stderr.contains("chown is empty"), "status \(run.status): \(run.stderr)")
    }

    @Test func checkWarnsWhenACommandIsNotFound() throws {
        let dir = TempDir("check-missing")
        defer { dir.cleanup() }
        let path = dir.write("supervisor.conf", """
            [program:web]
            command = gunicorn app:app --bind 127.0.0.1:%(port)s
            port = 8000

            [program:local]
            command = ./serve.sh
            directory = %(here)s

            [program:found]
            command = sleep 5
            """)
        let check = try runCommand(Binaries.drover, ["check", "-c", path], environment: ["PATH": "/usr/bin:/bin"])
        #expect(check.status == 0, "a warning, not an error: \(check.stderr)")
        #expect(check.stderr.contains("[program:web] command: 'gunicorn' is not found in PATH=/usr/bin:/bin (a virtualenv that is not activated?"), "\(check.stderr)")
        #expect(check.stderr.contains("[program:local] command: \(dir.path)/./serve.sh (from \(dir.path)) does not exist"), "\(check.stderr)")
        #expect(!check.stderr.contains("[program:found]"), "\(check.stderr)")
    }
}
