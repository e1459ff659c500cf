import Glibc
import System

/// Path helpers on plain strings and stat(2): the config layer stays on
/// FoundationEssentials, which has no NSString path methods.
package enum ConfigPaths {
    /// `dirname`: "" for a bare name, "/" for a top-level path.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        var dir = String(path[..<slash])
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        return dir
    }

    static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        if name.hasPrefix("/") { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Exists and is not a directory (a file, a device, a fifo…).
    static func isNonDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFDIR
    }

    /// A regular file (after symlinks): what an [include] glob may pull in,
    /// never a device such as /dev/zero or a fifo that never ends.
    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }
}

extension ConfigPaths {
    package static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The line `run` and `check` print for a config file that is not
    /// there, naming it once (absolute) and what to type instead; nil when
    /// something is at the path (reading it reports anything else).
    package static func missingConfigAdvice(_ path: String, commandInstead: Bool) -> String? {
        guard !exists(path) else { return nil }
        let absolute = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
        let instead = commandInstead ? ", or run a command without one: drover run -- CMD ARGS" : ""
        return "no config file at \(absolute): give one with -c FILE\(instead)"
    }

    static func isReadable(_ path: String) -> Bool {
        access(path, R_OK) == 0
    }

    package static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(cString: buffer)
    }

    /// The largest config file drover reads (a device or a runaway
    /// generator must not fill memory).
    static let maxConfigBytes = 16 << 20

    /// The whole file, or the errno that stopped the read (EFBIG past `maxBytes`).
    static func read(_ path: String, maxBytes: Int = maxConfigBytes) -> Result<[UInt8], SystemError> {
        let fd: FileDescriptor
        do throws(SystemError) { fd = try FileDescriptor.open(path, O_RDONLY) } catch { return .failure(error) }
        defer { fd.close() }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let result: FileDescriptor.ReadResult
            do throws(SystemError) { result = try fd.read(into: &chunk) } catch { return .failure(error) }
            switch result {
            case .bytes(let n):
                contents.append(contentsOf: chunk[..<n])
                if contents.count > maxBytes { return .failure(SystemError("read", errno: EFBIG, context: path)) }
            case .endOfFile, .wouldBlock: return .success(contents)
            }
        }
    }

    static func readText(_ path: String) -> String? {
        guard case .success(let bytes) = read(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
