/// What serves generation requests: an `InferenceEngine` in this process, or a supervisor that runs the pipeline
/// elsewhere and keeps requests alive across its restarts. The HTTP server talks to this seam only.
public protocol GenerationService: Sendable {
    /// Submits a tokenized request; its updates arrive on the stream, the last one with a finish reason. Dropping the
    /// stream cancels the request.
    func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<RequestOutput, any Error>
    /// `request` with `promptText` turned into `promptTokenIDs`.
    func tokenized(_ request: GenerationRequest) throws(EngineError) -> GenerationRequest
    /// What the pipeline serves now (requests are checked against it).
    var limits: RequestLimits { get }
    /// Rank 0's counters.
    var statistics: EngineStatistics { get }
    /// Per-stage counters of the stages this service can see.
    var stageStatistics: [StageStatistics] { get }
    /// Why the service cannot take requests now (nil: it can).
    var unavailableReason: String? { get }
    /// The supervisor's view of the pipeline's life (nil: not supervised).
    var supervision: SupervisionStatus? { get }
    /// Stops serving. With `drain`, running and waiting requests finish first; otherwise they end with `abort`.
    func shutdown(drain: Bool)
}

extension GenerationService {
    /// Checks a request as `submit` does, without submitting it.
    public func validate(_ request: GenerationRequest) throws(EngineError) { try limits.validate(request) }
    public var contextLength: Int { limits.contextLength }
    public var supervision: SupervisionStatus? { nil }
}

/// A supervised pipeline's life so far, for /health and /metrics.
public struct SupervisionStatus: Sendable, Equatable {
    /// Pipelines launched after the first (recoveries).
    public var restarts = 0
    /// Stages of the running pipeline (0 while none runs).
    public var stages = 0
    /// Hosts of the running pipeline's ranks, rank 0 first.
    public var hosts: [String] = []
    /// Seconds from the last failure's detection to the new pipeline taking requests (nil: no recovery yet).
    public var lastRecoverySeconds: Double?
    /// When the last failure was detected and when the pipeline that replaced it began serving (Unix seconds).
    public var lastFailureTime: Double?
    public var lastRecoveryTime: Double?
    /// The last recovery's parts: ending the failed pipeline, and starting the new one (launch, model load, until
    /// rank 0 takes requests).
    public var lastTeardownSeconds: Double?
    public var lastLaunchSeconds: Double?
    /// Requests resubmitted to a new pipeline with the tokens they had streamed.
    public var resumedRequests = 0
    /// Failures detected.
    public var failures = 0
    /// What the supervisor is doing: "serving", "recovering: …", "unavailable: …".
    public var state = "starting"

    public init() {}
}

extension InferenceEngine: GenerationService {
    public var limits: RequestLimits {
        RequestLimits(vocabSize: model.vocabSize, contextLength: contextLength, blockSize: options.blockSize,
                      blockCount: blockCount, window: kvLayout.window, windowBlockCount: windowBlockCount,
                      maxBatchedTokens: options.maxBatchedTokens, supportsGrammars: model.hasTokenVocabulary)
    }

    public var unavailableReason: String? { failure }
}
