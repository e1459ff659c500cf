// GET/POST /stream: a text/event-stream response that "generates" one token
// per word — the classifier explaining its prediction word by word (which
// class each word's n-grams lean towards, and how strongly) — then a final
// event with the overall prediction and `data: [DONE]`, the shape LLM
// servers use. The pause between tokens emulates generation latency; the
// worker blocks on the stream, as a synchronous worker would.

import Glibc

struct StreamWriter {
    let fd: Int32
    /// HTTP/1.0 clients cannot receive chunked encoding: for them the body
    /// is written raw and delimited by closing the connection.
    let chunked: Bool

    func head() -> WriteOutcome {
        var head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Connection: close\r\n\r\n"
        return writeAll(fd, Array(head.utf8))
    }

    /// One `data:` event, in one chunk, so a client sees every token as soon
    /// as it is produced.
    func event(_ data: String) -> WriteOutcome {
        let payload = Array("data: \(data)\n\n".utf8)
        guard chunked else { return writeAll(fd, payload) }
        return writeAll(fd, Array((String(payload.count, radix: 16) + "\r\n").utf8) + payload + Array("\r\n".utf8))
    }

    func end() -> WriteOutcome { chunked ? writeAll(fd, Array("0\r\n\r\n".utf8)) : .done }
}

/// The tokens of a /stream response: one JSON event per word, then the
/// prediction. Computed up front (that is the CPU-bound part); the stream
/// then only paces their delivery.
/// Longer texts are still classified in full, but only this many words are
/// streamed: at the default 20 ms per token that is already 5 seconds.
let maxExplainedWords = 256

func explanationEvents(app: App, text: [UInt8]) -> [String] {
    let prediction = app.predictor.predict(text)
    let classifier = app.predictor.classifier
    let normalized = normalize(text)
    var events: [String] = []
    let words = normalized.split(separator: 0x20)
    for word in words.prefix(maxExplainedWords) {
        let scores = classifier.wordScores(word)
        let mean = scores.reduce(0, +) / Float(scores.count)
        let lean = argmax(scores)
        events.append("{\"token\":\(jsonString(String(decoding: word, as: UTF8.self))),\"leans\":\(jsonString(Classifier.labels[lean])),"
            + "\"weight\":\(jsonNumber(Double(scores[lean] - mean), digits: 3))}")
    }
    if words.count > maxExplainedWords {
        events.append("{\"token\":\"…\",\"omitted_words\":\(words.count - maxExplainedWords)}")
    }
    events.append(app.predictionJSON(prediction))
    events.append("[DONE]")
    return events
}
