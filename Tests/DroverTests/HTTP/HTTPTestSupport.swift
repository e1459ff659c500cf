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

/// Helpers shared by the HTTP suites: feed whole and byte by byte, and
/// compare with consecutive body pieces merged (their split is free).
enum HTTPTestFeed {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func requestEvents(_ input: [UInt8], limits: HTTPLimits = HTTPLimits(), pieceSize: Int? = nil) -> [HTTPRequestEvent] {
        var parser = HTTPRequestParser(limits: limits)
        var events: [HTTPRequestEvent] = []
        if let pieceSize {
            var start = 0
            while start < input.count {
                let end = min(start + pieceSize, input.count)
                parser.parse(Array(input[start..<end]), into: &events)
                start = end
            }
        } else {
            parser.parse(input, into: &events)
        }
        return mergedRequestBodies(events)
    }

    static func mergedRequestBodies(_ events: [HTTPRequestEvent]) -> [HTTPRequestEvent] {
        var out: [HTTPRequestEvent] = []
        for event in events {
            if case .body(let more) = event, case .body(let sofar)? = out.last {
                out[out.count - 1] = .body(sofar + more)
            } else if case .body(let b) = event, b.isEmpty {
                continue
            } else {
                out.append(event)
            }
        }
        return out
    }

    /// Parses whole, byte by byte and in 7-byte pieces; all must agree.
    static func requestEventsCheckingSplits(_ text: String, limits: HTTPLimits = HTTPLimits()) -> [HTTPRequestEvent] {
        requestEventsCheckingSplits(bytes(text), limits: limits)
    }

    static func requestEventsCheckingSplits(_ input: [UInt8], limits: HTTPLimits = HTTPLimits()) -> [HTTPRequestEvent] {
        let whole = requestEvents(input, limits: limits)
        let single = requestEvents(input, limits: limits, pieceSize: 1)
        let sevens = requestEvents(input, limits: limits, pieceSize: 7)
        #expect(whole == single, "byte-by-byte feeding differs")
        #expect(whole == sevens, "7-byte pieces differ")
        return whole
    }

    static func responseEvents(_ input: [UInt8], method: String = "GET", finish: Bool = false, pieceSize: Int? = nil) -> [HTTPResponseEvent] {
        var parser = HTTPResponseParser(requestMethod: method)
        var events: [HTTPResponseEvent] = []
        if let pieceSize {
            var start = 0
            while start < input.count {
                let end = min(start + pieceSize, input.count)
                parser.parse(Array(input[start..<end]), into: &events)
                start = end
            }
        } else {
            parser.parse(input, into: &events)
        }
        if finish { parser.finish(into: &events) }
        var out: [HTTPResponseEvent] = []
        for event in events {
            if case .body(let more) = event, case .body(let sofar)? = out.last {
                out[out.count - 1] = .body(sofar + more)
            } else {
                out.append(event)
            }
        }
        return out
    }

    static func responseEventsCheckingSplits(_ text: String, method: String = "GET", finish: Bool = false) -> [HTTPResponseEvent] {
        let input = bytes(text)
        let whole = responseEvents(input, method: method, finish: finish)
        let single = responseEvents(input, method: method, finish: finish, pieceSize: 1)
        #expect(whole == single, "byte-by-byte feeding differs")
        return whole
    }
}

extension HTTPRequestEvent {
    var head: HTTPRequestHead? {
        if case .head(let h) = self { return h }
        return nil
    }
    var error: HTTPParseError? {
        if case .error(let e) = self { return e }
        return nil
    }
}

extension HTTPResponseEvent {
    var head: HTTPResponseHead? {
        if case .head(let h) = self { return h }
        return nil
    }
    var error: HTTPParseError? {
        if case .error(let e) = self { return e }
        return nil
    }
}
