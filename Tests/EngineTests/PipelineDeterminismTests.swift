import Engine
import Foundation
import Kernels
import Model
import Testing
import Transport

/// Invariants 8 and 12: the same tokens, log-probs and logits whatever the number of stages and the executor mode.
/// Batch invariance of the kernels is what makes this hold exactly: a sequence's logits do not depend on which
/// micro-batch it shares, and pp > 1 batches requests differently from pp = 1.
@Suite struct PipelineDeterminismTests {
    struct Setup: CustomStringConvertible {
        var stages: Int
        var asynchronous = true
        var description: String { "pp \(stages) \(asynchronous ? "async" : "sync")" }
    }

    /// 36 requests of 1 to 150 prompt tokens (many longer than the 48-token prefill budget), some asking for
    /// log-probs or logits rows, some with stop strings.
    static func requests(vocab: Int, sampling: (Int) -> SamplingParameters) -> [GenerationRequest] {
        (0..<36).map { i in
            let length = [1, 3, 17, 60, 150, 9][i % 6] + i % 5
            let prompt = (0..<length).map { Int32(3 + ($0 * 31 + i * 17) % (vocab - 3)) }
            var parameters = sampling(i)
            if i % 3 == 0 { parameters.logprobs = 3 }
            return GenerationRequest(id: "r\(i)", promptTokenIDs: prompt, sampling: parameters, maxTokens: 6 + i % 7,
                                     stopStrings: i % 4 == 1 ? ["<7>"] : [], returnLogits: i % 5 == 2)
        }
    }

    static func run(_ model: any PipelineModel, _ setup: Setup, _ requests: [GenerationRequest],
                    batchedTokens: Int = 48) async throws -> [String: GenerationResult] {
        var options = EngineOptions()
        options.pipelineStages = setup.stages
        options.asynchronous = setup.asynchronous
        options.maxBatchedTokens = batchedTokens
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        defer { engine.shutdown() }
        return try await runAll(engine, requests)
    }

    static func expectIdentical(_ results: [String: GenerationResult], _ reference: [String: GenerationResult],
                                _ label: CustomStringConvertible) {
        #expect(results.count == reference.count, "\(label)")
        for (id, expected) in reference {
            guard let got = results[id] else {
                Issue.record("\(label): no result for \(id)")
                continue
            }
            #expect(got.tokens == expected.tokens, "\(label) \(id)")
            #expect(got.text == expected.text, "\(label) \(id)")
            #expect(got.finishReason == expected.finishReason, "\(label) \(id)")
            #expect(got.logprobs == expected.logprobs, "\(label) \(id): log-probs differ")
            #expect(got.logits == expected.logits, "\(label) \(id): logits rows differ")
        }
    }

    @Test(arguments: Precision.allCases)
    func greedyIsIdenticalForEveryStageCountAndMode(precision: Precision) async throws {
        let model = try TestModels.model(try TestModels.requireDeep8(), precision: precision)
        let requests = Self.requests(vocab: model.vocabSize) { _ in .greedy }
        let reference = try await Self.run(model, Setup(stages: 1), requests)
        #expect(reference.values.contains { !$0.logits.isEmpty } && reference.values.contains { !$0.logprobs.isEmpty })
        for setup in [Setup(stages: 1, asynchronous: false), Setup(stages: 2), Setup(stages: 3), Setup(stages: 4),
                      Setup(stages: 4, asynchronous: false), Setup(stages: 8)] {
            Self.expectIdentical(try await Self.run(model, setup, requests), reference, setup)
        }
    }

    @Test func seededSamplingIsIdenticalForEveryStageCountAndMode() async throws {
        let model = try TestModels.model(try TestModels.requireDeep8())
        let requests = Self.requests(vocab: model.vocabSize) { i in
            SamplingParameters(temperature: 0.9, topK: i % 2 == 0 ? 20 : 0, topP: 0.95, repetitionPenalty: 1.1,
                               presencePenalty: 0.2, seed: UInt64(1000 + i))
        }
        let reference = try await Self.run(model, Setup(stages: 1), requests)
        for setup in [Setup(stages: 3), Setup(stages: 3, asynchronous: false), Setup(stages: 5)] {
            Self.expectIdentical(try await Self.run(model, setup, requests), reference, setup)
        }
    }

    @Test(arguments: Precision.allCases)
    func smolLM2GreedyIsIdenticalAcrossStages(precision: Precision) async throws {
        let model = try TestModels.model(try TestModels.requireSmolLM2(), precision: precision)
        let requests = (0..<32).map { i in
            let length = [4, 40, 9, 70][i % 4] + i
            return GenerationRequest(id: "s\(i)", promptTokenIDs: (0..<length).map { Int32(100 + ($0 * 97 + i * 13) % 40_000) },
                                     sampling: SamplingParameters(temperature: 0, logprobs: i % 4 == 0 ? 2 : nil),
                                     maxTokens: 5)
        }
        let reference = try await Self.run(model, Setup(stages: 1), requests, batchedTokens: 256)
        for setup in [Setup(stages: 3), Setup(stages: 4, asynchronous: false)] {
            Self.expectIdentical(try await Self.run(model, setup, requests, batchedTokens: 256), reference, setup)
        }
    }
}
