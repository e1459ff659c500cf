import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

/// The control API's JSON: strict parsing with located errors, and output
/// any JSON parser reads back to the same value.
@Suite struct AdminJSONTests {
    private func parse(_ text: String) throws(JSONError) -> JSONValue { try JSONValue.parse(text) }

    private func failure(_ text: String) -> JSONError? {
        do throws(JSONError) { _ = try JSONValue.parse(text); return nil } catch { return error }
    }

    private func failure(bytes: [UInt8]) -> JSONError? {
        do throws(JSONError) { _ = try JSONValue.parse(bytes); return nil } catch { return error }
    }

    @Test func adminParsesEveryKindOfValue() throws {
        let value = try parse(#" { "a" : [1, -2.5, 3e2, 0, -0, 1E-2, true, false, null], "b": {"c": "d"}, "e": "" } "#)
        #expect(value == [
            "a": [1, -2.5, 300, 0, 0, 0.01, true, false, nil],
            "b": ["c": "d"],
            "e": "",
        ])
        #expect(value["a"]?[1]?.doubleValue == -2.5)
        #expect(value["a"]?[0]?.intValue == 1)
        #expect(value["a"]?[1]?.intValue == nil, "1.5-like numbers are not ints")
        #expect(value["a"]?[6]?.boolValue == true)
        #expect(value["a"]?[8]?.isNull == true)
        #expect(value["b"]?["c"]?.stringValue == "d")
        #expect(value["missing"] == nil)
        #expect(value["a"]?[99] == nil)
        #expect(value["b"]?[0] == nil, "an object is not indexable by position")
        #expect(value["a"]?["x"] == nil, "an array has no keys")
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object([]))
        #expect(try parse("\"top\"") == "top")
        #expect(try parse("42") == 42)
    }

    @Test func adminObjectsKeepMemberOrder() throws {
        let value = try parse(#"{"z":1,"a":2,"m":3}"#)
        #expect(value.objectValue?.map(\.0) == ["z", "a", "m"])
        #expect(value.json == #"{"z":1,"a":2,"m":3}"#)
        #expect(value != (try parse(#"{"a":2,"z":1,"m":3}"#)))
    }

    @Test func adminDecodesStringEscapes() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{c}\n\r\t"))
        #expect(try parse(#""\u0041\u00e9\u4e2D""#) == .string("Aé中"))
        // U+1F600 as a surrogate pair, and raw UTF-8 beside it.
        #expect(try parse(#""\ud83d\ude00 😀""#) == .string("😀 😀"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
    }

    @Test func adminRejectsBadSurrogatesWithTheirOffset() {
        #expect(failure(#""\ud83d""#) == JSONError("high surrogate \\ud83d not followed by a low surrogate", at: 1))
        #expect(failure(#""ab\ud83dx""#)?.offset == 3)
        #expect(failure(#""\ud83d\u0041""#)?.offset == 7)
        #expect(failure(#""\ude00""#) == JSONError("lone low surrogate \\ude00", at: 1))
        #expect(failure(#""\u12""#)?.reason == "\\u escape needs four hex digits")
        #expect(failure(#""\u12G4""#)?.offset == 1)
    }

    @Test func adminRejectsMalformedInputAtTheRightOffset() {
        let cases: [(String, Int, String)] = [
            ("", 0, "expected a value"),
            ("   ", 3, "expected a value"),
            ("[1,]", 3, "expected a value"),
            ("[1 2]", 3, "expected ',' or ']'"),
            ("{\"a\" 1}", 5, "expected ':'"),
            ("{\"a\":1,}", 7, "expected a string key"),
            ("{a:1}", 1, "expected a string key"),
            ("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'"),
            ("[1", 2, "expected ',' or ']'"),
            ("{\"a\":1", 6, "expected ',' or '}'"),
            ("\"abc", 4, "unterminated string"),
            ("\"a\\x\"", 2, "invalid escape"),
            ("\"a\tb\"", 2, "unescaped control character 0x09"),
            ("01", 0, "leading zero"),
            ("-", 1, "expected a digit"),
            ("1.", 2, "expected a digit after '.'"),
            ("1.e5", 2, "expected a digit after '.'"),
            ("1e", 2, "expected a digit in exponent"),
            ("1e+", 3, "expected a digit in exponent"),
            ("+1", 0, "expected a value"),
            (".5", 0, "expected a value"),
            ("1e999", 0, "out of range"),
            ("NaN", 0, "expected a value"),
            ("tru", 0, "invalid literal"),
            ("nul", 0, "invalid literal"),
            ("trUe", 0, "invalid literal"),
            ("true false", 5, "after the JSON value"),
            ("{} x", 3, "after the JSON value"),
            ("1 // comment", 2, "after the JSON value"),
            ("[1] ]", 4, "after the JSON value"),
            ("{\"a\":1,\"a\":2}", 7, "duplicate key \"a\""),
            ("'a'", 0, "expected a value"),
        ]
        for (input, offset, reason) in cases {
            let error = failure(input)
            #expect(error != nil, "accepted \(input.debugDescription)")
            #expect(error?.offset == offset, "offset for \(input.debugDescription): \(String(describing: error))")
            #expect(error?.reason.contains(reason) == true, "reason for \(input.debugDescription): \(String(describing: error))")
        }
        #expect(failure("[1 2]")?.description == "expected ',' or ']' in array, found '2' at byte 3")
    }

    @Test func adminRejectsInvalidUTF8() {
        let quote = UInt8(ascii: "\"")
        let bad: [([UInt8], Int)] = [
            ([quote, 0x61, 0xFF, quote], 2),              // never valid
            ([quote, 0xC0, 0xAF, quote], 1),              // overlong '/'
            ([quote, 0xE0, 0x80, 0xAF, quote], 1),        // overlong 3-byte
            ([quote, 0xED, 0xA0, 0x80, quote], 1),        // encoded surrogate
            ([quote, 0xF4, 0x90, 0x80, 0x80, quote], 1),  // past U+10FFFF
            ([quote, 0xC3, quote], 1),                    // missing continuation
            ([quote, 0xE4, 0xB8], 1),                     // truncated at the end
            ([0xEF, 0xBB, 0xBF, 0x31], 0),                // a BOM is not JSON whitespace
        ]
        for (bytes, offset) in bad {
            #expect(failure(bytes: bytes)?.offset == offset, "bytes \(bytes)")
        }
        #expect((try? JSONValue.parse([quote, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, quote])) == .string("é😀"))
    }

    @Test func adminEnforcesTheDepthLimit() throws {
        let deepest = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        #expect(throws: Never.self) { try JSONValue.parse(deepest) }
        let tooDeep = String(repeating: "[", count: JSONValue.maxDepth + 1) + String(repeating: "]", count: JSONValue.maxDepth + 1)
        let error = failure(tooDeep)
        #expect(error?.reason == "nesting deeper than 64 levels")
        #expect(error?.offset == JSONValue.maxDepth)
        let objects = String(repeating: "{\"a\":", count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(failure(objects)?.offset == 64 * 5)
        // A hostile body far deeper than the limit fails cleanly, no stack overflow.
        #expect(failure(String(repeating: "[", count: 100_000))?.offset == JSONValue.maxDepth)
    }

    @Test func adminEnforcesTheSizeLimit() {
        let body = "[" + String(repeating: "1,", count: 100) + "1]"
        #expect((try? JSONValue.parse(body, maxBytes: body.utf8.count)) != nil)
        do throws(JSONError) {
            _ = try JSONValue.parse(body, maxBytes: body.utf8.count - 1)
            Issue.record("a body over the limit was parsed")
        } catch {
            #expect(error.reason.contains("larger than the limit"))
        }
    }

    @Test func adminSerializesCompactlyWithIntegersAsIntegers() {
        let value: JSONValue = ["pid": 4121, "uptime": 1.5, "neg": -3, "big": 1e21, "tiny": 0.001, "zero": -0.0,
                                "list": [true, false, nil], "empty": [:], "none": []]
        #expect(value.json == #"{"pid":4121,"uptime":1.5,"neg":-3,"big":1e+21,"tiny":0.001,"zero":0,"list":[true,false,null],"empty":{},"none":[]}"#)
        #expect(JSONValue.number(9_007_199_254_740_991).json == "9007199254740991")
        #expect(JSONValue.number(.nan).json == "null")
        #expect(JSONValue.number(.infinity).json == "null")
        #expect(JSONValue.number(-.infinity).json == "null")
        var bytes: [UInt8] = Array("x=".utf8)
        JSONValue.bool(true).write(into: &bytes)
        #expect(bytes == Array("x=true".utf8), "write(into:) appends")
    }

    @Test func adminEscapesStringsOnOutput() {
        let value = JSONValue.string("q\" b\\ n\n r\r t\t nul\u{0} bel\u{7} esc\u{1b} us\u{1f} del\u{7f} é 😀 </script>")
        #expect(value.json == #""q\" b\\ n\n r\r t\t nul\u0000 bel\u0007 esc\u001b us\u001f del"# + "\u{7f} é 😀 </script>\"")
        #expect(JSONValue.object([("k\"ey", 1)]).json == #"{"k\"ey":1}"#)
    }

    @Test func adminRoundTripsThroughText() throws {
        var everyControl = ""
        for value in 0..<0x20 { everyControl.unicodeScalars.append(Unicode.Scalar(UInt8(value))) }
        let original: JSONValue = [
            "controls": .string(everyControl),
            "unicode": "日本語 🚀 \u{10FFFF}",
            "numbers": [0, 1, -1, 0.5, 123456.789, 1e-7, 2.5e300, -9_007_199_254_740_991],
            "nested": [["a": [[], [:], [nil]]]],
        ]
        let reparsed = try JSONValue.parse(original.json)
        #expect(reparsed == original)
        #expect(reparsed.json == original.json)
    }

    @Test func adminErrorBodyHasErrorAndCode() throws {
        let body = JSONValue.error("no such process: 'x'", code: "not_found")
        #expect(body.json == #"{"error":"no such process: 'x'","code":"not_found"}"#)
        #expect(try JSONValue.parse(body.json)["code"]?.stringValue == "not_found")
    }

    @Test func adminOptionalHelpersWriteNull() {
        let none: Int? = nil
        #expect(JSONValue.number(none) == .null)
        #expect(JSONValue.number(Int32(7) as Int32?) == 7)
        #expect(JSONValue.string(nil as String?) == .null)
        #expect(JSONValue.number(nil as Double?) == .null)
    }
}
