// Used by scripts/fuzz only when this toolchain cannot link libFuzzer
// (-sanitize=fuzzer): random mutation of built-in seeds against the same
// checks, for a given number of seconds. scripts/fuzz adds a watchdog.
import Glibc

@main
struct HTTPFuzzFallbackMain {
    static let seeds: [String] = [
        "GET /a?b=c HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nabcde\r\n0\r\nT: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.0 200 OK\r\n\r\nuntil close",
    ]

    static func main() {
        let seconds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 60 : 60
        let deadline = time(nil) + seconds
        var rng = SystemRandomNumberGenerator()
        var executed = 0
        let alphabet = Array("\r\n :;,0123456789abcdefABCDEF-+\t\0HTTP/1.0chunkedContent-LengthTransfer-EncodingHost".utf8)
        while time(nil) < deadline {
            for _ in 0..<1000 {
                var bytes = Array(seeds.randomElement(using: &rng)!.utf8)
                if Bool.random(using: &rng) { bytes += Array(seeds.randomElement(using: &rng)!.utf8) }
                for _ in 0..<Int.random(in: 0...8, using: &rng) where !bytes.isEmpty {
                    let i = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0: bytes[i] = alphabet.randomElement(using: &rng)!
                    case 1: bytes.remove(at: i)
                    case 2: bytes.insert(alphabet.randomElement(using: &rng)!, at: i)
                    default: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                    }
                }
                bytes.withUnsafeBytes { httpFuzzCheck($0) }
                executed += 1
            }
        }
        print("stat::number_of_executed_units: \(executed)")
    }
}
