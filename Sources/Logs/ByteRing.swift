/// The last `capacity` bytes of a stream, kept in memory so `tail` works
/// with no log file. Appending never allocates once the ring is full.
package struct ByteRing {
    package let capacity: Int
    private var storage: [UInt8] = []
    private var start = 0
    /// Bytes ever written, so a follower can ask for "everything after offset N".
    package private(set) var totalWritten: UInt64 = 0

    package init(capacity: Int = 64 * 1024) {
        self.capacity = max(1, capacity)
    }

    package var count: Int { storage.count }

    package mutating func append(_ bytes: UnsafeRawBufferPointer) {
        totalWritten &+= UInt64(bytes.count)
        var input = bytes
        if input.count >= capacity {
            input = UnsafeRawBufferPointer(rebasing: input[(input.count - capacity)...])
            storage.removeAll(keepingCapacity: true)
            storage.append(contentsOf: input)
            start = 0
            return
        }
        if storage.count < capacity {
            let room = capacity - storage.count
            let direct = min(room, input.count)
            storage.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[..<direct]))
            input = UnsafeRawBufferPointer(rebasing: input[direct...])
            if input.isEmpty { return }
        }
        // Full: overwrite the oldest bytes in place, in at most two copies.
        storage.withUnsafeMutableBytes { destination in
            while !input.isEmpty {
                let n = min(capacity - start, input.count)
                (destination.baseAddress! + start).copyMemory(from: input.baseAddress!, byteCount: n)
                start += n
                if start == capacity { start = 0 }
                input = UnsafeRawBufferPointer(rebasing: input[n...])
            }
        }
    }

    package mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The buffered bytes, oldest first.
    package var contents: [UInt8] {
        if storage.count < capacity || start == 0 { return storage }
        return Array(storage[start...] + storage[..<start])
    }

    /// The last `lines` complete-or-partial lines.
    package func lastLines(_ lines: Int) -> [UInt8] {
        let all = contents
        guard lines > 0 else { return [] }
        var newlines = 0
        var index = all.count
        // A trailing newline ends the last line rather than starting an empty one.
        if index > 0 && all[index - 1] == UInt8(ascii: "\n") { index -= 1 }
        while index > 0 {
            if all[index - 1] == UInt8(ascii: "\n") {
                newlines += 1
                if newlines == lines { break }
            }
            index -= 1
        }
        return Array(all[index...])
    }
}
