import Engine
import Foundation
import Model
import Testing

/// SmolLM2 against the numpy reference (`shared/reference/smollm2_numpy.py`): identical greedy tokens and top-5
/// log-probs within 2e-3, with all prompts running together in one continuously batched engine, in the exact
/// `f32` precision (the default `integer` precision is held to a KL-divergence bound instead: `PrecisionTests`).
@Suite struct SmolLM2GoldenTests {
    struct Golden: Decodable {
        struct Step: Decodable {
            let token_id: Int32
            let top: [[Double]]
        }
        let prompt_ids: [Int32]
        let generated_ids: [Int32]
        let steps: [Step]
    }

    static let names = ["france", "robot", "cats", "code", "mixed"]

    static func golden(_ name: String) throws -> Golden {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../ModelTests/Fixtures/smollm2-golden/\(name).json")
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }

    @Test func greedyTokensAndLogprobsMatchReferenceWhenBatchedTogether() async throws {
        let model = try TestModels.model(try TestModels.requireSmolLM2(), precision: .f32)
        var options = EngineOptions()
        options.maxBatchedTokens = 24  // forces chunked prefill of the longer prompts, mixed with decodes
        let engine = try InferenceEngine(model: model, options: options)
        defer { engine.shutdown() }
        let goldens = try Self.names.map(Self.golden)
        let results = try await withThrowingTaskGroup(of: (Int, Collected).self) { group in
            for (i, golden) in goldens.enumerated() {
                let request = GenerationRequest(id: Self.names[i], promptTokenIDs: golden.prompt_ids,
                                                sampling: SamplingParameters(temperature: 0, logprobs: 5),
                                                maxTokens: golden.generated_ids.count)
                let stream = try engine.submit(request)
                group.addTask { (i, try await collect(stream)) }
            }
            var results = [Collected?](repeating: nil, count: goldens.count)
            for try await (i, result) in group { results[i] = result }
            return results.map { $0! }
        }
        for (i, golden) in goldens.enumerated() {
            let result = results[i]
            #expect(result.tokens == golden.generated_ids, "\(Self.names[i]): tokens differ")
            #expect(result.logprobs.count == golden.steps.count)
            var worst = 0.0
            for (step, entry) in zip(golden.steps, result.logprobs) {
                #expect(entry.top.map(\.tokenID) == step.top.map { Int32($0[0]) }, "\(Self.names[i]): top-5 ids differ")
                for (mine, theirs) in zip(entry.top, step.top) { worst = max(worst, abs(mine.logprob - theirs[1])) }
            }
            #expect(worst < 2e-3, "\(Self.names[i]): worst top-5 log-prob error \(worst)")
            let endsWithEOS = golden.generated_ids.last == 2
            #expect(result.finishReason == (endsWithEOS ? .stop : .length))
            #expect(result.usage == Usage(promptTokens: golden.prompt_ids.count, completionTokens: golden.generated_ids.count))
        }
    }
}
