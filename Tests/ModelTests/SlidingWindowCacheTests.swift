import Foundation
import Kernels
import Model
import Testing

/// Gemma 3's sliding-window layers keep their KV in a windowed cache of their own: the logits are bit-identical to
/// keeping every layer's KV for every position, whatever the chunking, while the windowed cache recycles its blocks
/// as soon as the window has passed them.
@Suite struct SlidingWindowCacheTests {
    /// A minimal windowed allocator (the engine's `WindowedBlocks` in miniature): lowest free id first, blocks
    /// released as soon as no later position sees them, so ids are reused at once by whichever sequence grows next.
    struct WindowedTables {
        let blockSize: Int, window: Int
        var free: [Int32]
        var tables: [[Int32]]
        var firstBlocks: [Int]

        init(blockSize: Int, blockCount: Int, window: Int, sequences: Int) {
            self.blockSize = blockSize
            self.window = window
            free = (0..<Int32(blockCount)).reversed()
            tables = Array(repeating: [], count: sequences)
            firstBlocks = Array(repeating: 0, count: sequences)
        }

        /// Slides sequence `s` to the window of a chunk `start ..< end` and grows it to `end`.
        mutating func advance(_ s: Int, start: Int, end: Int) {
            let first = max(0, start - window + 1) / blockSize
            while firstBlocks[s] < first, !tables[s].isEmpty {
                free.append(tables[s].removeFirst())
                free.sort(by: >)
                firstBlocks[s] += 1
            }
            if tables[s].isEmpty { firstBlocks[s] = max(firstBlocks[s], first) }
            while (firstBlocks[s] + tables[s].count) * blockSize < end { tables[s].append(free.removeLast()) }
        }

        func chunk(_ s: Int, start: Int, count: Int, fullTable: [Int32]) -> SequenceChunk {
            SequenceChunk(startPosition: start, tokenCount: count, blockTable: fullTable, wantsLogits: true,
                          windowBlockTable: tables[s], windowStart: firstBlocks[s] * blockSize)
        }
    }

    static let models = ["gemma3_f32", "gemma3_q8_0"]

    /// Every reference sequence, two at a time in one batch (so they share and recycle the windowed blocks), in
    /// chunks of 1 to 16 tokens around the window of 8: each chunk's last logits equal the full-cache run's bit for
    /// bit and the reference within 1e-4.
    @Test(arguments: models, [1, 3, 7, 8, 9, 16])
    func windowedCacheMatchesTheFullCache(name: String, chunkSize: Int) throws {
        let weights = try ModelWeights.open(try TinyModelTests.modelPath(name))
        let stage = try weights.stage(precision: .f32)
        let config = weights.config
        let sliding = try #require(config.slidingWindow)
        let reference = try TinyModelTests.load(TinyModelTests.Reference.self, TinyModelTests.root + "/\(name)/reference.json")
        let local = (0..<config.layerCount).filter { sliding.localLayers[$0] }
        let blockSize = 4, fullBlocks = 32
        let sequences = reference.sequences.filter { $0.ids.count > 1 }
        var worst: Float = 0
        for pair in stride(from: 0, to: sequences.count, by: 2).map({ Array(sequences[$0..<min($0 + 2, sequences.count)]) }) {
            let full = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: blockSize, blockCount: fullBlocks, kvDim: config.kvDim)
            let global = PagedKVCache(layerRange: 0..<config.layerCount, layers: (0..<config.layerCount).filter { !local.contains($0) },
                                      blockSize: blockSize, blockCount: fullBlocks, kvDim: config.kvDim)
            // Just enough windowed blocks for both sequences' largest chunks: released blocks are reused at once.
            let perSequence = (sliding.window - 1 + chunkSize + blockSize - 1) / blockSize + 1
            let windowCache = PagedKVCache(layerRange: 0..<config.layerCount, layers: local, blockSize: blockSize,
                                           blockCount: 2 * perSequence, kvDim: config.kvDim)
            var windowed = WindowedTables(blockSize: blockSize, blockCount: 2 * perSequence, window: sliding.window, sequences: pair.count)
            let fullTables = pair.indices.map { s in (0..<Int32(fullBlocks / 2)).map { Int32(s * fullBlocks / 2) + $0 } }
            var position = 0
            while pair.contains(where: { position < $0.ids.count }) {
                var batch: [SequenceChunk] = [], fullBatch: [SequenceChunk] = [], tokens: [Int32] = [], expected: [[Float]] = []
                for (s, sequence) in pair.enumerated() where position < sequence.ids.count {
                    let end = min(position + chunkSize, sequence.ids.count)
                    windowed.advance(s, start: position, end: end)
                    batch.append(windowed.chunk(s, start: position, count: end - position, fullTable: fullTables[s]))
                    fullBatch.append(SequenceChunk(startPosition: position, tokenCount: end - position, blockTable: fullTables[s],
                                                   wantsLogits: true))
                    tokens += sequence.ids[position..<end]
                    expected.append(sequence.logits[end - 1])
                }
                guard case .logits(let got) = try stage.forward(batch: batch, tokens: tokens, cache: global, windowCache: windowCache),
                      case .logits(let want) = try stage.forward(batch: fullBatch, tokens: tokens, cache: full) else {
                    Issue.record("no logits"); return
                }
                #expect(got == want, "\(name), chunks of \(chunkSize), from position \(position)")
                for (a, b) in zip(want, expected.flatMap { $0 }) { worst = max(worst, abs(a - b)) }
                position += chunkSize
            }
        }
        #expect(worst < 1e-4, "\(name): max |Δlogit| = \(worst)")
    }

    /// A windowed table that does not reach back to the window of the chunk's first token is refused.
    @Test func aWindowedTableMissingTheWindowIsRefused() throws {
        let weights = try ModelWeights.open(try TinyModelTests.modelPath("gemma3_f32"))
        let stage = try weights.stage(precision: .f32)
        let config = weights.config
        let global = PagedKVCache(layerRange: 0..<3, layers: [1], blockSize: 4, blockCount: 8, kvDim: config.kvDim)
        let windowCache = PagedKVCache(layerRange: 0..<3, layers: [0, 2], blockSize: 4, blockCount: 8, kvDim: config.kvDim)
        // Position 12 sees 5...12; a table from position 8 misses 5...7.
        let chunk = SequenceChunk(startPosition: 12, tokenCount: 1, blockTable: [0, 1, 2, 3], wantsLogits: true,
                                  windowBlockTable: [0, 1], windowStart: 8)
        #expect(throws: StageError.self) {
            try stage.forward(batch: [chunk], tokens: [5], cache: global, windowCache: windowCache)
        }
        // Without a windowed cache, the global cache must hold every layer.
        #expect(throws: StageError.self) { try stage.forward(batch: [chunk], tokens: [5], cache: global) }
    }
}
