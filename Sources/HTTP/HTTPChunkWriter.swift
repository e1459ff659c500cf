/// Chunked transfer coding on output (RFC 9112 §7.1), for streaming a
/// response whose length is not known up front.
package enum HTTPChunkWriter {
    /// `0\r\n\r\n`: the end of a chunked body, no trailers.
    package static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)

    /// The size line that precedes `count` bytes of chunk data; the caller
    /// sends the data and then `chunkTerminator`. An empty chunk would end the
    /// body, so `count` must be positive.
    package static func chunkHeader(count: Int) -> [UInt8] {
        precondition(count > 0, "an empty chunk is the last chunk; use lastChunk")
        return Array(String(count, radix: 16).utf8) + [HTTPSyntax.cr, HTTPSyntax.lf]
    }

    package static let chunkTerminator: [UInt8] = [HTTPSyntax.cr, HTTPSyntax.lf]

    /// One whole chunk (size line, data, CRLF); empty input gives no bytes,
    /// since an empty chunk would end the body.
    package static func chunk(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        guard bytes.count > 0 else { return [] }
        var out = chunkHeader(count: bytes.count)
        out.reserveCapacity(out.count + bytes.count + 2)
        out.append(contentsOf: bytes)
        out.append(contentsOf: chunkTerminator)
        return out
    }

    package static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { chunk($0) }
    }
}
