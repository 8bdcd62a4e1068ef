import Model

/// Runs scheduled batches through a whole model (one stage holding every layer) and samples the next tokens.
struct ModelRunner {
    let stage: LlamaStage
    let cache: PagedKVCache

    /// Runs `batch` and returns, for each chunk that samples, its sampled token (in batch order).
    func run(_ batch: [ScheduledChunk]) throws(StageError) -> [SampledToken] {
        var chunks: [SequenceChunk] = []
        var tokens: [Int32] = []
        for entry in batch {
            chunks.append(SequenceChunk(startPosition: entry.start, tokenCount: entry.count,
                                        blockTable: entry.sequence.blockTable, wantsLogits: entry.samples))
            tokens.append(contentsOf: entry.sequence.tokens[entry.start..<entry.start + entry.count])
        }
        guard case .logits(let logits) = try stage.forward(batch: chunks, tokens: tokens, cache: cache) else {
            throw StageError.badInput("the model runner's stage has no output head")
        }
        let vocab = stage.config.vocabSize
        var sampled: [SampledToken] = []
        var row = 0
        for entry in batch where entry.samples {
            let sequence = entry.sequence
            let token = logits.withUnsafeBufferPointer { all in
                Sampler.sample(logits: UnsafeBufferPointer(rebasing: all[row * vocab..<(row + 1) * vocab]),
                               parameters: sequence.request.sampling, seen: sequence.seen,
                               generatedCounts: sequence.generatedCounts, suppressed: sequence.suppressedTokens,
                               generator: &sequence.generator)
            }
            sampled.append(token)
            row += 1
        }
        return sampled
    }
}
