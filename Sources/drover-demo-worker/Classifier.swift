// A multinomial naive Bayes classifier over hashed character n-grams,
// trained from `trainingCorpus` at start-up. Naive Bayes because training
// is a single counting pass (a few milliseconds for a few hundred examples)
// yet it separates sentiment surprisingly well at the character level.

import Glibc

struct Classifier {
    static let labels = ["positive", "negative", "neutral"]
    static var classCount: Int { labels.count }

    /// 2^15 hashed buckets × 3 classes of Float = 384 KiB: large enough that
    /// the ~20k distinct training n-grams rarely collide, small enough to
    /// keep each worker's RSS low and the table in L2 cache.
    static let bucketBits = 15
    let bucketMask = (1 << Classifier.bucketBits) - 1

    /// Row-major [bucket][class] log P(gram | class), Laplace-smoothed.
    private(set) var logLikelihood: [Float]
    /// log P(class) from the label frequencies of the corpus.
    private(set) var logPrior: [Float]
    private(set) var exampleCount = 0

    /// Trains from `label<TAB>text` lines; lines with an unknown label are
    /// skipped (the corpus is compiled in, so this is a programming error
    /// caught by the tests, not a runtime condition).
    init(corpus: String, smoothing: Float = 0.1) {
        let classes = Classifier.classCount
        let buckets = 1 << Classifier.bucketBits
        var counts = [Float](repeating: 0, count: buckets * classes)
        var totals = [Float](repeating: 0, count: classes)
        var docs = [Float](repeating: 0, count: classes)
        let mask = buckets - 1
        var examples = 0
        for line in corpus.utf8.split(separator: 0x0A) {
            guard let tab = line.firstIndex(of: 0x09),
                  let label = Classifier.labels.firstIndex(of: String(decoding: line[..<tab], as: UTF8.self))
            else { continue }
            let text = normalize(line[line.index(after: tab)...])
            docs[label] += 1
            examples += 1
            forEachNGram(text, bucketMask: mask) { bucket, _, _ in
                counts[bucket * classes + label] += 1
                totals[label] += 1
            }
        }
        var table = [Float](repeating: 0, count: buckets * classes)
        for c in 0..<classes {
            let denominator = logf(totals[c] + smoothing * Float(buckets))
            for b in 0..<buckets {
                table[b * classes + c] = logf(counts[b * classes + c] + smoothing) - denominator
            }
        }
        logLikelihood = table
        logPrior = docs.map { logf(max($0, 1) / Float(max(examples, 1))) }
        exampleCount = examples
    }

    /// The table row (bucket) of every n-gram of `normalized`, as 2-byte
    /// indices: 2^15 buckets fit a UInt16, so even a 1 MiB request's ~4M
    /// n-grams need only 8 MB while the ensemble passes over them.
    func featureBuckets(_ normalized: [UInt8]) -> [UInt16] {
        var buckets: [UInt16] = []
        buckets.reserveCapacity(normalized.count * ngramOrders.count)
        forEachNGram(normalized, bucketMask: bucketMask) { bucket, _, _ in buckets.append(UInt16(truncatingIfNeeded: bucket)) }
        return buckets
    }

    /// Per-class log-likelihood of one word's n-grams (the word padded with
    /// spaces, so its boundary grams count), for explaining a prediction
    /// word by word. Cost is proportional to the word, not the text.
    func wordScores(_ word: ArraySlice<UInt8>) -> [Float] {
        let classes = Classifier.classCount
        var sums = [Float](repeating: 0, count: classes)
        logLikelihood.withUnsafeBufferPointer { table in
            forEachNGram([0x20] + word + [0x20], bucketMask: bucketMask) { bucket, _, _ in
                for c in 0..<classes { sums[c] += table[bucket * classes + c] }
            }
        }
        return sums
    }
}
