import Testing
@testable import Supervision

/// The preload protocol's codec (docs/preload-protocol.md) on its own: exact
/// bytes, every kind both ways, streams cut anywhere, and every malformed frame
/// a named error. The fuzz tests feed random, truncated and mutated frames
/// and only require an answer (message, nil or error), never a trap.
@Suite struct PreloadCodecTests {
    static let samples: [PreloadMessage] = [
        .hello(pid: 4242, runtime: "python 3.11.7 app:load"),
        .fork(slot: 3, port: 8003, environment: [PreloadEnvironmentEntry("MODEL", "large"),
                                                 PreloadEnvironmentEntry("EMPTY", ""),
                                                 PreloadEnvironmentEntry("GREETING", "héllo = world")]),
        .fork(slot: 0, port: 65535, environment: []),
        .fork(slot: 1, port: 8001, cpus: [2, 3, 65535], streams: 2, environment: [PreloadEnvironmentEntry("DROVER_SLOT", "1")]),
        .fork(slot: 4, port: 8004, cpus: [0], streams: 1, environment: []),
        .forked(slot: 3, pid: 4300),
        .exited(pid: 4300, waitStatus: 9),
        .exited(pid: 1, waitStatus: 0x0100),
        .error(slot: 7, message: "fork failed: Resource temporarily unavailable"),
        .error(slot: nil, message: "loader started threads: worker-pool"),
    ]

    @Test func everyKindRoundTrips() throws {
        for message in Self.samples {
            var decoder = PreloadFrameDecoder()
            decoder.append(try PreloadFrameEncoder.encode(message))
            #expect(try decoder.nextMessage() == message)
            #expect(try decoder.nextMessage() == nil)
            #expect(decoder.pendingByteCount == 0)
        }
    }

    /// The bytes the document promises, so another implementation can check itself against them.
    @Test func forkAndForkedHaveTheDocumentedBytes() throws {
        let fork = try PreloadFrameEncoder.encode(.fork(slot: 2, port: 8080, environment: [PreloadEnvironmentEntry("A", "bc")]))
        #expect(fork == [0, 0, 0, 20, 2, 2, 0, 0, 0, 2, 0x1F, 0x90, 0, 0, 0, 0, 1, 0, 1, 65, 0, 2, 98, 99])
        let pinned = try PreloadFrameEncoder.encode(.fork(slot: 2, port: 8080, cpus: [1, 0x0203], streams: 2, environment: []))
        #expect(pinned == [0, 0, 0, 17, 2, 2, 0, 0, 0, 2, 0x1F, 0x90, 2, 0, 2, 0, 1, 2, 3, 0, 0])
        let forked = try PreloadFrameEncoder.encode(.forked(slot: 2, pid: 0x0102_0304))
        #expect(forked == [0, 0, 0, 10, 2, 3, 0, 0, 0, 2, 1, 2, 3, 4])
        let noSlot = try PreloadFrameEncoder.encode(.error(slot: nil, message: "x"))
        #expect(noSlot == [0, 0, 0, 9, 2, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 120])
    }

    @Test func aStreamFedOneByteAtATimeYieldsEveryMessageInOrder() throws {
        var stream: [UInt8] = []
        for message in Self.samples { stream += try PreloadFrameEncoder.encode(message) }
        var decoder = PreloadFrameDecoder()
        var received: [PreloadMessage] = []
        for byte in stream {
            decoder.append([byte])
            while let message = try decoder.nextMessage() { received.append(message) }
        }
        #expect(received == Self.samples)
        #expect(decoder.pendingByteCount == 0)
    }

    @Test func aHugeLengthIsRefusedBeforeItsPayloadArrives() {
        var decoder = PreloadFrameDecoder()
        decoder.append([0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: PreloadProtocolError.frameTooLarge(length: 0x7FFF_FFFF)) { try decoder.nextMessage() }
        var tooShort = PreloadFrameDecoder()
        tooShort.append([0, 0, 0, 1, 1])
        #expect(throws: PreloadProtocolError.frameTooShort(length: 1)) { try tooShort.nextMessage() }
    }

    @Test func malformedPayloadsAreNamedErrors() {
        func decode(_ payload: [UInt8]) throws(PreloadProtocolError) -> PreloadMessage {
            try PreloadFrameDecoder.decode(payload: payload[...])
        }
        #expect(throws: PreloadProtocolError.unsupportedVersion(1)) { try decode([1, 1, 0, 0, 0, 1, 0, 0]) }
        #expect(throws: PreloadProtocolError.unknownKind(9)) { try decode([2, 9]) }
        #expect(throws: PreloadProtocolError.truncated(kind: "forked", field: "pid")) { try decode([2, 3, 0, 0, 0, 1, 0, 0]) }
        #expect(throws: PreloadProtocolError.trailingBytes(kind: "exited", count: 1)) {
            try decode([2, 4, 0, 0, 0, 5, 0, 0, 0, 0, 7])
        }
        #expect(throws: PreloadProtocolError.invalidField(kind: "forked", field: "pid", reason: "is 0, not a process id")) {
            try decode([2, 3, 0, 0, 0, 1, 0, 0, 0, 0])
        }
        #expect(throws: PreloadProtocolError.invalidField(kind: "fork", field: "port", reason: "is 0")) {
            try decode([2, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        }
        #expect(throws: PreloadProtocolError.invalidField(kind: "fork", field: "environment key A=B", reason: "contains '='")) {
            try decode([2, 2, 0, 0, 0, 1, 0, 80, 0, 0, 0, 0, 1, 0, 3, 65, 61, 66, 0, 0])
        }
        #expect(throws: PreloadProtocolError.invalidField(kind: "fork", field: "value of A", reason: "contains a NUL byte")) {
            try decode([2, 2, 0, 0, 0, 1, 0, 80, 0, 0, 0, 0, 1, 0, 1, 65, 0, 1, 0])
        }
        #expect(throws: PreloadProtocolError.invalidField(kind: "hello", field: "runtime", reason: "is not valid UTF-8")) {
            try decode([2, 1, 0, 0, 0, 1, 0, 2, 0xC3, 0x28])
        }
        #expect(throws: PreloadProtocolError.invalidField(kind: "fork", field: "environment",
                                                          reason: "has 1025 entries, more than 1024")) {
            try decode([2, 2, 0, 0, 0, 1, 0, 80, 0, 0, 0, 0x04, 0x01])
        }
        // Version 2's fork fields: at most stdout's and stderr's descriptors, a bounded CPU list read exactly.
        #expect(throws: PreloadProtocolError.invalidField(kind: "fork", field: "streams", reason: "is 3, more than 2")) {
            try decode([2, 2, 0, 0, 0, 1, 0, 80, 3, 0, 0, 0, 0])
        }
        #expect(throws: PreloadProtocolError.invalidField(kind: "fork", field: "cpus", reason: "has 1025 entries, more than 1024")) {
            try decode([2, 2, 0, 0, 0, 1, 0, 80, 0, 0x04, 0x01])
        }
        #expect(throws: PreloadProtocolError.truncated(kind: "fork", field: "cpu 1")) {
            try decode([2, 2, 0, 0, 0, 1, 0, 80, 0, 0, 2, 0, 1])
        }
    }

    @Test func theEncoderRefusesWhatTheDecoderWouldReject() {
        #expect(throws: PreloadProtocolError.invalidField(kind: "fork", field: "environment key", reason: "is empty")) {
            try PreloadFrameEncoder.encode(.fork(slot: 1, port: 80, environment: [PreloadEnvironmentEntry("", "x")]))
        }
        #expect(throws: PreloadProtocolError.invalidField(kind: "hello", field: "pid", reason: "is -5, not a process id")) {
            try PreloadFrameEncoder.encode(.hello(pid: -5, runtime: ""))
        }
        let long = String(repeating: "x", count: PreloadWire.maxTextBytes + 1)
        #expect(throws: PreloadProtocolError.invalidField(kind: "error", field: "message",
                                                          reason: "is 4097 bytes, more than 4096")) {
            try PreloadFrameEncoder.encode(.error(slot: nil, message: long))
        }
        // 1024 entries of 60-byte values fit the count limit but not the frame.
        let big = (0..<1024).map { PreloadEnvironmentEntry("K\($0)", String(repeating: "v", count: 60)) }
        #expect(throws: PreloadProtocolError.self) { try PreloadFrameEncoder.encode(.fork(slot: 1, port: 80, environment: big)) }
    }

    @Test func everyTruncationOfAValidFrameWaitsOrFailsNeverTraps() throws {
        for message in Self.samples {
            let frame = try PreloadFrameEncoder.encode(message)
            for cut in 0..<frame.count {
                var decoder = PreloadFrameDecoder()
                decoder.append(frame[0..<cut])
                // A prefix of a frame is just an incomplete frame.
                #expect(try decoder.nextMessage() == nil, "\(message) cut at \(cut)")
                // The same prefix presented as a whole payload is malformed, and says so.
                if cut >= 6 {
                    let body = Array(frame[4..<cut])
                    #expect(throws: PreloadProtocolError.self) { try PreloadFrameDecoder.decode(payload: body[...]) }
                }
            }
        }
    }

    @Test func randomAndMutatedFramesNeverTrap() throws {
        var random = SplitMix64(seed: 0x5EED_F00D)
        var outcomes = (messages: 0, errors: 0, incomplete: 0)
        let valid = try Self.samples.map { try PreloadFrameEncoder.encode($0) }
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                // Pure noise, with a small length prefix half of the time so payloads get parsed.
                bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                if round % 4 == 0 && bytes.count >= 6 {
                    let length = bytes.count - 4
                    bytes[0] = 0; bytes[1] = 0; bytes[2] = UInt8(length >> 8); bytes[3] = UInt8(length & 0xFF)
                    bytes[4] = 1
                }
            } else {
                // A valid frame with one to three bytes flipped past the length prefix.
                bytes = valid[Int(random.next() % UInt64(valid.count))]
                for _ in 0..<(1 + Int(random.next() % 3)) {
                    let index = 4 + Int(random.next() % UInt64(bytes.count - 4))
                    bytes[index] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                }
            }
            var decoder = PreloadFrameDecoder()
            decoder.append(bytes)
            do {
                if let message = try decoder.nextMessage() {
                    outcomes.messages += 1
                    // Whatever decodes re-encodes to a frame that decodes to the same message.
                    var again = PreloadFrameDecoder()
                    again.append(try PreloadFrameEncoder.encode(message))
                    #expect(try again.nextMessage() == message)
                } else {
                    outcomes.incomplete += 1
                }
            } catch {
                outcomes.errors += 1
                #expect(!error.description.isEmpty)
            }
        }
        // The generator reached all three outcomes, so the test exercised each path.
        #expect(outcomes.messages > 100 && outcomes.errors > 1000 && outcomes.incomplete > 100, "\(outcomes)")
    }
}

/// A tiny deterministic generator so a failing fuzz round replays exactly.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
