import Glibc

/// A log file rotated at `maxBytes` keeping `backups` old files
/// (`name.1` newest … `name.N` oldest), as supervisord does. `maxBytes == 0`
/// never rotates (devices like /dev/stdout). Regular-file writes do not wait
/// on a reader, so they are done directly on the reactor.
public final class RotatingLogFile {
    public let path: String
    private let maxBytes: Int
    private let backups: Int
    private var fd: FileDescriptor?
    private var size = 0
    public private(set) var lastError: SystemError?

    public init(path: String, maxBytes: Int, backups: Int) throws(SystemError) {
        self.path = path
        self.maxBytes = maxBytes
        self.backups = backups
        try open()
    }

    private func open() throws(SystemError) {
        let descriptor = try FileDescriptor.open(path, O_WRONLY | O_APPEND | O_CREAT, mode: 0o644)
        var info = stat()
        size = fstat(descriptor.rawValue, &info) == 0 ? Int(info.st_size) : 0
        fd = descriptor
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes
        // One read from a fast worker can exceed maxBytes: split it so no
        // file grows past the limit, at a line end when there is one.
        while maxBytes > 0 && size + rest.count > maxBytes {
            let room = maxBytes - size
            var cut = 0
            if room > 0, let newline = UnsafeRawBufferPointer(rebasing: rest[..<room]).lastIndex(of: UInt8(ascii: "\n")) {
                cut = newline + 1
            } else if size == 0 {
                cut = room
            }
            if cut > 0 {
                append(UnsafeRawBufferPointer(rebasing: rest[..<cut]))
                rest = UnsafeRawBufferPointer(rebasing: rest[cut...])
            }
            rotate()
            if fd == nil { return }
        }
        append(rest)
    }

    private func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, let fd else { return }
        do {
            try fd.writeAll(bytes)
            size += bytes.count
        } catch {
            lastError = error
        }
    }

    public func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    private func rotate() {
        fd?.close()
        fd = nil
        if backups > 0 {
            for index in stride(from: backups - 1, through: 1, by: -1) {
                _ = rename("\(path).\(index)", "\(path).\(index + 1)")
            }
            _ = rename(path, "\(path).1")
        } else {
            _ = truncate(path, 0)
        }
        do { try open() } catch { lastError = error }
    }

    /// After logrotate moved the file away (SIGUSR1/SIGUSR2).
    public func reopen() {
        fd?.close()
        fd = nil
        do { try open() } catch { lastError = error }
    }

    public func close() {
        fd?.close()
        fd = nil
    }
}
