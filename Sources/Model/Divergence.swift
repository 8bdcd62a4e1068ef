import Foundation

/// How far a candidate model's next-token distributions are from a reference's on the same token sequences
/// (teacher forcing), the way llama.cpp's `llama-perplexity --kl-divergence` compares a quantized model with its
/// f32 original: KL(reference ‖ candidate) per position, and how often both pick the same most likely token.
public struct DivergenceReport: Sendable, Equatable {
    /// Positions compared.
    public var positions: Int
    public var meanKL: Double
    /// 99th percentile of the per-position KL divergence.
    public var p99KL: Double
    public var maxKL: Double
    /// Fraction of positions where the candidate's top-1 token is the reference's.
    public var top1Agreement: Double

    public init(positions: Int, meanKL: Double, p99KL: Double, maxKL: Double, top1Agreement: Double) {
        self.positions = positions
        self.meanKL = meanKL
        self.p99KL = p99KL
        self.maxKL = maxKL
        self.top1Agreement = top1Agreement
    }

    /// Compares `candidate` with `reference` (stages holding every layer, embedding and head of the same model) on
    /// every position of every sequence, teacher-forced (the logits after each token), through a fresh KV cache per sequence.
    public static func measure(reference: DecoderStage, candidate: DecoderStage, sequences: [[Int32]]) throws -> DivergenceReport {
        var divergences: [Double] = []
        var agreements = 0
        for sequence in sequences {
            let expected = try logits(reference, sequence), actual = try logits(candidate, sequence)
            for (p, q) in zip(expected, actual) {
                divergences.append(klDivergence(p, q))
                if argmax(p) == argmax(q) { agreements += 1 }
            }
        }
        guard !divergences.isEmpty else { return DivergenceReport(positions: 0, meanKL: 0, p99KL: 0, maxKL: 0, top1Agreement: 1) }
        let sorted = divergences.sorted()
        return DivergenceReport(
            positions: sorted.count, meanKL: sorted.reduce(0, +) / Double(sorted.count),
            p99KL: sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)],
            maxKL: sorted.last!, top1Agreement: Double(agreements) / Double(sorted.count))
    }

    /// The logits after each token of `sequence`, as if fed one token at a time: in batches of up to 64 one-token
    /// chunks of the same sequence (each layer stores a batch's keys before any token attends, and results are
    /// batch-invariant, so position `p`'s logits are bit-identical to feeding tokens `0...p` one by one).
    static func logits(_ stage: DecoderStage, _ sequence: [Int32]) throws -> [[Float]] {
        let blockSize = 16, blocks = (sequence.count + blockSize - 1) / blockSize
        let cache = PagedKVCache(layerRange: stage.layerRange, blockSize: blockSize, blockCount: max(1, blocks), kvDim: stage.config.kvDim)
        let table = (0..<Int32(blocks)).map { $0 }
        var result: [[Float]] = []
        let vocabulary = stage.config.vocabSize
        for start in stride(from: 0, to: sequence.count, by: 64) {
            let positions = start..<min(start + 64, sequence.count)
            let batch = positions.map { SequenceChunk(startPosition: $0, tokenCount: 1, blockTable: table, wantsLogits: true) }
            guard case .logits(let logits) = try stage.forward(batch: batch, tokens: Array(sequence[positions]), cache: cache) else {
                throw StageError.badInput("divergence needs stages with the embedding and the head")
            }
            for i in positions.indices { result.append(Array(logits[(i - start) * vocabulary..<(i - start + 1) * vocabulary])) }
        }
        return result
    }

    /// KL(softmax(p) ‖ softmax(q)) in double precision.
    static func klDivergence(_ p: [Float], _ q: [Float]) -> Double {
        let logP = logSoftmax(p), logQ = logSoftmax(q)
        var sum = 0.0
        for i in logP.indices { sum += exp(logP[i]) * (logP[i] - logQ[i]) }
        return sum.isNaN ? .nan : max(0, sum)
    }

    static func logSoftmax(_ x: [Float]) -> [Double] {
        let maximum = Double(x.max() ?? 0)
        let total = x.reduce(0.0) { $0 + exp(Double($1) - maximum) }
        let logTotal = maximum + log(total)
        return x.map { Double($0) - logTotal }
    }

    static func argmax(_ x: [Float]) -> Int { x.indices.max { x[$0] < x[$1] } ?? 0 }
}
