// Character n-gram features. Working on raw UTF-8 bytes (not Characters)
// keeps feature extraction allocation-free and fast; non-ASCII bytes simply
// become part of the n-grams, which is good enough for a demo classifier.

/// Orders of the character n-grams the model uses (1...4, like fastText's
/// subword features but without the word level).
let ngramOrders = 1...4

/// Lowercases ASCII letters, maps every other ASCII byte except digits and
/// the apostrophe to a single space, and pads the result with one space on
/// each side so word starts and ends become features of their own (" gr",
/// "at ").
func normalize(_ text: some Collection<UInt8>) -> [UInt8] {
    var out: [UInt8] = [0x20]
    out.reserveCapacity(text.count + 2)
    for byte in text {
        var b = byte
        if b >= 0x41 && b <= 0x5A { b += 0x20 }                // A-Z → a-z
        let keep = b >= 0x80 || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x27
        if keep {
            out.append(b)
        } else if out.last != 0x20 {
            out.append(0x20)                                    // collapse separators
        }
    }
    if out.last != 0x20 { out.append(0x20) }
    return out
}

/// FNV-1a over the n-gram bytes, salted with the order so "a" (unigram)
/// and "a" inside a longer gram never share a hash.
@inline(__always)
func ngramHash(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ order: Int) -> UInt32 {
    var h: UInt32 = 2_166_136_261 &+ UInt32(order) &* 16_777_619
    for i in start..<(start + order) {
        h = (h ^ UInt32(bytes[i])) &* 16_777_619
    }
    return h
}

/// Calls `body(bucket, position, order)` for every n-gram of `normalized`
/// (orders 1...4), skipping grams made only of the padding space. The
/// bucket is the hash folded into a table of `bucketMask + 1` rows.
@inline(__always)
func forEachNGram(_ normalized: [UInt8], bucketMask: Int, _ body: (Int, Int, Int) -> Void) {
    normalized.withUnsafeBufferPointer { bytes in
        for order in ngramOrders where bytes.count >= order {
            for start in 0...(bytes.count - order) {
                if order == 1 && bytes[start] == 0x20 { continue }
                body(Int(ngramHash(bytes, start, order)) & bucketMask, start, order)
            }
        }
    }
}
