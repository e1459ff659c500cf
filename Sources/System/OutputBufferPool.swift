/// Emptied output buffers of the loop's connections, kept for the next
/// write: a connection takes one when it queues bytes and gives it back once
/// they are written, so answering a request allocates no output buffer and
/// an idle connection holds none (as HAProxy's buffer pool). Bounded in
/// count and in the size of what it keeps. One per reactor, touched only
/// from its thread.
package final class OutputBufferPool {
    /// Buffers larger than this go back to the allocator.
    static let maxKeptCapacity = 16 * 1024
    static let maxKept = 256
    /// What a new buffer starts with: a response head and a small body.
    static let initialCapacity = 2048

    private var kept: [[UInt8]] = []

    init() { kept.reserveCapacity(Self.maxKept) }

    /// An empty buffer, recycled when one is kept.
    func take() -> [UInt8] {
        if let buffer = kept.popLast() { return buffer }
        var fresh: [UInt8] = []
        fresh.reserveCapacity(Self.initialCapacity)
        return fresh
    }

    /// Keeps `buffer`, emptied, for the next `take` (the caller must hold
    /// the only reference, or emptying it would copy).
    func give(_ buffer: inout [UInt8]) {
        guard buffer.capacity <= Self.maxKeptCapacity, kept.count < Self.maxKept else {
            buffer = []
            return
        }
        buffer.removeAll(keepingCapacity: true)
        kept.append(buffer)
        buffer = []
    }

    /// Buffers kept now (tests).
    var count: Int { kept.count }
}
