import Engine
import Foundation
import Kernels
import Model
import Testing

/// The prefix cache's block bookkeeping (reference counts, identities, eviction order) and its two engine-level
/// guarantees: every rank's replica makes the same decisions, and a request served from cached blocks gives exactly
/// what it gives computed from scratch.
@Suite struct PrefixCacheTests {
    // MARK: BlockManager

    /// The identities of `tokens`' full blocks of `size`.
    static func hashes(_ tokens: [Int32], size: Int) -> [BlockHash] {
        var hashes: [BlockHash] = []
        for start in stride(from: 0, to: tokens.count - size + 1, by: size) {
            hashes.append(BlockHash(parent: hashes.last ?? .root, tokens: tokens[start..<start + size]))
        }
        return hashes
    }

    /// Computes `tokens` into a new table the way the engine does: grow, then cache every full block.
    static func compute(_ tokens: [Int32], in manager: inout BlockManager, reusing cached: [Int32] = []) -> [Int32] {
        var table: [Int32] = []
        manager.acquire(cached, into: &table)
        #expect(manager.grow(&table, toHold: tokens.count))
        let hashes = hashes(tokens, size: manager.blockSize)
        for i in cached.count..<hashes.count {
            manager.register(table[i], hash: hashes[i], parent: i == 0 ? .root : hashes[i - 1],
                             tokens: tokens[i * manager.blockSize..<(i + 1) * manager.blockSize])
        }
        return table
    }

    @Test func freedFullBlocksStayCachedAndAreSharedByReference() {
        var manager = BlockManager(blockSize: 4, blockCount: 8)
        let prompt: [Int32] = Array(0..<10)  // two full blocks and a partial one
        var first = Self.compute(prompt, in: &manager)
        #expect(first == [0, 1, 2])
        #expect(manager.cachedBlocks == 2 && manager.usedBlocks == 3)

        // A second sequence with the same first 8 tokens shares both full blocks while the first still runs.
        let other: [Int32] = Array(0..<8) + [99, 98, 97]
        let hit = manager.cachedPrefix(of: other, hashes: Self.hashes(other, size: 4)[...], limit: 2)
        #expect(hit == [0, 1])
        var second = Self.compute(other, in: &manager, reusing: hit)
        #expect(second == [0, 1, 3])
        #expect(manager.referenceCount(0) == 2 && manager.referenceCount(3) == 1)
        #expect(manager.usedBlocks == 4)

        manager.release(&first)
        #expect(manager.referenceCount(0) == 1, "the shared blocks stay with the second sequence")
        #expect(manager.evictableBlocks == 0 && manager.freeBlocks == 4 + 1)
        manager.release(&second)
        #expect(manager.freeBlocks == 8 && manager.usedBlocks == 0)
        #expect(manager.cachedBlocks == 2 && manager.evictableBlocks == 2, "full blocks outlive their sequences")

        // A third sequence revives them from the evictable list.
        let third = manager.cachedPrefix(of: prompt, hashes: Self.hashes(prompt, size: 4)[...], limit: 2)
        #expect(third == [0, 1])
        var table: [Int32] = []
        manager.acquire(third, into: &table)
        #expect(manager.evictableBlocks == 0 && manager.freeBlocks == 6)
        manager.release(&table)
    }

    @Test func allocationTakesFreeBlocksFirstThenEvictsTheLeastRecentlyReleased() {
        var manager = BlockManager(blockSize: 2, blockCount: 6)
        var a = Self.compute([1, 2, 3, 4], in: &manager)  // blocks 0, 1
        var b = Self.compute([5, 6, 7, 8], in: &manager)  // blocks 2, 3
        manager.release(&a)  // parked: 1, then 0 (a table's tail is evicted first)
        manager.release(&b)  // parked: 3, then 2
        #expect(manager.evictableBlocks == 4 && manager.freeBlocks == 6)

        var table: [Int32] = []
        #expect(manager.grow(&table, toHold: 6))  // the 2 free blocks, then the oldest parked: block 1
        #expect(table == [4, 5, 1])
        #expect(manager.cachedBlocks == 3)
        let aPrefix = manager.cachedPrefix(of: [1, 2, 3, 4, 0], hashes: Self.hashes([1, 2, 3, 4], size: 2)[...], limit: 2)
        #expect(aPrefix == [0], "block 0 is still cached; its successor was evicted")
        let bPrefix = manager.cachedPrefix(of: [5, 6, 7, 8, 0], hashes: Self.hashes([5, 6, 7, 8], size: 2)[...], limit: 2)
        #expect(bPrefix == [2, 3])
        #expect(!manager.grow(&table, toHold: 16), "a grow beyond the pool changes nothing")
        #expect(table.count == 3)
        manager.release(&table)
        #expect(manager.freeBlocks == 6)
    }

    @Test func aHitNeedsEveryTokenAndTheWholeChainToMatch() {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        var table: [Int32] = []
        #expect(manager.grow(&table, toHold: 4))
        let real = Self.hashes([1, 2, 3, 4], size: 2)
        // A block registered under the identity of other tokens (what a hash collision would look like) never hits.
        manager.register(table[0], hash: real[0], parent: .root, tokens: [7, 7])
        #expect(manager.cachedPrefix(of: [1, 2, 3, 4], hashes: real[...], limit: 2).isEmpty)
        // The same block content after a different prefix is a different block.
        manager.register(table[1], hash: real[1], parent: BlockHash(parent: .root, tokens: [9, 9]), tokens: [3, 4])
        #expect(manager.cachedPrefix(of: [7, 7, 3, 4], hashes: [BlockHash(parent: .root, tokens: [7, 7]), real[1]][...], limit: 2).isEmpty)
        #expect(manager.cachedBlocks == 2)
        manager.release(&table)
    }

    @Test func replicasThatApplyTheSameOperationsHaveTheSameDigest() {
        func run(_ extra: Bool) -> UInt64 {
            var manager = BlockManager(blockSize: 2, blockCount: 8)
            var a = Self.compute([1, 2, 3, 4, 5], in: &manager)
            manager.release(&a)
            var b = Self.compute([1, 2, 3, 4, 6], in: &manager,
                                 reusing: manager.cachedPrefix(of: [1, 2, 3, 4, 6], hashes: Self.hashes([1, 2, 3, 4], size: 2)[...], limit: 2))
            if extra { manager.release(&b) }
            return manager.digest
        }
        #expect(run(false) == run(false))
        #expect(run(false) != run(true))
    }

    // MARK: Every rank agrees

    /// 48 requests over 6 shared preambles of 20–70 tokens (so hits cover 1 to 4 blocks of 16), each with its own
    /// tail; some identical to an earlier one.
    static func sharedPrefixRequests(_ range: Range<Int>, vocab: Int = 512) -> [GenerationRequest] {
        range.map { i in
            let family = i % 6
            let preamble = (0..<(20 + family * 10)).map { Int32(1 + ($0 * 7 + family * 13) % (vocab - 2)) }
            let tail = (0..<(i % 4 == 3 ? 0 : 1 + i % 11)).map { Int32(1 + ($0 * 5 + i) % (vocab - 2)) }
            return GenerationRequest(id: "p\(i)", promptTokenIDs: preamble + tail, maxTokens: 2 + i % 7)
        }
    }

    @Test(arguments: [2, 3, 4, 8])
    func everyRankMakesTheSameCacheDecisionsUnderJitterAndCancellation(stages: Int) async throws {
        let recorder = Recorder()
        let engine = try PipelineLockstepTests.engine(stages: stages, recorder: recorder)
        async let burst = runAll(engine, Self.sharedPrefixRequests(0..<24))
        try await Task.sleep(for: .milliseconds(15))
        engine.cancel("p5")
        engine.cancel("p13")
        _ = try await burst
        let second = try await runAll(engine, Self.sharedPrefixRequests(24..<48))
        #expect(second.values.allSatisfy { $0.finishReason != .abort })
        let hits = engine.statistics.prefixCacheHits
        engine.shutdown()
        PipelineLockstepTests.checkLockstep(recorder, stages: stages, blockCount: engine.blockCount)
        #expect(hits > 0, "shared preambles hit the cache")
    }

    @Test func kvPressureEvictsCachedBlocksAndPreemptsWithTheReplicasInLockstep() async throws {
        let recorder = Recorder()
        // 1 MiB of KV: 8 blocks of 16 tokens for 48 requests of up to 95 tokens.
        let engine = try PipelineLockstepTests.engine(stages: 4, recorder: recorder) { $0.kvCacheMiB = 1; $0.maxSequences = 16 }
        let results = try await runAll(engine, Self.sharedPrefixRequests(0..<48))
        let statistics = engine.statistics
        engine.shutdown()
        #expect(results.values.allSatisfy { $0.finishReason == .length || $0.finishReason == .stop })
        #expect(statistics.preemptions > 0 && statistics.prefixCacheHits > 0)
        PipelineLockstepTests.checkLockstep(recorder, stages: 4, blockCount: engine.blockCount)
    }

    @Test func aFullPoolEvictsCachedBlocksBeforeItPreemptsARunningRequest() async throws {
        let recorder = Recorder()
        let engine = try PipelineLockstepTests.engine(stages: 2, recorder: recorder) { $0.kvCacheMiB = 1 }
        #expect(engine.blockCount == 8)
        // The first request leaves 6 full blocks cached; then two requests of 4 blocks each need the whole pool at
        // once, which they get by evicting the cache, not by preempting each other.
        let first = GenerationRequest(id: "first", promptTokenIDs: (0..<100).map { Int32($0 % 500 + 1) }, maxTokens: 4)
        _ = try await runAll(engine, [first])
        #expect(engine.statistics.cachedBlocks == 6)
        let pair = (0..<2).map { i in
            GenerationRequest(id: "pair\(i)", promptTokenIDs: (0..<50).map { Int32(($0 * 3 + i) % 500 + 1) }, maxTokens: 14,
                              ignoreEOS: true)
        }
        let results = try await runAll(engine, pair)
        let statistics = engine.statistics
        engine.shutdown()
        #expect(results.values.allSatisfy { $0.tokens.count == 14 })
        #expect(statistics.preemptions == 0)
        #expect(statistics.cachedBlocks == 6, "the pair's 3 full blocks each replaced the first request's")
        PipelineLockstepTests.checkLockstep(recorder, stages: 2, blockCount: engine.blockCount)
    }

    @Test func aThousandRequestsWithSharedPrefixesAndCancellationsLeaveEveryBlockAccountedFor() async throws {
        let recorder = Recorder()
        let engine = try PipelineLockstepTests.engine(stages: 3, recorder: recorder) {
            $0.kvCacheMiB = 2
            $0.maxSequences = 16
        }
        var generator = SeededGenerator(seed: 42)
        for round in 0..<10 {
            let requests = Self.sharedPrefixRequests(round * 100..<(round + 1) * 100)
            let streams = try requests.map { try engine.submit($0) }
            for request in requests where Int.random(in: 0..<6, using: &generator) == 0 { engine.cancel(request.id) }
            for (index, stream) in streams.enumerated() {
                // Some clients stop reading after their first update (a disconnect): the engine must cancel them.
                var updates = 0
                for try await _ in stream {
                    updates += 1
                    if index % 9 == 4 && updates == 1 { engine.cancel(requests[index].id) }
                }
            }
        }
        let statistics = engine.statistics
        engine.shutdown()
        #expect(statistics.prefixCacheHits > 0 && statistics.preemptions > 0)
        PipelineLockstepTests.checkLockstep(recorder, stages: 3, blockCount: engine.blockCount)
    }

    @Test func aRankWhoseCacheLostABlockRankZeroReusesStopsThePipelineLoudly() async throws {
        // Rank 1 has 20 blocks, rank 0 has 64: rank 1 must evict the first request's cached blocks to run the third,
        // rank 0 need not, and then reuses them for the fourth.
        let engine = try PipelineLockstepTests.engine(stages: 2, recorder: Recorder()) { $0.kvBlocksByRank = [64, 20] }
        func prompt(_ seed: Int) -> [Int32] { (0..<150).map { Int32(1 + ($0 * 7 + seed * 101) % 500) } }
        // Rank 1's cache evicts what rank 0's keeps while the third request runs: the request-table hash (which covers
        // every cache operation) or, failing that, the fourth request's hit stops the pipeline, naming rank 1.
        await #expect {
            for (i, seed) in [1, 2, 3, 1].enumerated() {
                _ = try await engine.generate(GenerationRequest(id: "r\(i)", promptTokenIDs: prompt(seed), maxTokens: 4))
            }
        } throws: { error in
            "\(error)".contains("diverged") && "\(error)".contains("rank 1")
        }
        engine.shutdown()
    }

    // MARK: Identical output

    /// Requests that share a 70-token system preamble (4 full blocks) and a few-shot block, with greedy or seeded
    /// sampling, log-probs and logits rows.
    static func conversationRequests(vocab: Int, seeded: Bool) -> [GenerationRequest] {
        let preamble = (0..<70).map { Int32(3 + ($0 * 29) % (vocab - 3)) }
        return (0..<8).map { i in
            let question = (0..<(3 + i * 5)).map { Int32(3 + ($0 * 11 + i * 101) % (vocab - 3)) }
            let sampling = seeded ? SamplingParameters(temperature: 0.8, topP: 0.9, seed: UInt64(i + 1), logprobs: 2)
                : SamplingParameters(temperature: 0, logprobs: 2)
            return GenerationRequest(id: "c\(i)", promptTokenIDs: preamble + (i % 2 == 0 ? preamble : []) + question,
                                     sampling: sampling, maxTokens: 8, returnLogits: true)
        }
    }

    static func run(_ model: any PipelineModel, stages: Int, prefixCaching: Bool,
                    _ requests: [GenerationRequest]) async throws -> (results: [String: GenerationResult], statistics: EngineStatistics) {
        var options = EngineOptions()
        options.pipelineStages = stages
        options.maxBatchedTokens = 48
        options.prefixCaching = prefixCaching
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        defer { engine.shutdown() }
        // A first request leaves the preamble in the cache; the others then arrive one wave at a time.
        var results = try await runAll(engine, Array(requests.prefix(1)))
        for wave in stride(from: 1, to: requests.count, by: 3) {
            results.merge(try await runAll(engine, Array(requests[wave..<min(wave + 3, requests.count)]))) { $1 }
        }
        return (results, engine.statistics)
    }

    @Test(arguments: Precision.allCases)
    func smolLM2ServedFromTheCacheIsBitIdenticalToComputedFromScratch(precision: Precision) async throws {
        let model = try TestModels.model(try TestModels.requireSmolLM2(), precision: precision)
        for seeded in [false, true] {
            let requests = Self.conversationRequests(vocab: model.vocabSize, seeded: seeded)
            let reference = try await Self.run(model, stages: 1, prefixCaching: false, requests)
            #expect(reference.statistics.prefixCacheHits == 0)
            #expect(reference.results.values.allSatisfy { $0.usage.cachedPromptTokens == 0 })
            for stages in [1, 3] {
                let cached = try await Self.run(model, stages: stages, prefixCaching: true, requests)
                let label = "\(precision), \(seeded ? "seeded" : "greedy"), pp \(stages)"
                PipelineDeterminismTests.expectIdentical(cached.results, reference.results, label)
                #expect(cached.statistics.prefixCacheHits >= 7 * 64, "\(label): every later request reuses the preamble")
                for (id, result) in cached.results where id != "c0" {
                    #expect(result.usage.cachedPromptTokens >= 64, "\(label) \(id)")
                }
            }
        }
    }

    /// Gemma 3's sliding-window layers keep a second pool that drops what the window leaves behind: a hit needs that
    /// pool's blocks for the window before the prefix's end too, and must still give exactly the uncached results.
    @Test func slidingWindowModelsReuseBothPoolsAndMatchTheUncachedRun() async throws {
        let model = try SlidingWindowEngineTests.tinyGemma("gemma3_f32")
        let vocab = model.vocabSize
        // Prefixes of 9 to 40 tokens (the window is 8, blocks are 4), each shared by 3 requests, plus repeats.
        let requests = (0..<18).map { i in
            let family = i % 6
            let prefix = (0..<(9 + family * 6)).map { Int32(3 + ($0 * 17 + family * 31) % (vocab - 3)) }
            let tail = (0..<(i % 3 == 2 ? 0 : 1 + i % 5)).map { Int32(3 + ($0 * 7 + i) % (vocab - 3)) }
            return GenerationRequest(id: "w\(i)", promptTokenIDs: prefix + tail,
                                     sampling: SamplingParameters(temperature: 0, logprobs: 2), maxTokens: 6 + i % 5,
                                     ignoreEOS: true, returnLogits: i % 4 == 0)
        }
        func waves(_ stages: Int, cache: Bool, recorder: Recorder?, batchedTokens: Int) async throws -> ([String: GenerationResult], InferenceEngine) {
            var options = EngineOptions()
            options.pipelineStages = stages
            options.blockSize = 4
            options.maxBatchedTokens = batchedTokens
            options.prefixCaching = cache
            options.observer = recorder
            let engine = try InferenceEngine.inProcess(model: model, options: options)
            var results: [String: GenerationResult] = [:]
            for wave in stride(from: 0, to: requests.count, by: 6) {
                results.merge(try await runAll(engine, Array(requests[wave..<wave + 6]))) { $1 }
            }
            engine.shutdown()
            return (results, engine)
        }
        let (reference, _) = try await waves(1, cache: false, recorder: nil, batchedTokens: 48)
        for (stages, batchedTokens) in [(1, 48), (2, 9), (3, 16)] {
            let recorder = Recorder()
            let (results, engine) = try await waves(stages, cache: true, recorder: recorder, batchedTokens: batchedTokens)
            PipelineDeterminismTests.expectIdentical(results, reference, "pp \(stages), \(batchedTokens)-token batches")
            #expect(engine.statistics.prefixCacheHits >= 12 * 8, "pp \(stages): \(engine.statistics.prefixCacheHits) tokens hit")
            PipelineLockstepTests.checkLockstep(recorder, stages: stages, blockCount: engine.blockCount,
                                                windowBlockCount: engine.windowBlockCount)
        }
    }

    @Test func realGemma3ServedFromTheCacheIsBitIdenticalToComputedFromScratch() async throws {
        let model = try TestModels.model(try TestModels.requireRealModel(TestModels.gemma3), eosTokenIDs: [1, 106])
        // A 600-token preamble: longer than the 512-token window, so a hit needs the window pool's blocks too.
        let preamble = (0..<600).map { Int32(300 + ($0 * 37) % 20_000) }
        let requests = (0..<4).map { i in
            GenerationRequest(id: "g\(i)", promptTokenIDs: preamble + (0..<(5 + 9 * i)).map { Int32(1_000 + $0 * 13 + i) },
                              sampling: SamplingParameters(temperature: 0, logprobs: 2), maxTokens: 6, ignoreEOS: true,
                              returnLogits: i == 3)
        }
        let reference = try await Self.run(model, stages: 1, prefixCaching: false, requests)
        let cached = try await Self.run(model, stages: 2, prefixCaching: true, requests)
        PipelineDeterminismTests.expectIdentical(cached.results, reference.results, "Gemma 3, pp 2")
        #expect(cached.statistics.prefixCacheHits >= 3 * 592, "\(cached.statistics.prefixCacheHits)")
    }

    @Test func aMultiTurnChatReusesEveryEarlierTurn() async throws {
        let model = try TestModels.model(try TestModels.requireSmolLM2())
        var options = EngineOptions()
        options.pipelineStages = 2
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        defer { engine.shutdown() }
        var history: [Int32] = (0..<40).map { Int32(5 + $0 * 3) }
        var expected = 0
        for turn in 0..<5 {
            let result = try await engine.generate(GenerationRequest(id: "turn\(turn)", promptTokenIDs: history, maxTokens: 12,
                                                                      ignoreEOS: true))
            // The previous turn computed its prompt and all but its last output token: every full block of those
            // is reused, the assistant's reply included.
            #expect(result.usage.cachedPromptTokens == expected, "turn \(turn)")
            expected = (history.count + 11) / 16 * 16
            history += result.tokens + (0..<17).map { Int32(200 + $0 + turn) }
        }
    }
}
