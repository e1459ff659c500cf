import CSystem
import Glibc

/// A failed system call: which call, on what, and the errno it returned.
package struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    package var call: String
    package var errno: Int32
    package var context: String?

    package init(_ call: String, errno: Int32 = cs_errno(), context: String? = nil) {
        self.call = call
        self.errno = errno
        self.context = context
    }

    package var description: String {
        let reason = String(cString: strerror(errno))
        if let context { return "\(call) \(context): \(reason)" }
        return "\(call): \(reason)"
    }
}

/// Retries a call that failed with EINTR; throws SystemError for any other failure.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = cs_errno()
        if code == EINTR { continue }
        throw SystemError(call, errno: code)
    }
}
