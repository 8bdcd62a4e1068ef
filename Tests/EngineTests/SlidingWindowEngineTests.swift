import Engine
import Foundation
import Kernels
import Model
import Testing
import Transport

/// A model as the executor saw it before sliding-window layers had a pool of their own: every layer's KV for every
/// position in one cache. The reference the windowed pool must match bit for bit.
struct FullCacheModel: PipelineModel {
    let base: DecoderPipelineModel

    var name: String { base.name }
    var layerCount: Int { base.layerCount }
    var vocabSize: Int { base.vocabSize }
    var hiddenSize: Int { base.hiddenSize }
    var contextLength: Int { base.contextLength }
    var eosTokenIDs: [Int32] { base.eosTokenIDs }
    var kvBytesPerTokenPerLayer: Int { base.kvBytesPerTokenPerLayer }
    var costs: StageCosts { base.costs }
    func makeDetokenizer() -> any IncrementalDetokenizer { base.makeDetokenizer() }

    func makeStage(rank: Int, stageCount: Int, layers: Range<Int>, blockSize: Int, blockCount: Int) throws -> any StageModel {
        try base.makeStage(rank: rank, stageCount: stageCount, layers: layers, blockSize: blockSize, blockCount: blockCount)
    }
}

/// Gemma 3's local layers keep KV only for their window (a second block pool, `KVCacheLayout`): outputs are
/// bit-identical to the full cache for every stage count, mode, chunk size, under preemption and cancellation, and
/// every rank's request table (both pools' block tables) stays identical.
@Suite struct SlidingWindowEngineTests {
    struct Setup: CustomStringConvertible {
        var stages: Int
        var asynchronous = true
        var batchedTokens = 48
        var description: String { "pp \(stages) \(asynchronous ? "async" : "sync"), \(batchedTokens)-token batches" }
    }

    static func tinyGemma(_ name: String) throws -> DecoderPipelineModel {
        try TestModels.model(TestModels.testData + "/tiny/\(name)/model.gguf", precision: .f32)
    }

    static func deepGemma() throws -> DecoderPipelineModel {
        let path = TestModels.testData + "/pipeline/gemma3_deep6.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("missing \(path): run scripts/prepare-test-data")
            throw CancellationError()
        }
        return try TestModels.model(path, precision: .f32)
    }

    /// 14 requests of 1 to 90 prompt tokens (most far past the window of 8), up to 30 generated, some with log-probs
    /// or logits rows.
    static func requests(vocab: Int, longest: Int) -> [GenerationRequest] {
        (0..<14).map { i in
            let length = min(longest - 31, [1, 7, 8, 9, 23, 40, 90][i % 7] + i % 3)
            let prompt = (0..<length).map { Int32(3 + ($0 * 29 + i * 13) % (vocab - 3)) }
            let sampling = SamplingParameters(temperature: 0, logprobs: i % 3 == 0 ? 2 : nil)
            return GenerationRequest(id: "g\(i)", promptTokenIDs: prompt, sampling: sampling, maxTokens: 10 + 2 * i,
                                     ignoreEOS: true, returnLogits: i % 4 == 1)
        }
    }

    static func run(_ model: any PipelineModel, _ setup: Setup, _ requests: [GenerationRequest], recorder: Recorder? = nil,
                    configure: (inout EngineOptions) -> Void = { _ in }) async throws -> ([String: GenerationResult], InferenceEngine) {
        var options = EngineOptions()
        options.pipelineStages = setup.stages
        options.asynchronous = setup.asynchronous
        options.maxBatchedTokens = setup.batchedTokens
        options.blockSize = 4
        options.observer = recorder
        options.watchdogSeconds = 60
        configure(&options)
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        let results = try await runAll(engine, requests)
        engine.shutdown()
        return (results, engine)
    }

    /// Runs `setup` with the windowed pool and checks it against `reference`, lockstep and no leak in either pool.
    static func expectMatches(_ model: DecoderPipelineModel, _ setup: Setup, _ requests: [GenerationRequest],
                              _ reference: [String: GenerationResult], fullBlocks: Int? = nil,
                              configure: (inout EngineOptions) -> Void = { _ in }) async throws -> InferenceEngine {
        let recorder = Recorder()
        let (results, engine) = try await run(model, setup, requests, recorder: recorder, configure: configure)
        #expect(engine.windowBlockCount > 0)
        PipelineDeterminismTests.expectIdentical(results, reference, setup)
        PipelineLockstepTests.checkLockstep(recorder, stages: setup.stages, blockCount: fullBlocks ?? engine.blockCount,
                                            windowBlockCount: engine.windowBlockCount)
        return engine
    }

    @Test(arguments: ["gemma3_f32", "gemma3_q8_0"])
    func tinyGemmaMatchesTheFullCacheForEveryStageCountModeAndChunkSize(name: String) async throws {
        let model = try Self.tinyGemma(name)
        let requests = Self.requests(vocab: model.vocabSize, longest: model.contextLength)
        let (reference, full) = try await Self.run(FullCacheModel(base: model), Setup(stages: 1), requests)
        #expect(full.windowBlockCount == 0)
        for stages in 1...3 {
            for batchedTokens in [7, 8, 9, 16, 48] {
                for asynchronous in [true, false] where asynchronous || batchedTokens == 9 {
                    _ = try await Self.expectMatches(model, Setup(stages: stages, asynchronous: asynchronous,
                                                                  batchedTokens: batchedTokens), requests, reference)
                }
            }
        }
    }

    @Test func deepGemmaMatchesTheFullCacheUpToFourStages() async throws {
        let model = try Self.deepGemma()
        let requests = Self.requests(vocab: model.vocabSize, longest: 128)
        let (reference, _) = try await Self.run(FullCacheModel(base: model), Setup(stages: 1), requests)
        for setup in [Setup(stages: 2, batchedTokens: 8), Setup(stages: 3, asynchronous: false, batchedTokens: 9),
                      Setup(stages: 4, batchedTokens: 7), Setup(stages: 4, asynchronous: false, batchedTokens: 16),
                      Setup(stages: 4, batchedTokens: 48)] {
            _ = try await Self.expectMatches(model, setup, requests, reference)
        }
    }

    /// Few sequences per micro-batch make the windowed pool small (its bound is per micro-batch), so running
    /// requests outgrow it and are preempted; a small full pool does the same for the global layers.
    @Test(arguments: [false, true])
    func preemptionUnderKVPressureMatchesTheFullCache(smallFullPool: Bool) async throws {
        let model = try Self.deepGemma()
        let requests = Self.requests(vocab: model.vocabSize, longest: 128)
        let (reference, _) = try await Self.run(FullCacheModel(base: model), Setup(stages: 1), requests)
        let engine = try await Self.expectMatches(model, Setup(stages: 3, batchedTokens: 9), requests, reference,
                                                  fullBlocks: smallFullPool ? 40 : nil) { options in
            options.maxSequences = 2
            if smallFullPool { options.kvBlocksByRank = [40, 40, 40] }
        }
        #expect(engine.statistics.preemptions > 0, "the pools are small enough that requests must be preempted")
        #expect(engine.statistics.usedBlocks == 0 && engine.statistics.usedWindowBlocks == 0)
    }

    @Test func cancellationFreesBothPoolsOnEveryRank() async throws {
        let model = try Self.deepGemma()
        let requests = Self.requests(vocab: model.vocabSize, longest: 128).map { request in
            var request = request
            request.maxTokens = 200
            return request
        }
        let recorder = Recorder()
        var options = EngineOptions()
        options.pipelineStages = 4
        options.blockSize = 4
        options.maxBatchedTokens = 9
        options.observer = recorder
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        let streams = try requests.map { try engine.submit($0) }
        // Half at once (waiting or in their first chunks), the rest once tokens flow (holding blocks in both pools).
        for request in requests.suffix(7) { engine.cancel(request.id) }
        var iterator = streams[0].makeAsyncIterator()
        _ = try await iterator.next()
        for request in requests.dropFirst().prefix(6) { engine.cancel(request.id) }
        var reasons: [FinishReason] = []
        for stream in streams.dropFirst() {
            var result = GenerationResult(requestID: "")
            for try await output in stream { result.append(output) }
            reasons.append(result.finishReason)
        }
        while try await iterator.next() != nil {}
        engine.shutdown()
        #expect(reasons.filter { $0 == .abort }.count >= 7)
        PipelineLockstepTests.checkLockstep(recorder, stages: 4, blockCount: engine.blockCount,
                                            windowBlockCount: engine.windowBlockCount)
    }

    /// The pools' sizes: the windowed pool is bounded per micro-batch, the rest of the budget goes to the global
    /// layers, so the cache holds more tokens than one pool for every layer; models without sliding-window layers
    /// keep one pool.
    @Test func theBudgetIsSplitBetweenThePools() throws {
        let model = try Self.deepGemma()
        var options = EngineOptions()
        options.kvCacheMiB = 4
        options.maxSequences = 8
        options.maxBatchedTokens = 64
        let layout = KVCacheLayout(model: model, options: options)
        // Window 8, blocks of 16: ⌈7/16⌉ + 2 = 3 blocks per sequence plus ⌈64/16⌉ for the batch's tokens.
        #expect(layout.windowBlockCount == 8 * 3 + 4)
        #expect(layout.windowedLayers == 4 && layout.fullLayers == 2)
        let single = KVCacheLayout(model: FullCacheModel(base: model), options: options)
        #expect(single.windowBlockCount == 0 && single.window == nil)
        #expect(layout.capacityTokens > 2 * single.capacityTokens)
        #expect(layout.bytes <= options.kvCacheMiB * 1_048_576 && single.bytes <= options.kvCacheMiB * 1_048_576)
    }

    /// The real Gemma 3 270M (18 layers, 15 of them local with a window of 512): past its window, the windowed pool
    /// gives the same tokens and log-probs as the full cache.
    @Test func realGemma3MatchesTheFullCachePastItsWindow() async throws {
        let model = try TestModels.model(try TestModels.requireRealModel(TestModels.gemma3))
        let requests = (0..<2).map { i in
            GenerationRequest(id: "r\(i)", promptTokenIDs: (0..<(530 + 20 * i)).map { Int32(1000 + ($0 * 7919 + i * 31) % 200_000) },
                              sampling: SamplingParameters(temperature: 0, logprobs: 2), maxTokens: 4, ignoreEOS: true)
        }
        let (reference, _) = try await Self.run(FullCacheModel(base: model), Setup(stages: 1, batchedTokens: 256), requests) {
            $0.blockSize = 16
            $0.kvCacheMiB = 64
        }
        _ = try await Self.expectMatches(model, Setup(stages: 2, batchedTokens: 200), requests, reference) {
            $0.blockSize = 16
            $0.kvCacheMiB = 64
        }
    }

    /// docs/PERFORMANCE.md's figures: KV bytes per token and tokens held in 512 MiB, before (one pool for every
    /// layer) and after, for a few `--max-num-seqs`.
    @Test func realGemma3KVFigures() throws {
        let model = try TestModels.model(try TestModels.requireRealModel(TestModels.gemma3))
        for sequences in [256, 64, 16, 8, 1] {
            var options = EngineOptions()
            options.maxSequences = sequences
            let before = KVCacheLayout(model: FullCacheModel(base: model), options: options)
            let after = KVCacheLayout(model: model, options: options)
            print("gemma-3-270m, 512 MiB, --max-num-seqs \(sequences): before \(before.bytesPerToken) B/token, "
                  + "\(before.capacityTokens) tokens; after \(after.bytesPerToken) B/token + \(after.windowBytes / 1_048_576) MiB "
                  + "of windows (\(after.windowBlockCount) blocks), \(after.capacityTokens) tokens")
            #expect(after.capacityTokens >= before.capacityTokens)
            #expect(after.bytes <= 512 * 1_048_576)
        }
    }
}
