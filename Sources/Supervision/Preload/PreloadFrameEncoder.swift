/// Turns a `PreloadMessage` into one length-prefixed frame. drover only ever
/// sends `fork`, but every kind encodes so tests (and a Swift template) can
/// speak both directions. A message that breaks the field rules is refused
/// here rather than sent for the peer to reject.
package enum PreloadFrameEncoder {
    package static func encode(_ message: PreloadMessage) throws(PreloadProtocolError) -> [UInt8] {
        var payload: [UInt8] = [PreloadWire.version, message.kind.rawValue]
        switch message {
        case .hello(let pid, let runtime):
            try PreloadFieldRules.checkPid(pid, kind: .hello)
            append32(UInt32(bitPattern: pid), to: &payload)
            try appendText(Array(runtime.utf8), kind: .hello, field: "runtime", to: &payload)
        case .fork(let slot, let port, let cpus, let streams, let environment):
            try PreloadFieldRules.checkPort(port)
            try PreloadFieldRules.checkStreams(streams)
            try PreloadFieldRules.checkCpuCount(cpus.count)
            try PreloadFieldRules.checkEnvironment(environment)
            append32(slot, to: &payload)
            append16(port, to: &payload)
            payload.append(streams)
            append16(UInt16(cpus.count), to: &payload)
            for cpu in cpus { append16(cpu, to: &payload) }
            append16(UInt16(environment.count), to: &payload)
            for entry in environment {
                appendString(Array(entry.key.utf8), to: &payload)
                let value = Array(entry.value.utf8)
                if value.count > Int(UInt16.max) {
                    throw .invalidField(kind: "fork", field: "value of \(entry.key)",
                                        reason: "is \(value.count) bytes, more than \(UInt16.max)")
                }
                appendString(value, to: &payload)
            }
        case .forked(let slot, let pid):
            try PreloadFieldRules.checkPid(pid, kind: .forked)
            append32(slot, to: &payload)
            append32(UInt32(bitPattern: pid), to: &payload)
        case .exited(let pid, let waitStatus):
            try PreloadFieldRules.checkPid(pid, kind: .exited)
            append32(UInt32(bitPattern: pid), to: &payload)
            append32(UInt32(bitPattern: waitStatus), to: &payload)
        case .error(let slot, let message):
            append32(slot ?? PreloadWire.noSlot, to: &payload)
            try appendText(Array(message.utf8), kind: .error, field: "message", to: &payload)
        }
        if payload.count > PreloadWire.maxPayload { throw .frameTooLarge(length: payload.count) }
        var frame: [UInt8] = []
        frame.reserveCapacity(4 + payload.count)
        append32(UInt32(payload.count), to: &frame)
        frame.append(contentsOf: payload)
        return frame
    }

    private static func appendText(_ text: [UInt8], kind: PreloadWire.Kind, field: String,
                                   to bytes: inout [UInt8]) throws(PreloadProtocolError) {
        try PreloadFieldRules.checkText(text, kind: kind, field: field)
        appendString(text, to: &bytes)
    }

    /// A `str`: u16 length then the bytes; callers have bounded the length.
    private static func appendString(_ text: [UInt8], to bytes: inout [UInt8]) {
        append16(UInt16(text.count), to: &bytes)
        bytes.append(contentsOf: text)
    }

    private static func append16(_ value: UInt16, to bytes: inout [UInt8]) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }

    private static func append32(_ value: UInt32, to bytes: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((value >> UInt32(shift)) & 0xFF)) }
    }
}
