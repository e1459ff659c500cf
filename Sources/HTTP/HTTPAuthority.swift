/// The `uri-host [":" port]` of a Host field or an absolute-form target
/// (RFC 9110 §7.2, RFC 3986 §3.2.2), checked on bytes. A server must answer
/// 400 to a Host it cannot read this way (RFC 9112 §3.2); forwarded as is,
/// `a b`, `evil/@a` or `a, b` reach workers that each read them differently.
///
/// Stricter than RFC 3986 in two places, both on purpose: a comma is
/// refused although reg-name allows it (Host is a singleton field, and a
/// comma is how a recipient joins repeated fields: `a, b` is two Hosts), and
/// a port has at most 5 digits. The host must not be empty: an "http" URI
/// with an empty host is invalid (RFC 9110 §4.2.1).
enum HTTPAuthority {
    static func isValid(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        guard !range.isEmpty else { return false }
        var index = range.lowerBound
        if bytes[index] == UInt8(ascii: "[") {
            // IP-literal: IPv6address or IPvFuture, whose bytes are all
            // unreserved, sub-delims or ":" (a zone id is never sent in Host).
            index += 1
            let start = index
            while index < range.upperBound, bytes[index] != UInt8(ascii: "]") {
                guard isRegNameByte(bytes[index]) || bytes[index] == HTTPSyntax.colon else { return false }
                index += 1
            }
            guard index < range.upperBound, index > start else { return false }
            index += 1
        } else {
            // reg-name (which covers IPv4address): unreserved, pct-encoded, sub-delims.
            let start = index
            while index < range.upperBound, bytes[index] != HTTPSyntax.colon {
                let b = bytes[index]
                if b == UInt8(ascii: "%") {
                    guard index + 2 < range.upperBound, HTTPSyntax.hexValue(bytes[index + 1]) != nil,
                          HTTPSyntax.hexValue(bytes[index + 2]) != nil else { return false }
                    index += 3
                    continue
                }
                guard isRegNameByte(b) else { return false }
                index += 1
            }
            guard index > start else { return false }
        }
        if index == range.upperBound { return true }
        // ":" port, port = *DIGIT
        guard bytes[index] == HTTPSyntax.colon, range.upperBound - index - 1 <= 5 else { return false }
        index += 1
        while index < range.upperBound {
            guard bytes[index] >= 0x30, bytes[index] <= 0x39 else { return false }
            index += 1
        }
        return true
    }

    /// unreserved / sub-delims, without the comma (see above).
    @inline(__always)
    private static func isRegNameByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): return true
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ";"), UInt8(ascii: "="): return true
        default: return false
        }
    }
}
