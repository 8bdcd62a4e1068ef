import Engine
import Foundation
import Grammar
import Model
import Testing

/// Grammar-constrained output in the executor: every output is a sentence (or, cut by max_tokens, a prefix) of its
/// grammar, and the tokens are identical for every stage count and mode, under preemption, and whether the greedy
/// shortcut or the full mask chose them.
@Suite struct GrammarEngineTests {
    /// A small JSON object language, as a schema compiler would write it.
    static let person = #"""
        root ::= "{" ws "\"name\"" ws ":" ws string ws "," ws "\"age\"" ws ":" ws age ws "," ws "\"tags\"" ws ":" ws tags ws "}"
        string ::= "\"" [a-zA-Z ]{1,24} "\""
        age ::= [1-9] [0-9]?
        tags ::= "[" ws ( string ( ws "," ws string ){0,3} )? ws "]"
        ws ::= " "?
        """#
    static let choice = #"root ::= "yes" | "no" | "maybe so""#

    static func model() throws -> DecoderPipelineModel {
        DecoderPipelineModel(try TextModel.load(try TestModels.requireSmolLM2()), name: "SmolLM2")
    }

    static func requests(_ model: DecoderPipelineModel, sampling: (Int) -> SamplingParameters) throws -> [GenerationRequest] {
        let prompts = ["Describe a person as JSON.", "Who is Ada Lovelace? Answer in JSON.", "Is the sky green?",
                       "Give me a JSON object for a cat named Tom.", "Hello", "Answer yes or no: is water wet?"]
        return try (0..<12).map { i in
            var request = GenerationRequest(id: "g\(i)", promptTokenIDs: try model.encode(prompts[i % prompts.count]),
                                            sampling: sampling(i), maxTokens: i == 4 ? 4 : 48)
            request.grammar = i % 3 == 2 ? Self.choice : Self.person
            return request
        }
    }

    static func run(_ model: DecoderPipelineModel, stages: Int, asynchronous: Bool = true, kvCacheMiB: Int = 64,
                    _ requests: [GenerationRequest]) async throws -> [String: GenerationResult] {
        var options = EngineOptions()
        options.pipelineStages = stages
        options.asynchronous = asynchronous
        options.maxBatchedTokens = 32
        options.kvCacheMiB = kvCacheMiB
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        defer { engine.shutdown() }
        return try await runAll(engine, requests)
    }

    static func checkFollowsGrammar(_ results: [String: GenerationResult], _ requests: [GenerationRequest]) throws {
        for request in requests {
            let result = try #require(results[request.id])
            let grammar = try Grammar(gbnf: request.grammar!)
            var matcher = GrammarMatcher(grammar)
            let prefix = matcher.advance(Array(result.text.utf8))
            #expect(prefix, "\(request.id): \(result.text) leaves the grammar")
            switch result.finishReason {
            case .stop: #expect(matcher.canEnd, "\(request.id) stopped before its grammar was complete: \(result.text)")
            case .length: #expect(result.tokens.count == request.maxTokens)
            case .abort: Issue.record("\(request.id) aborted")
            }
        }
    }

    @Test func greedyOutputFollowsTheGrammarAndIsIdenticalForEveryStageCountAndMode() async throws {
        let model = try Self.model()
        let requests = try Self.requests(model) { _ in .greedy }
        let reference = try await Self.run(model, stages: 1, requests)
        try Self.checkFollowsGrammar(reference, requests)
        #expect(reference["g0"]?.finishReason == .stop && reference["g4"]?.finishReason == .length)
        for (stages, asynchronous) in [(1, false), (2, true), (3, true), (4, true), (4, false)] {
            let results = try await Self.run(model, stages: stages, asynchronous: asynchronous, requests)
            for (id, expected) in reference {
                #expect(results[id]?.tokens == expected.tokens, "pp \(stages) \(asynchronous ? "async" : "sync") \(id)")
            }
        }
    }

    @Test func seededSamplingFollowsTheGrammarAndIsIdenticalAcrossStageCounts() async throws {
        let model = try Self.model()
        let requests = try Self.requests(model) { i in SamplingParameters(temperature: 1.1, topP: 0.95, seed: UInt64(7 + i)) }
        let reference = try await Self.run(model, stages: 1, requests)
        try Self.checkFollowsGrammar(reference, requests)
        for stages in [2, 3] {
            let results = try await Self.run(model, stages: stages, requests)
            for (id, expected) in reference { #expect(results[id]?.tokens == expected.tokens, "pp \(stages) \(id)") }
        }
    }

    @Test func preemptionRebuildsNothingAndChangesNothing() async throws {
        let model = try Self.model()
        let requests = try Self.requests(model) { i in i % 2 == 0 ? .greedy : SamplingParameters(temperature: 0.8, seed: UInt64(i)) }
        let reference = try await Self.run(model, stages: 2, requests)
        // 6 MiB of KV (SmolLM2: 30 layers × 2 × 192 floats × 4 B = 45 KiB per token) holds ~136 tokens: each request
        // fits, twelve at once do not, so requests are preempted and recomputed.
        var options = EngineOptions()
        options.pipelineStages = 2
        options.maxBatchedTokens = 32
        options.kvCacheMiB = 6
        let tight = try InferenceEngine.inProcess(model: model, options: options)
        let squeezed = try await runAll(tight, requests)
        tight.shutdown()
        #expect(tight.statistics.preemptions > 0)
        for (id, expected) in reference { #expect(squeezed[id]?.tokens == expected.tokens, "\(id) changed after preemption") }
    }

    @Test func resumedOutputContinuesInTheGrammar() async throws {
        let model = try Self.model()
        var request = try Self.requests(model) { _ in .greedy }[0]
        let whole = try await Self.run(model, stages: 1, [request])[request.id]!
        request.resumedTokenIDs = Array(whole.tokens.prefix(7))
        let resumed = try await Self.run(model, stages: 2, [request])[request.id]!
        #expect(request.resumedTokenIDs + resumed.tokens == whole.tokens)
    }

    @Test func invalidGrammarsAreRefusedAtSubmission() throws {
        let model = try Self.model()
        let engine = try InferenceEngine.inProcess(model: model, options: EngineOptions())
        defer { engine.shutdown() }
        var request = GenerationRequest(id: "bad", promptTokenIDs: [1, 2, 3])
        request.grammar = "root ::= missing"
        #expect(throws: EngineError.invalidRequest(parameter: "grammar", message: "invalid grammar: undefined rule \"missing\" (at line 1, column 10)")) {
            _ = try engine.submit(request)
        }
    }
}
