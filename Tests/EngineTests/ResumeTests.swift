import Engine
import Foundation
import Model
import Testing

/// A request resubmitted with the tokens it already streamed (`resumedTokenIDs`, what a supervisor does after a
/// pipeline restart) continues with exactly the tokens, text, log-probs and usage the uninterrupted request had: the
/// resumed tokens are recomputed as prompt (batch-invariant kernels give the same cache), and token `n` is drawn from
/// random numbers that depend only on the seed and `n`.
@Suite struct ResumeTests {
    /// Greedy and sampled requests, with penalties, log-probs, logits rows and stop strings.
    static func requests(vocab: Int) -> [GenerationRequest] {
        (0..<8).map { i in
            let prompt = (0..<(5 + i * 9)).map { Int32(3 + ($0 * 37 + i * 11) % (vocab - 3)) }
            var sampling = i % 2 == 0 ? SamplingParameters.greedy
                : SamplingParameters(temperature: 0.9, topK: i == 3 ? 40 : 0, topP: 0.95, seed: UInt64(100 + i))
            if i == 5 { sampling.repetitionPenalty = 1.3; sampling.presencePenalty = 0.5; sampling.frequencyPenalty = 0.4 }
            if i % 3 == 0 { sampling.logprobs = 2 }
            return GenerationRequest(id: "q\(i)", promptTokenIDs: prompt, sampling: sampling, maxTokens: 18, minTokens: i == 7 ? 12 : 0,
                                     stopStrings: i == 1 ? ["<999>"] : [], ignoreEOS: i % 4 == 2, returnLogits: i == 4)
        }
    }

    /// Every update of a request, one per streamed token.
    static func updates(_ engine: InferenceEngine, _ request: GenerationRequest) async throws -> [RequestOutput] {
        var updates: [RequestOutput] = []
        for try await output in try engine.submit(request) { updates.append(output) }
        return updates
    }

    @Test(arguments: [1, 3])
    func aResumedRequestContinuesExactlyWhereItStopped(stages: Int) async throws {
        let model = try TestModels.model(try TestModels.requireSmolLM2())
        var options = EngineOptions()
        options.pipelineStages = stages
        options.maxBatchedTokens = 32
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        defer { engine.shutdown() }
        for request in Self.requests(vocab: model.vocabSize) {
            let full = try await Self.updates(engine, request)
            let tokens = full.flatMap(\.newTokenIDs)
            #expect(tokens.count >= 2, "\(request.id) must generate at least 2 tokens to be cut")
            for cut in Set([1, tokens.count / 2, tokens.count - 1]) where cut < tokens.count {
                // The client has seen the updates that carried the first `cut` tokens.
                var seenTokens = 0, seen = 0
                while seenTokens < cut { seenTokens += full[seen].newTokenIDs.count; seen += 1 }
                var resumed = request
                resumed.id = "\(request.id)-from-\(cut)"
                resumed.resumedTokenIDs = Array(tokens[..<seenTokens])
                let rest = try await Self.updates(engine, resumed)
                let label = "\(request.id) resumed after \(seenTokens) of \(tokens.count) tokens on pp \(stages)"
                #expect(rest.flatMap(\.newTokenIDs) == Array(tokens[seenTokens...]), "\(label): tokens")
                #expect(rest.map(\.textDelta).joined() == full[seen...].map(\.textDelta).joined(), "\(label): text")
                #expect(rest.flatMap(\.logprobs) == full[seen...].flatMap(\.logprobs), "\(label): log-probs")
                #expect(rest.flatMap(\.logits) == full[seen...].flatMap(\.logits), "\(label): logits")
                #expect(rest.last?.finishReason == full.last?.finishReason, "\(label): finish reason")
                #expect(rest.last?.usage.promptTokens == full.last?.usage.promptTokens
                        && rest.last?.usage.completionTokens == full.last?.usage.completionTokens, "\(label): usage")
            }
        }
    }

    @Test func resumedTokensAreCheckedLikeThePrompt() throws {
        let model = try SyntheticModel(spec: SyntheticSpec(parsing: "synthetic:layers=2,context=64"))
        let engine = try InferenceEngine(model: model)
        defer { engine.shutdown() }
        var request = GenerationRequest(id: "r", promptTokenIDs: [1, 2, 3], maxTokens: 4)
        request.resumedTokenIDs = [5, 6, 7, 8]
        #expect(throws: EngineError.invalidRequest(parameter: "max_tokens", message: "the request resumes after 4 tokens but max_tokens is 4")) {
            try engine.validate(request)
        }
        request.resumedTokenIDs = [5, 100_000]
        #expect(throws: EngineError.self) { try engine.validate(request) }
        request.maxTokens = 100
        request.resumedTokenIDs = Array(repeating: 5, count: 61)
        #expect(throws: EngineError.self) { try engine.validate(request) }
    }
}
