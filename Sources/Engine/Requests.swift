import Model

/// Why a request stopped producing tokens.
public enum FinishReason: String, Sendable, Codable, Equatable {
    /// An end-of-sequence or stop token, or a stop string.
    case stop
    /// `maxTokens` reached, or the model's context is full.
    case length
    /// Cancelled by the client, or the engine was shut down without draining.
    case abort
}

/// A generation request in token space. Text-level concerns (templates, tokenization) are the caller's; the engine
/// detokenizes output incrementally for streaming and stop strings.
public struct GenerationRequest: Sendable, Equatable {
    /// Unique among the engine's live requests.
    public var id: String
    public var promptTokenIDs: [Int32]
    /// A prompt as text: when set, `submit` tokenizes it with the model's tokenizer (special tokens recognised) and
    /// uses it instead of `promptTokenIDs`, which must then be empty.
    public var promptText: String?
    public var sampling: SamplingParameters
    /// Maximum number of tokens to generate (>= 1).
    public var maxTokens: Int
    /// Stop tokens are ignored until this many tokens were generated.
    public var minTokens: Int
    /// Extra token ids that end generation (the model's end-of-sequence tokens are added unless `ignoreEOS`).
    public var stopTokenIDs: [Int32]
    /// Strings that end generation; the returned text never contains them.
    public var stopStrings: [String]
    public var ignoreEOS: Bool
    /// Whether to return, for every generated token, the full row of raw logits it was sampled from.
    public var returnLogits: Bool
    /// Tokens already generated and streamed for this request by a pipeline that has since stopped: the engine
    /// computes them with the prompt, counts them as output (penalties, `maxTokens`, stop strings, usage) and streams
    /// only what follows, so the stream continues exactly where it stopped (the random draw of token `n` depends only
    /// on the seed and `n`).
    public var resumedTokenIDs: [Int32] = []
    /// A GBNF grammar (llama.cpp's format) the output must follow: on the sampling rank every token is drawn from
    /// those the grammar allows next, and end-of-sequence only where the grammar may end. The server compiles JSON
    /// schemas, regular expressions and choices into this form.
    public var grammar: String?

    public init(id: String, promptTokenIDs: [Int32], sampling: SamplingParameters = .greedy, maxTokens: Int = 16,
                minTokens: Int = 0, stopTokenIDs: [Int32] = [], stopStrings: [String] = [], ignoreEOS: Bool = false,
                returnLogits: Bool = false) {
        self.id = id
        self.promptTokenIDs = promptTokenIDs
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.minTokens = minTokens
        self.stopTokenIDs = stopTokenIDs
        self.stopStrings = stopStrings
        self.ignoreEOS = ignoreEOS
        self.returnLogits = returnLogits
    }
}

extension GenerationRequest {
    /// A request whose prompt is text, tokenized by the engine's model at `submit`.
    public init(id: String, text: String, sampling: SamplingParameters = .greedy, maxTokens: Int = 16, minTokens: Int = 0,
                stopTokenIDs: [Int32] = [], stopStrings: [String] = [], ignoreEOS: Bool = false, returnLogits: Bool = false) {
        self.init(id: id, promptTokenIDs: [], sampling: sampling, maxTokens: maxTokens, minTokens: minTokens,
                  stopTokenIDs: stopTokenIDs, stopStrings: stopStrings, ignoreEOS: ignoreEOS, returnLogits: returnLogits)
        promptText = text
    }
}

/// Token counts of a request.
public struct Usage: Sendable, Codable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens whose keys and values came from the prefix cache instead of being computed.
    public var cachedPromptTokens: Int
    public init(promptTokens: Int, completionTokens: Int, cachedPromptTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
    }
    public var totalTokens: Int { promptTokens + completionTokens }
}

/// One streamed update of a request: what is new since the previous update.
public struct RequestOutput: Sendable {
    public var requestID: String
    /// Token ids generated since the last update (the final stop token included).
    public var newTokenIDs: [Int32]
    /// Text generated since the last update: complete UTF-8 characters only, stop strings and text that may still
    /// become a stop string held back.
    public var textDelta: String
    /// One entry per new token when log-probs were requested.
    public var logprobs: [SampledToken]
    /// One raw logits row per new token when the request asked for logits.
    public var logits: [[Float]]
    /// Set on the last update of the request.
    public var finishReason: FinishReason?
    public var usage: Usage

    public init(requestID: String, newTokenIDs: [Int32], textDelta: String, logprobs: [SampledToken] = [], logits: [[Float]] = [],
                finishReason: FinishReason? = nil, usage: Usage) {
        self.requestID = requestID
        self.newTokenIDs = newTokenIDs
        self.textDelta = textDelta
        self.logprobs = logprobs
        self.logits = logits
        self.finishReason = finishReason
        self.usage = usage
    }
}

/// Errors the engine reports to a caller.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case invalidRequest(parameter: String, message: String)
    case duplicateRequestID(String)
    case shutDown
    case failed(String)

    public var description: String {
        switch self {
        case .invalidRequest(_, let message): return message
        case .duplicateRequestID(let id): return "a request with id \"\(id)\" is already running"
        case .shutDown: return "the engine is shut down and accepts no requests"
        case .failed(let message): return "the engine stopped: \(message)"
        }
    }
}

/// Everything a finished request produced.
public struct GenerationResult: Sendable {
    public var requestID: String
    public var tokens: [Int32] = []
    public var text = ""
    public var logprobs: [SampledToken] = []
    public var logits: [[Float]] = []
    public var finishReason: FinishReason = .abort
    public var usage = Usage(promptTokens: 0, completionTokens: 0)

    public init(requestID: String) { self.requestID = requestID }

    /// Adds one streamed update.
    public mutating func append(_ output: RequestOutput) {
        tokens += output.newTokenIDs
        text += output.textDelta
        logprobs += output.logprobs
        logits += output.logits
        usage = output.usage
        if let reason = output.finishReason { finishReason = reason }
    }
}

extension InferenceEngine {
    /// Runs `request` to completion, calling `onUpdate` with each streamed update.
    public func generate(_ request: GenerationRequest, onUpdate: (RequestOutput) -> Void = { _ in }) async throws -> GenerationResult {
        var result = GenerationResult(requestID: request.id)
        for try await output in try submit(request) {
            result.append(output)
            onUpdate(output)
        }
        return result
    }
}
