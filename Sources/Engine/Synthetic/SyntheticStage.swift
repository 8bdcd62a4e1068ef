#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Model

/// One rank of a `SyntheticModel`: checks and advances the activations' layer counter, sleeps the stage's time, and on
/// the last stage turns each chunk's last token row into deterministic logits.
public struct SyntheticStage: StageModel {
    /// The model's parameters.
    public let spec: SyntheticSpec
    /// This stage's index in the pipeline.
    public let rank: Int
    /// Number of stages in the pipeline.
    public let stageCount: Int
    /// The layers this stage holds.
    public let layers: Range<Int>
    /// The stage's sleep per micro-batch before jitter, in milliseconds.
    public let milliseconds: Double

    /// Whether this stage embeds tokens (rank 0).
    public var isFirst: Bool { rank == 0 }
    /// Whether this stage produces logits (the last rank).
    public var isLast: Bool { rank == stageCount - 1 }

    /// Runs one micro-batch; see `StageModel.forward`.
    /// - Throws: `SyntheticStageError` if the input sizes do not match the batch, or the activations' layer counter
    ///   is not this stage's first layer (they came from the wrong upstream stage, or out of order).
    public func forward(batch: [SequenceChunk], tokens: [Int32], hidden: [Float]) throws -> StageOutput {
        let total = try tokenTotal(batch)
        let width = spec.hiddenSize
        let (elementCount, overflow) = total.multipliedReportingOverflow(by: width)
        guard !overflow else { throw failure("the batch of \(total) tokens is too large") }
        var rows: [Float]
        if isFirst {
            guard tokens.count == total else {
                throw failure("got \(tokens.count) tokens for a batch of \(total) tokens")
            }
            rows = embed(batch: batch, tokens: tokens, count: elementCount)
        } else {
            guard hidden.count == elementCount else {
                throw failure("got \(hidden.count) activations for \(total) tokens × hidden size \(width) = \(elementCount)")
            }
            let expected = Float(layers.lowerBound)
            for row in 0..<total where hidden[row * width + 2] != expected {
                throw failure("row \(row) has layer counter \(hidden[row * width + 2]), expected \(expected) "
                    + "(activations from the wrong upstream stage, or out of order)")
            }
            rows = hidden
        }
        let advance = Float(layers.count)
        for row in 0..<total { rows[row * width + 2] += advance }
        Self.sleep(delay(batch: batch, tokens: tokens, hidden: hidden))
        if isLast, let failAt = spec.failAtPosition, let chunk = batch.first(where: { $0.startPosition + $0.tokenCount > failAt }) {
            throw failure("injected fault: a sequence reached position \(chunk.startPosition + chunk.tokenCount) (fail-at=\(failAt))")
        }
        return isLast ? .logits(logits(batch: batch, rows: rows)) : .hidden(rows)
    }

    /// The jitter factor for a batch, uniform in `[1 - jitter, 1 + jitter]`: a hash of the seed, the rank, and each
    /// chunk's start position, token count and first token (or first activation), so the same batch gets the same
    /// factor in every run.
    public func jitterFactor(batch: [SequenceChunk], tokens: [Int32], hidden: [Float]) -> Double {
        guard spec.jitter > 0 else { return 1 }
        var hash = splitMix64(spec.seed ^ splitMix64(UInt64(bitPattern: Int64(rank))))
        var offset = 0
        for chunk in batch {
            var first: UInt64 = 0
            if chunk.tokenCount > 0 {
                if isFirst, tokens.indices.contains(offset) {
                    first = UInt64(Float(tokens[offset]).bitPattern)
                } else if !isFirst, offset <= Int.max / spec.hiddenSize, hidden.indices.contains(offset * spec.hiddenSize) {
                    first = UInt64(hidden[offset * spec.hiddenSize].bitPattern)
                }
            }
            hash = splitMix64(hash ^ UInt64(bitPattern: Int64(chunk.startPosition)))
            hash = splitMix64(hash ^ UInt64(bitPattern: Int64(chunk.tokenCount)))
            hash = splitMix64(hash ^ first)
            offset = offset &+ max(chunk.tokenCount, 0)
        }
        var generator = SeededGenerator(seed: hash)
        return 1 - spec.jitter + 2 * spec.jitter * generator.nextUnit()
    }

    /// How long `forward` sleeps for a batch: the stage time times its jitter factor, plus the per-token time for
    /// every token in the batch.
    public func delay(batch: [SequenceChunk], tokens: [Int32], hidden: [Float]) -> Duration {
        let tokenCount = batch.reduce(0.0) { $0 + Double(max($1.tokenCount, 0)) }
        let nanoseconds = milliseconds * jitterFactor(batch: batch, tokens: tokens, hidden: hidden) * 1e6
            + spec.perTokenMicroseconds * tokenCount * 1e3
        // At most a day: keeps the conversion in range for any batch.
        return .nanoseconds(Int64(min(max(nanoseconds, 0), 86_400e9).rounded()))
    }

    /// Sums the chunks' token counts, rejecting negative counts and overflow.
    func tokenTotal(_ batch: [SequenceChunk]) throws(SyntheticStageError) -> Int {
        var total = 0
        for (index, chunk) in batch.enumerated() {
            guard chunk.tokenCount >= 0 else { throw failure("chunk \(index) has token count \(chunk.tokenCount)") }
            let (sum, overflow) = total.addingReportingOverflow(chunk.tokenCount)
            guard !overflow else { throw failure("the batch's token count overflows") }
            total = sum
        }
        return total
    }

    /// First-stage activations: token id, position, layer counter 0, then small integers derived from the token.
    func embed(batch: [SequenceChunk], tokens: [Int32], count: Int) -> [Float] {
        let width = spec.hiddenSize
        guard count > 0 else { return [] }  // see WireReader.readArray
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            var row = 0
            for chunk in batch {
                for offset in 0..<chunk.tokenCount {
                    let token = Int(tokens[row]), base = row * width
                    buffer[base] = Float(token)
                    buffer[base + 1] = Float(chunk.startPosition &+ offset)
                    buffer[base + 2] = 0
                    for k in 3..<width { buffer[base + k] = Float((token &+ k) & 1023) }
                    row += 1
                }
            }
            initialized = count
        }
    }

    /// One row of `vocabSize` logits in [-4, 4) per chunk that wants them, hashed from the seed and the chunk's last
    /// token and position.
    func logits(batch: [SequenceChunk], rows: [Float]) -> [Float] {
        let width = spec.hiddenSize, vocab = spec.vocabSize
        var result: [Float] = []
        result.reserveCapacity(batch.count(where: { $0.wantsLogits && $0.tokenCount > 0 }) * vocab)
        var offset = 0
        for chunk in batch {
            offset += chunk.tokenCount
            guard chunk.wantsLogits, chunk.tokenCount > 0 else { continue }
            let last = (offset - 1) * width
            let key = UInt64(rows[last].bitPattern) | UInt64(rows[last + 1].bitPattern) << 32
            let base = splitMix64(spec.seed ^ splitMix64(key))
            for v in 0..<vocab {
                // 24 random bits scaled to [0, 8), shifted to [-4, 4): exact in Float.
                result.append(Float(splitMix64(base &+ UInt64(v)) >> 40) * 0x1p-21 - 4)
            }
        }
        return result
    }

    func failure(_ message: String) -> SyntheticStageError {
        SyntheticStageError("synthetic stage \(rank) of \(stageCount) (layers \(layers.lowerBound)..<\(layers.upperBound)): \(message)")
    }

    /// Blocks the calling thread (no busy-waiting), resuming after signal interruptions.
    static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || attoseconds > 0 else { return }
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR {
            request = remaining
        }
    }
}
