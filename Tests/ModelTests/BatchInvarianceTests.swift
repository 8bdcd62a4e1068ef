import Kernels
import Model
import Testing

/// A sequence's logits must be bit-identical whatever batch it runs in: alone, with other prompts, split into
/// prefill chunks, or as a decode step next to prefill chunks. The pipeline's determinism rests on this.
@Suite struct BatchInvarianceTests {
    let france: [Int32] = [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
    let robot: [Int32] = [6403, 1980, 253, 655, 28, 665, 436, 253, 1838, 8085, 617]

    func makeStage(_ precision: Precision) throws -> (DecoderStage, ModelConfig) {
        let weights = try ModelWeights.open(try TestData.require(TestData.smolLM2))
        return (try weights.stage(precision: precision), weights.config)
    }

    func logits(_ output: StageOutput) -> [Float] {
        if case .logits(let l) = output { return l }
        Issue.record("expected logits")
        return []
    }

    /// The same logits on 1 and 2 kernel threads (kernels split rows, attention splits heads differently).
    @Test(arguments: Precision.allCases)
    func logitsDoNotDependOnTheThreadCount(precision: Precision) throws {
        let (stage, config) = try makeStage(precision)
        func run(threads: Int) throws -> [Float] {
            KernelThreads.configure(threads)
            defer { KernelThreads.configure(KernelThreads.cores) }
            let cache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: 4, blockCount: 8, kvDim: config.kvDim)
            _ = try stage.forward(batch: [SequenceChunk(startPosition: 0, tokenCount: 16, blockTable: [0, 1, 2, 3, 4], wantsLogits: false)],
                                  tokens: france, cache: cache)
            return logits(try stage.forward(batch: [SequenceChunk(startPosition: 16, tokenCount: 1, blockTable: [0, 1, 2, 3, 4], wantsLogits: true)],
                                            tokens: [504], cache: cache))
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        #expect(one.count == config.vocabSize && one.map(\.bitPattern) == two.map(\.bitPattern))
    }

    @Test(arguments: Precision.allCases)
    func mixedBatchEqualsEachSequenceAlone(precision: Precision) throws {
        let (stage, config) = try makeStage(precision)
        let v = config.vocabSize
        // Alone, in fresh caches.
        let aloneCache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: 4, blockCount: 16, kvDim: config.kvDim)
        let franceAlone = logits(try stage.forward(batch: [SequenceChunk(startPosition: 0, tokenCount: 16, blockTable: [0, 1, 2, 3], wantsLogits: true)],
                                                   tokens: france, cache: aloneCache))
        let robotAlone = logits(try stage.forward(batch: [SequenceChunk(startPosition: 0, tokenCount: 11, blockTable: [4, 5, 6], wantsLogits: true)],
                                                  tokens: robot, cache: aloneCache))
        #expect(franceAlone.count == v && robotAlone.count == v)
        #expect(!franceAlone.contains { !$0.isFinite })

        // Together: robot's first 7 tokens with all of france, then robot's last 4 tokens as a second chunk.
        let cache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: 4, blockCount: 16, kvDim: config.kvDim)
        let first = logits(try stage.forward(
            batch: [SequenceChunk(startPosition: 0, tokenCount: 7, blockTable: [9, 3], wantsLogits: false),
                    SequenceChunk(startPosition: 0, tokenCount: 16, blockTable: [0, 1, 7, 2], wantsLogits: true)],
            tokens: Array(robot[0..<7]) + france, cache: cache))
        #expect(first == franceAlone)
        let second = logits(try stage.forward(
            batch: [SequenceChunk(startPosition: 7, tokenCount: 4, blockTable: [9, 3, 11], wantsLogits: true)],
            tokens: Array(robot[7...]), cache: cache))
        #expect(second == robotAlone)
    }
}
