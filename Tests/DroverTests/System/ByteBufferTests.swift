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

@Suite("ByteBuffer") struct ByteBufferTests {
    @Test func appendAndConsume() {
        var buffer = ByteBuffer()
        #expect(buffer.isEmpty && buffer.readableBytes == 0)
        buffer.append(Array("hello ".utf8))
        buffer.append("world")
        buffer.append(UInt8(ascii: "!"))
        buffer.append(Array("??".utf8)[...])
        #expect(buffer.readableBytes == 14)
        #expect(buffer[0] == UInt8(ascii: "h"))
        buffer.consume(6)
        #expect(buffer.readableBytes == 8)
        #expect(buffer[0] == UInt8(ascii: "w"))
        #expect(Array(buffer.slice(0..<5)) == Array("world".utf8))
        #expect(buffer.readableArray == Array("world!??".utf8))
        buffer.withReadableBytes { raw in #expect(Array(raw) == Array("world!??".utf8)) }
        buffer.consume(8)
        #expect(buffer.isEmpty)
        #expect(buffer.readerIndex == 0, "emptied: the read index starts over")
    }

    @Test func appendFromRawBytesAndAnotherBuffer() {
        var source = ByteBuffer(Array("0123456789".utf8))
        source.consume(2)
        var target = ByteBuffer(capacity: 64)
        target.append(source, range: 1..<4)
        #expect(target.readableArray == Array("345".utf8))
        Array("abc".utf8).withUnsafeBytes { target.append($0) }
        #expect(target.readableArray == Array("345abc".utf8))
    }

    @Test func compactsWhenTheDeadPrefixIsLarge() {
        var buffer = ByteBuffer()
        let bytes = patternBytes(10_000)
        buffer.append(bytes)
        buffer.consume(6_000)
        #expect(buffer.readerIndex == 6_000)
        buffer.append(patternBytes(10, from: 10_000))
        #expect(buffer.readerIndex == 0, "6000 dead bytes ahead of 4000 live ones: moved down")
        #expect(buffer.storage.count == 4_010)
        #expect(buffer.readableArray == patternBytes(4_010, from: 6_000))
    }

    @Test func doesNotCompactASmallPrefix() {
        var buffer = ByteBuffer()
        buffer.append(patternBytes(10_000))
        buffer.consume(100)
        buffer.append(patternBytes(10, from: 10_000))
        #expect(buffer.readerIndex == 100, "a small prefix is not worth a copy")
        buffer.consume(3_000)
        buffer.append(patternBytes(10, from: 10_010))
        #expect(buffer.readerIndex == 3_100, "nor one under 4 KiB")
        #expect(buffer.readableArray == patternBytes(6_920, from: 3_100))
        // Every byte moves a bounded number of times across many rounds.
        var model = buffer.readableArray
        for round in 0..<200 {
            let chunk = patternBytes(1_000, from: round)
            buffer.append(chunk)
            model.append(contentsOf: chunk)
            buffer.consume(900)
            model.removeFirst(900)
            #expect(buffer.storage.count - buffer.readerIndex == model.count)
        }
        #expect(buffer.readableArray == model)
    }

    @Test func clearKeepsOrDropsCapacity() {
        var buffer = ByteBuffer()
        buffer.append(patternBytes(1_000))
        buffer.clear()
        #expect(buffer.isEmpty && buffer.storage.capacity >= 1_000, "small: capacity kept for reuse")
        buffer.append(patternBytes(200_000))
        buffer.consume(200_000)
        #expect(buffer.isEmpty)
        #expect(buffer.storage.capacity < 200_000, "large: given back once empty")
    }
}
