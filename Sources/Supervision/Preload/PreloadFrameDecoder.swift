/// Cuts a byte stream from a preload peer into messages. Bytes arrive in any
/// pieces (a socket read may end mid-frame); `append` them, then call
/// `nextMessage()` until it answers nil. A frame that announces more than
/// `PreloadWire.maxPayload` bytes is refused from its length alone, so a
/// broken peer never makes drover buffer without bound. After an error the
/// stream has no resynchronisation: the caller closes the socket.
package struct PreloadFrameDecoder {
    private var buffer: [UInt8] = []
    /// Where the next unread frame starts; consumed bytes are dropped lazily.
    private var readIndex = 0

    package init() {}

    /// Bytes received and not yet decoded.
    package var pendingByteCount: Int { buffer.count - readIndex }

    package mutating func append(_ bytes: some Sequence<UInt8>) {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, nil when the buffered bytes end mid-frame.
    package mutating func nextMessage() throws(PreloadProtocolError) -> PreloadMessage? {
        guard pendingByteCount >= 4 else { return nil }
        var length = 0
        for offset in 0..<4 { length = length << 8 | Int(buffer[readIndex + offset]) }
        if length > PreloadWire.maxPayload { throw .frameTooLarge(length: length) }
        if length < 2 { throw .frameTooShort(length: length) }
        guard pendingByteCount >= 4 + length else { return nil }
        let start = readIndex + 4
        let message = try Self.decode(payload: buffer[start..<(start + length)])
        readIndex = start + length
        return message
    }

    /// Decodes one payload (the bytes after the length prefix).
    package static func decode(payload: ArraySlice<UInt8>) throws(PreloadProtocolError) -> PreloadMessage {
        if payload.count > PreloadWire.maxPayload { throw .frameTooLarge(length: payload.count) }
        if payload.count < 2 { throw .frameTooShort(length: payload.count) }
        let version = payload[payload.startIndex]
        if version != PreloadWire.version { throw .unsupportedVersion(version) }
        let kindByte = payload[payload.startIndex + 1]
        guard let kind = PreloadWire.Kind(rawValue: kindByte) else { throw .unknownKind(kindByte) }
        var reader = BodyReader(bytes: payload.dropFirst(2), kind: kind)
        let message: PreloadMessage
        switch kind {
        case .hello:
            let pid = Int32(bitPattern: try reader.u32("pid"))
            try PreloadFieldRules.checkPid(pid, kind: .hello)
            message = .hello(pid: pid, runtime: try reader.text("runtime"))
        case .fork:
            let slot = try reader.u32("slot")
            let port = try reader.u16("port")
            try PreloadFieldRules.checkPort(port)
            let streams = try reader.u8("streams")
            try PreloadFieldRules.checkStreams(streams)
            let cpuCount = Int(try reader.u16("cpu count"))
            try PreloadFieldRules.checkCpuCount(cpuCount)
            var cpus: [UInt16] = []
            cpus.reserveCapacity(cpuCount)
            for index in 0..<cpuCount { cpus.append(try reader.u16("cpu \(index)")) }
            let count = Int(try reader.u16("environment count"))
            if count > PreloadWire.maxEnvironmentEntries {
                throw .invalidField(kind: "fork", field: "environment",
                                    reason: "has \(count) entries, more than \(PreloadWire.maxEnvironmentEntries)")
            }
            var environment: [PreloadEnvironmentEntry] = []
            environment.reserveCapacity(count)
            for index in 0..<count {
                let keyBytes = try reader.stringBytes("environment key \(index)")
                try PreloadFieldRules.checkKey(keyBytes)
                let key = try reader.utf8(keyBytes, field: "environment key \(index)")
                let valueBytes = try reader.stringBytes("value of \(key)")
                try PreloadFieldRules.checkNoNul(valueBytes, kind: .fork, field: "value of \(key)")
                environment.append(PreloadEnvironmentEntry(key, try reader.utf8(valueBytes, field: "value of \(key)")))
            }
            message = .fork(slot: slot, port: port, cpus: cpus, streams: streams, environment: environment)
        case .forked:
            let slot = try reader.u32("slot")
            let pid = Int32(bitPattern: try reader.u32("pid"))
            try PreloadFieldRules.checkPid(pid, kind: .forked)
            message = .forked(slot: slot, pid: pid)
        case .exited:
            let pid = Int32(bitPattern: try reader.u32("pid"))
            try PreloadFieldRules.checkPid(pid, kind: .exited)
            message = .exited(pid: pid, waitStatus: Int32(bitPattern: try reader.u32("status")))
        case .error:
            let slot = try reader.u32("slot")
            message = .error(slot: slot == PreloadWire.noSlot ? nil : slot, message: try reader.text("message"))
        }
        if !reader.bytes.isEmpty { throw .trailingBytes(kind: kind.name, count: reader.bytes.count) }
        return message
    }

    /// Reads a body's fields front to back; every short read names the field.
    private struct BodyReader {
        var bytes: ArraySlice<UInt8>
        let kind: PreloadWire.Kind

        mutating func take(_ count: Int, _ field: String) throws(PreloadProtocolError) -> ArraySlice<UInt8> {
            guard bytes.count >= count else { throw .truncated(kind: kind.name, field: field) }
            let taken = bytes.prefix(count)
            bytes = bytes.dropFirst(count)
            return taken
        }

        mutating func u8(_ field: String) throws(PreloadProtocolError) -> UInt8 {
            let one = try take(1, field)
            return one[one.startIndex]
        }

        mutating func u16(_ field: String) throws(PreloadProtocolError) -> UInt16 {
            let two = try take(2, field)
            return UInt16(two[two.startIndex]) << 8 | UInt16(two[two.startIndex + 1])
        }

        mutating func u32(_ field: String) throws(PreloadProtocolError) -> UInt32 {
            try take(4, field).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }

        mutating func stringBytes(_ field: String) throws(PreloadProtocolError) -> [UInt8] {
            let length = Int(try u16("length of \(field)"))
            return Array(try take(length, field))
        }

        /// A bounded free-text field (hello's runtime, error's message).
        mutating func text(_ field: String) throws(PreloadProtocolError) -> String {
            let raw = try stringBytes(field)
            try PreloadFieldRules.checkText(raw, kind: kind, field: field)
            return try utf8(raw, field: field)
        }

        func utf8(_ raw: [UInt8], field: String) throws(PreloadProtocolError) -> String {
            let text = String(decoding: raw, as: UTF8.self)
            // decoding repairs bad sequences with U+FFFD; a repaired string is not the sender's.
            if !text.utf8.elementsEqual(raw) {
                throw .invalidField(kind: kind.name, field: field, reason: "is not valid UTF-8")
            }
            return text
        }
    }
}
