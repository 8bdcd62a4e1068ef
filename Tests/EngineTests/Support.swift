import Engine
import Foundation
import Model
import Testing

enum TestModels {
    static var smolLM2: String {
        ProcessInfo.processInfo.environment["BRIGADE_MODEL"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    static func requireSmolLM2(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        guard FileManager.default.fileExists(atPath: smolLM2) else {
            Issue.record("missing \(smolLM2): run scripts/prepare-test-data (or scripts/fetch-model) first", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return smolLM2
    }

    /// A whole-model stage of the GGUF at `path`.
    static func stage(_ path: String) throws -> LlamaStage {
        let file = try GGUFFile(path: path)
        let config = try file.llamaConfig()
        return try LlamaStage(config: config, store: file.tensorStore(), layers: 0..<config.layerCount, embedding: true, head: true)
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
