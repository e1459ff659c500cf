/// Field lines copied from a received head into the head drover sends:
/// consecutive lines that are kept as they are go out in one append (each
/// line with the CRLF that followed it in the input, which the scanner has
/// checked), so a head costs an append per run of kept lines, not two per
/// line. Dropping or rewriting a line ends the run before it.
struct FieldLineRuns {
    private var start = 0
    private var end = 0

    /// Keeps `line` (a field line's range in `raw`, without its CRLF).
    mutating func keep(_ line: Range<Int>, into out: inout [UInt8], from raw: UnsafeRawBufferPointer) {
        if start < end && line.lowerBound == end {
            end = line.upperBound + 2
            return
        }
        flush(into: &out, from: raw)
        start = line.lowerBound
        end = line.upperBound + 2
    }

    /// Writes the run kept so far: before anything drover adds itself.
    mutating func flush(into out: inout [UInt8], from raw: UnsafeRawBufferPointer) {
        guard start < end else { return }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start..<end]))
        start = 0
        end = 0
    }
}
