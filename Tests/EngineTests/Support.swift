import Engine
import Foundation
import Kernels
import Model
import Testing

enum TestModels {
    static var smolLM2: String {
        ProcessInfo.processInfo.environment["BRIGADE_MODEL"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// The real K-quant models `scripts/fetch-model` installs (`qwen2.5-coder`, `gemma3`), by file name.
    static let qwenCoder = "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"
    static let gemma3 = "gemma-3-270m.Q4_K_M.gguf"

    /// The path of real model `file`, failing the test with how to fetch it when it is missing.
    static func requireRealModel(_ file: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let directory = ProcessInfo.processInfo.environment["BRIGADE_MODEL_DIR"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/models"
        let path = directory + "/" + file
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("missing \(path): run scripts/prepare-test-data (or scripts/fetch-model qwen2.5-coder|gemma3) first",
                         sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return path
    }

    static func requireSmolLM2(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        guard FileManager.default.fileExists(atPath: smolLM2) else {
            Issue.record("missing \(smolLM2): run scripts/prepare-test-data (or scripts/fetch-model) first", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return smolLM2
    }

    /// The model file at `path` for the engine, with token ids spelled as text.
    static func model(_ path: String, eosTokenIDs: [Int32] = [2], precision: Precision = .integer) throws -> DecoderPipelineModel {
        var weights = try ModelWeights.open(path)
        weights.precision = precision
        return DecoderPipelineModel(weights: weights, eosTokenIDs: eosTokenIDs) { IDSpeller() }
    }
}

/// A detokenizer that spells each token as `<id>`: enough to test the engine's text plumbing without a vocabulary.
struct IDSpeller: IncrementalDetokenizer {
    mutating func append(_ token: Int32) -> String { "<\(token)>" }
    mutating func flush() -> String { "" }
}

/// Everything a request produced, gathered from its stream.
struct Collected {
    var tokens: [Int32] = []
    var text = ""
    var logprobs: [SampledToken] = []
    var finishReason: FinishReason?
    var usage: Usage?
    var updates = 0
}

func collect(_ stream: AsyncThrowingStream<RequestOutput, any Error>) async throws -> Collected {
    var result = Collected()
    for try await output in stream {
        result.tokens += output.newTokenIDs
        result.text += output.textDelta
        result.logprobs += output.logprobs
        result.updates += 1
        if let reason = output.finishReason {
            result.finishReason = reason
            result.usage = output.usage
        }
    }
    return result
}

extension TestModels {
    static var testData: String {
        ProcessInfo.processInfo.environment["BRIGADE_TESTDATA"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/testdata"
    }

    /// An 8-layer tiny random model (scripts/testdata/pipeline_models.py), splittable into up to 8 stages.
    static func requireDeep8(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let path = testData + "/pipeline/deep8.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("missing \(path): run scripts/prepare-test-data", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return path
    }
}

/// Submits every request at once and gathers each one's whole result, keyed by request id.
func runAll(_ engine: InferenceEngine, _ requests: [GenerationRequest]) async throws -> [String: GenerationResult] {
    try await withThrowingTaskGroup(of: GenerationResult.self) { group in
        for request in requests {
            let stream = try engine.submit(request)
            group.addTask {
                var result = GenerationResult(requestID: request.id)
                for try await output in stream { result.append(output) }
                return result
            }
        }
        var results: [String: GenerationResult] = [:]
        for try await result in group { results[result.requestID] = result }
        return results
    }
}
