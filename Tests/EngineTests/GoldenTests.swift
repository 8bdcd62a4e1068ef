import Engine
import Foundation
import Model
import Testing

/// Real models against the numpy reference (`shared/reference/smollm2_numpy.py` for SmolLM2,
/// `scripts/reference/real_model_goldens.py` for the K-quant models): identical greedy tokens and top-5 log-probs
/// within 2e-3, with all of a model's prompts running together in one continuously batched engine with chunked
/// prefill, in the exact `f32` precision (the default `integer` precision is held to a KL-divergence bound instead:
/// `PrecisionTests`).
@Suite struct GoldenTests {
    struct Golden: Decodable {
        struct Step: Decodable {
            let token_id: Int32
            let top: [[Double]]
        }
        let prompt_ids: [Int32]
        let generated_ids: [Int32]
        let steps: [Step]
    }

    /// A model and its fixtures (`Tests/ModelTests/Fixtures/<folder>/*.json`).
    struct Case: Sendable, CustomTestStringConvertible {
        let file: String?
        let folder: String
        let eosTokenIDs: [Int32]
        var testDescription: String { folder }
    }

    static let cases = [
        Case(file: nil, folder: "smollm2-golden", eosTokenIDs: [2]),
        Case(file: TestModels.qwenCoder, folder: "qwen2.5-coder-golden", eosTokenIDs: [151643, 151645]),
        Case(file: TestModels.gemma3, folder: "gemma3-golden", eosTokenIDs: [1, 106]),
    ]

    static func goldens(_ folder: String) throws -> [(name: String, golden: Golden)] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../ModelTests/Fixtures/\(folder)")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            (name, try JSONDecoder().decode(Golden.self, from: Data(contentsOf: directory.appendingPathComponent(name))))
        }
    }

    @Test(arguments: cases)
    func greedyTokensAndLogprobsMatchReferenceWhenBatchedTogether(_ test: Case) async throws {
        let path = try test.file.map { try TestModels.requireRealModel($0) } ?? TestModels.requireSmolLM2()
        let model = try TestModels.model(path, eosTokenIDs: test.eosTokenIDs, precision: .f32)
        let goldens = try Self.goldens(test.folder)
        #expect(goldens.count >= 4, "\(test.folder): expected at least 4 fixtures")
        var options = EngineOptions()
        options.maxBatchedTokens = 24  // forces chunked prefill of the longer prompts, mixed with decodes
        options.kvCacheMiB = 256
        options.maxModelLength = 2048
        let engine = try InferenceEngine(model: model, options: options)
        defer { engine.shutdown() }
        let results = try await withThrowingTaskGroup(of: (Int, Collected).self) { group in
            for (i, (name, golden)) in goldens.enumerated() {
                let request = GenerationRequest(id: name, promptTokenIDs: golden.prompt_ids,
                                                sampling: SamplingParameters(temperature: 0, logprobs: 5),
                                                maxTokens: golden.generated_ids.count)
                let stream = try engine.submit(request)
                group.addTask { (i, try await collect(stream)) }
            }
            var results = [Collected?](repeating: nil, count: goldens.count)
            for try await (i, result) in group { results[i] = result }
            return results.map { $0! }
        }
        for ((name, golden), result) in zip(goldens, results) {
            #expect(result.tokens == golden.generated_ids, "\(test.folder)/\(name): tokens differ")
            #expect(result.logprobs.count == golden.steps.count)
            var worst = 0.0
            for (step, entry) in zip(golden.steps, result.logprobs) {
                #expect(entry.top.map(\.tokenID) == step.top.map { Int32($0[0]) }, "\(test.folder)/\(name): top-5 ids differ")
                for (mine, theirs) in zip(entry.top, step.top) { worst = max(worst, abs(mine.logprob - theirs[1])) }
            }
            #expect(worst < 2e-3, "\(test.folder)/\(name): worst top-5 log-prob error \(worst)")
            let endsWithEOS = golden.generated_ids.last.map(test.eosTokenIDs.contains) ?? false
            #expect(result.finishReason == (endsWithEOS ? .stop : .length))
            // (Batched requests that share the chat template's opening may reuse each other's first blocks.)
            #expect(result.usage?.promptTokens == golden.prompt_ids.count && result.usage?.completionTokens == golden.generated_ids.count)
        }
    }
}
