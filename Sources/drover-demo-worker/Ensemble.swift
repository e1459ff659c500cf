// Where the per-request CPU goes. The label comes from the exact naive
// Bayes posterior (microseconds); the reported scores come from a bootstrap
// ensemble: `passes` replicates, each re-drawing the request's n-gram
// features with replacement and re-scoring them, so the probabilities carry
// the model's real uncertainty (a short or mixed text gives spread-out
// votes). The number of passes is the knob `--cost` multiplies: the work is
// genuine arithmetic over the feature table, never a sleep, so a benchmark
// sees a true CPU-bound service time that scales with the text like a
// real model's would.

import Glibc

struct Prediction {
    var label: Int
    var probabilities: [Double]
    /// Fraction of bootstrap replicates whose argmax equals `label`.
    var agreement: Double
    var features: Int
    var passes: Int
    var cpuMilliseconds: Double
}

struct Predictor {
    let classifier: Classifier
    /// Replicates at `--cost 1`: calibrated so a typical one-sentence request
    /// costs about 3 ms of CPU in a release build on a 2020s x86 core.
    static let basePasses = 10_000
    /// m-out-of-n bootstrap: each replicate draws at most this many features,
    /// so a 1 MB body costs the same ensemble work as a paragraph (feature
    /// extraction stays linear in the text).
    static let sampleCap = 256
    var passes: Int

    init(classifier: Classifier, cost: Double) {
        self.classifier = classifier
        passes = max(0, Int((Double(Predictor.basePasses) * cost).rounded()))
    }

    func predict(_ bytes: some Collection<UInt8>) -> Prediction {
        let cpuStart = threadCPUTime()
        let classes = Classifier.classCount
        let text = normalize(bytes)
        let features = classifier.featureBuckets(text)
        let n = features.count
        let prior = classifier.logPrior

        return classifier.logLikelihood.withUnsafeBufferPointer { table in
            // Exact posterior over all features.
            var exact = prior
            for f in features { for c in 0..<classes { exact[c] += table[Int(f) * classes + c] } }
            let label = argmax(exact)
            // Log-likelihood sums grow with the number of (correlated)
            // features; a length-dependent temperature keeps the reported
            // probabilities meaningful instead of always 0.999.
            let temperature = max(1, Float(n) / 4)

            var probabilities = softmax(exact, temperature: temperature)
            var agreement = 1.0
            if n > 0 && passes > 0 {
                var votes = [Int](repeating: 0, count: classes)
                var sumProbabilities = [Double](repeating: 0, count: classes)
                let m = min(n, Predictor.sampleCap)
                let rescale = Float(n) / Float(m)
                var rng = SplitMix64(seed: fnv64(text))   // same text → same answer
                features.withUnsafeBufferPointer { features in
                    var sums = [Float](repeating: 0, count: classes)
                    for _ in 0..<passes {
                        for c in 0..<classes { sums[c] = 0 }
                        for _ in 0..<m {
                            // Multiply-shift instead of `%`: an index in
                            // 0..<n without a division per draw.
                            let i = Int(((rng.next() >> 32) &* UInt64(n)) >> 32)
                            let row = Int(features[i]) * classes
                            for c in 0..<classes { sums[c] += table[row + c] }
                        }
                        for c in 0..<classes { sums[c] = prior[c] + sums[c] * rescale }
                        votes[argmax(sums)] += 1
                        let p = softmax(sums, temperature: temperature)
                        for c in 0..<classes { sumProbabilities[c] += p[c] }
                    }
                }
                probabilities = sumProbabilities.map { $0 / Double(passes) }
                agreement = Double(votes[label]) / Double(passes)
            }
            return Prediction(label: label, probabilities: probabilities, agreement: agreement,
                              features: n, passes: n > 0 ? passes : 0,
                              cpuMilliseconds: (threadCPUTime() - cpuStart) * 1000)
        }
    }
}

func argmax(_ values: [Float]) -> Int {
    var best = 0
    for i in values.indices where values[i] > values[best] { best = i }
    return best
}

func softmax(_ scores: [Float], temperature: Float) -> [Double] {
    let top = scores.max() ?? 0
    let e = scores.map { Double(expf(($0 - top) / temperature)) }
    let total = e.reduce(0, +)
    return e.map { $0 / total }
}

/// A tiny, fast, well-mixed PRNG (Steele et al.'s SplitMix64); the standard
/// library's SystemRandomNumberGenerator would cost a syscall-backed read.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func fnv64(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}

/// CPU time consumed by this thread, in seconds: what `cpu_ms` reports,
/// so queueing and scheduling delays never inflate it.
func threadCPUTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
