import Glibc
import System

/// The admin listener's `Authorization: Bearer TOKEN` check (SPEC §6), and
/// loading the token from `admin_token_file`.
package enum BearerToken {
    /// True when the header carries exactly `token` under the Bearer scheme
    /// (scheme case-insensitive, RFC 7235). The comparison takes the same
    /// time wherever the first differing byte is, and scans the whole
    /// expected token even when the lengths differ, so response timing tells
    /// an attacker nothing about how much of a guess was right.
    package static func matches(authorizationHeader: String?, token: [UInt8]) -> Bool {
        guard !token.isEmpty, let header = authorizationHeader,
              let presented = credentials(inBearerHeader: Array(header.utf8)) else { return false }
        return constantTimeEqual(presented, token)
    }

    /// The credentials of a `Bearer xyz` header value: surrounding whitespace
    /// dropped, one or more spaces after the scheme; nil for another scheme
    /// or no credentials.
    static func credentials(inBearerHeader header: [UInt8]) -> ArraySlice<UInt8>? {
        let value = trimmed(header[...])
        let scheme = Array("bearer".utf8)
        guard value.count > scheme.count else { return nil }
        for (offset, expected) in scheme.enumerated() {
            let byte = value[value.startIndex + offset]
            // ASCII lower-casing: only letters reach here when equal.
            guard byte | 0x20 == expected else { return nil }
        }
        let rest = value.dropFirst(scheme.count)
        guard let first = rest.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") else { return nil }
        let credentials = trimmed(rest)
        return credentials.isEmpty ? nil : credentials
    }

    /// Compares every byte of `expected`, whatever `presented` holds: no early exit.
    static func constantTimeEqual(_ presented: ArraySlice<UInt8>, _ expected: [UInt8]) -> Bool {
        var difference: UInt8 = presented.count == expected.count ? 0 : 1
        let base = presented.startIndex
        for index in expected.indices {
            // Past the presented bytes, compare against 0 (the length check has already failed).
            let byte = index < presented.count ? presented[base + index] : 0
            difference |= byte ^ expected[index]
        }
        return difference == 0
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isWhitespace(last) { slice = slice.dropLast() }
        return slice
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }
}

extension BearerToken {
    /// A token read from `admin_token_file`, with a warning for the caller to
    /// log when the file is readable by group or others (the token would
    /// then be an open secret on the host).
    package struct Loaded: Sendable, Equatable {
        package var token: [UInt8]
        package var warning: String?
    }

    package enum LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        case system(SystemError)
        case empty(path: String)
        case tooLarge(path: String)

        package var description: String {
            switch self {
            case .system(let error): "admin_token_file: \(error)"
            case .empty(let path): "admin_token_file \(path) is empty"
            case .tooLarge(let path): "admin_token_file \(path) is larger than \(BearerToken.maxFileBytes) bytes"
            }
        }
    }

    /// A token is a line, not a document: a bigger file is a wrong path.
    package static let maxFileBytes = 4096

    /// Reads the token: the file's contents without surrounding whitespace
    /// (editors and `echo` add a newline). An empty token is an error, since
    /// accepting `Bearer ` with nothing would be no protection.
    package static func load(path: String) -> Result<Loaded, LoadError> {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.system(SystemError("open", context: path))) }
        defer { _ = Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.system(SystemError("fstat", context: path))) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                return .failure(.system(SystemError("read", errno: code, context: path)))
            }
            if count == 0 { break }
            contents.append(contentsOf: chunk[..<count])
            if contents.count > maxFileBytes { return .failure(.tooLarge(path: path)) }
        }
        let token = Array(trimmed(contents[...]))
        guard !token.isEmpty else { return .failure(.empty(path: path)) }
        var warning: String?
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            warning = "admin_token_file \(path) is accessible to group or others (mode \(octal(mode))); chmod 600 it"
        }
        return .success(Loaded(token: token, warning: warning))
    }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
