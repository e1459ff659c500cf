import Glibc
import System

/// drover's own environment, read from `environ` (no Foundation in the daemon).
package enum ProcessEnvironment {
    package static func current() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }

    /// Absolute path of the running binary, for re-running it as `__exec-as`.
    package static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 { return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments.first ?? "drover"
    }
}

/// `drover __exec-as UID GID GROUPS -- CMD...`: the first step of a worker
/// with `user =`. posix_spawn cannot change identity, so the spawned drover
/// drops privileges (supplementary groups, gid, then uid: the order that
/// cannot be undone) and execs the command in place, keeping its pid.
package enum PrivilegeDrop {
    package static func execAs(_ arguments: [String]) -> Never {
        guard arguments.count >= 5, arguments[3] == "--",
              let uid = UInt32(arguments[0]), let gid = UInt32(arguments[1]) else {
            fail("usage: drover __exec-as UID GID GROUPS -- CMD...", 2)
        }
        let groups = arguments[2].split(separator: ",").compactMap { gid_t($0) }
        let argv = Array(arguments[4...])
        if setgroups(groups.count, groups) != 0 { fail("setgroups: \(String(cString: strerror(errno)))") }
        if setgid(gid) != 0 { fail("setgid(\(gid)): \(String(cString: strerror(errno)))") }
        if setuid(uid) != 0 { fail("setuid(\(uid)): \(String(cString: strerror(errno)))") }
        withCStringArray(argv) { pointer in
            _ = execvp(argv[0], pointer)
        }
        let code: Int32 = errno == ENOENT ? 127 : 126
        fail("cannot run \(argv[0]): \(String(cString: strerror(errno)))", code)
    }

    private static func fail(_ message: String, _ code: Int32 = 127) -> Never {
        let line = "drover: \(message)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
        exit(code)
    }
}
