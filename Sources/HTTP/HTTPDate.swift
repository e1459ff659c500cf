/// IMF-fixdate (RFC 9110 §5.6.7), `Sun, 06 Nov 1994 08:49:37 GMT`, from
/// seconds since the epoch: plain arithmetic on the proleptic Gregorian
/// calendar (days to civil date as in Howard Hinnant's `civil_from_days`),
/// no time zone database, no Foundation, no allocation.
package enum HTTPDate {
    /// The length of every IMF-fixdate.
    package static let length = 29

    private static let days: [UInt8] = Array("SunMonTueWedThuFriSat".utf8)
    private static let months: [UInt8] = Array("JanFebMarAprMayJunJulAugSepOctNovDec".utf8)

    /// Writes the 29 bytes for `seconds` into `out` (at least 29 long).
    package static func format(seconds: Int64, into out: UnsafeMutableBufferPointer<UInt8>) {
        precondition(out.count >= length)
        let (dayNumber, second) = floorDivision(seconds, 86_400)
        // civil_from_days: March-based years of 400-year eras.
        let z = dayNumber + 719_468
        let era = floorDivision(z, 146_097).quotient
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        // 1970-01-01 was a Thursday (index 4, Sunday first).
        let weekday = Int(floorDivision(dayNumber + 4, 7).remainder)

        func digits(_ value: Int64, _ count: Int, at offset: Int) {
            var rest = value
            for index in stride(from: offset + count - 1, through: offset, by: -1) {
                out[index] = 0x30 + UInt8(rest % 10)
                rest /= 10
            }
        }
        let m = Int(month - 1) * 3
        out[0] = days[weekday * 3]; out[1] = days[weekday * 3 + 1]; out[2] = days[weekday * 3 + 2]
        out[3] = HTTPSyntax.comma; out[4] = HTTPSyntax.space
        digits(day, 2, at: 5)
        out[7] = HTTPSyntax.space
        out[8] = months[m]; out[9] = months[m + 1]; out[10] = months[m + 2]
        out[11] = HTTPSyntax.space
        digits(max(0, min(year, 9999)), 4, at: 12)
        out[16] = HTTPSyntax.space
        digits(second / 3600, 2, at: 17)
        out[19] = HTTPSyntax.colon
        digits(second / 60 % 60, 2, at: 20)
        out[22] = HTTPSyntax.colon
        digits(second % 60, 2, at: 23)
        out[25] = HTTPSyntax.space
        out[26] = UInt8(ascii: "G"); out[27] = UInt8(ascii: "M"); out[28] = UInt8(ascii: "T")
    }

    /// The IMF-fixdate of `seconds` as text (tests, logs).
    package static func text(seconds: Int64) -> String {
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBufferPointer { format(seconds: seconds, into: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Quotient rounded down and a remainder that is never negative.
    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var (q, r) = value.quotientAndRemainder(dividingBy: divisor)
        if r < 0 { q -= 1; r += divisor }
        return (q, r)
    }
}
