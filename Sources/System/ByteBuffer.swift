/// Bytes with a read index over one growable storage: appended at the end,
/// consumed from the front, compacted only when the dead prefix is large,
/// so a connection reuses one allocation for its whole life (as swift-nio's
/// ByteBuffer reuses capacity) instead of a fresh array per read.
package struct ByteBuffer {
    private(set) var storage: [UInt8] = []
    private(set) var readerIndex = 0

    package init() {}

    init(capacity: Int) { storage.reserveCapacity(capacity) }

    init(_ bytes: [UInt8]) { storage = bytes }

    package var readableBytes: Int { storage.count - readerIndex }
    package var isEmpty: Bool { readerIndex == storage.count }

    package mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfWorthIt()
        storage.append(contentsOf: bytes)
    }

    mutating func append(_ bytes: [UInt8]) {
        compactIfWorthIt()
        storage.append(contentsOf: bytes)
    }

    mutating func append(_ text: String) {
        compactIfWorthIt()
        storage.append(contentsOf: text.utf8)
    }

    mutating func append(_ byte: UInt8) {
        storage.append(byte)
    }

    mutating func append(_ slice: ArraySlice<UInt8>) {
        compactIfWorthIt()
        storage.append(contentsOf: slice)
    }

    /// Appends `bytes[range]` of another buffer's readable bytes.
    mutating func append(_ other: ByteBuffer, range: Range<Int>) {
        compactIfWorthIt()
        let base = other.readerIndex
        storage.append(contentsOf: other.storage[(base + range.lowerBound)..<(base + range.upperBound)])
    }

    /// Drops `count` bytes from the front.
    package mutating func consume(_ count: Int) {
        precondition(count >= 0 && count <= readableBytes, "consume past the readable bytes")
        readerIndex += count
        if readerIndex == storage.count { clear() }
    }

    /// Empties the buffer, keeping its capacity (up to `keep` bytes).
    package mutating func clear(keepingCapacityUpTo keep: Int = 64 * 1024) {
        if storage.capacity > keep {
            storage = []
        } else {
            storage.removeAll(keepingCapacity: true)
        }
        readerIndex = 0
    }

    subscript(offset: Int) -> UInt8 { storage[readerIndex + offset] }

    /// Readable bytes from `offset` to `offset + count` (relative to the read index).
    func slice(_ range: Range<Int>) -> ArraySlice<UInt8> {
        storage[(readerIndex + range.lowerBound)..<(readerIndex + range.upperBound)]
    }

    /// Not throwing, and nothing generic built inside: `package` code is
    /// not inlined across modules, so a caller runs this unspecialized, and
    /// a Result<R, E> made here cost a metadata lookup per call (more than
    /// parsing the head). A caller that throws wraps its own Result.
    package func withReadableBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        let start = readerIndex
        return storage.withUnsafeBytes { raw in body(UnsafeRawBufferPointer(rebasing: raw[start...])) }
    }

    var readableArray: [UInt8] { Array(storage[readerIndex...]) }

    private mutating func compactIfWorthIt() {
        // Moving the live tail costs a copy; do it only when the dead prefix
        // is at least as large as what is left, so each byte moves O(1) times.
        if readerIndex > 4096 && readerIndex >= storage.count - readerIndex {
            storage.removeFirst(readerIndex)
            readerIndex = 0
        }
    }
}
