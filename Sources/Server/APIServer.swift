import Engine
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Model
import NIOCore

/// The OpenAI-compatible HTTP API over one served model.
public struct APIServer: Sendable {
    /// The model being served, once loaded.
    public let state: ServingState
    /// Largest accepted request body.
    public var bodyLimit = 4 << 20
    /// Requests the engine may hold waiting for admission before new ones get 429 (nil: no limit).
    public var maxWaitingRequests: Int?
    /// Longest accepted prompt in tokens (nil: the model's context decides).
    public var maxPromptTokens: Int?
    /// With a key, every path but `unauthenticatedPaths` needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Paths open without the API key (probes, scrapers and the API description by default).
    public var unauthenticatedPaths: Set<String> = ["/health", "/metrics", "/openapi.json"]
    /// A connection with no request in progress for this long is closed (also one whose request head never
    /// completes: a slowloris client). Nil: never.
    public var idleTimeout: Duration? = .seconds(60)
    /// Largest request head: one header field, and all of them together (bytes); beyond, the answer is 400.
    public var maxHeaderBytes = 64 << 10
    /// Whether the chat page (`/`), the pipeline view (`/pipeline`) and its stream (`/v1/pipeline/stream`) are served.
    public var webUI = true
    let metrics: ServerMetrics
    let logger: Logger

    public init(state: ServingState, logger: Logger = Logger(label: "brigade.server")) {
        self.state = state
        self.logger = logger
        metrics = ServerMetrics()
    }

    /// A server whose model has already loaded.
    public init(model: ServedModel, logger: Logger = Logger(label: "brigade.server")) {
        self.init(state: ServingState(.serving(model)), logger: logger)
    }

    /// The routes: chat and text completions, Anthropic's Messages, OpenAI's Responses, models, health, metrics.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        var methods: [String: Set<HTTPRequest.Method>] = [
            "/health": [.get, .head], "/metrics": [.get, .head], "/openapi.json": [.get, .head], "/v1/models": [.get, .head],
            "/v1/completions": [.post], "/v1/chat/completions": [.post], "/v1/messages": [.post],
            "/v1/messages/count_tokens": [.post], "/v1/responses": [.post],
        ]
        if webUI { methods.merge(["/": [.get, .head], "/pipeline": [.get, .head], "/v1/pipeline/stream": [.get]]) { $1 } }
        router.add(middleware: MethodNotAllowedMiddleware(methods: methods))
        if let apiKey {
            router.add(middleware: APIKeyMiddleware(key: apiKey, exemptPaths: unauthenticatedPaths.union(webUI ? Self.webPages : [])))
        }
        addWebRoutes(to: router)
        router.get("openapi.json") { _, _ -> Response in Self.json(.ok, OpenAPIDocument.json(modelName: state.model?.name)) }
        router.get("health") { _, _ -> Response in health() }
        router.get("metrics") { _, _ -> Response in
            Self.text(.ok, metrics.text(engine: state.model?.engine), type: "text/plain; version=0.0.4")
        }
        router.get("v1/models") { _, _ -> Response in
            guard let model = state.model else { return Self.response(for: .loading) }
            return Self.json(.ok, ["object": "list", "data": [Self.modelObject(model)]])
        }
        router.get("v1/models/:id") { _, context -> Response in
            guard let model = state.model else { return Self.response(for: .loading) }
            let id = context.parameters.get("id") ?? ""
            guard id == model.name else {
                return Self.response(for: APIError(.notFound, "the model \(id) does not exist; this server serves \(model.name)",
                                                   param: "model", code: "model_not_found"))
            }
            return Self.json(.ok, Self.modelObject(model))
        }
        router.post("v1/chat/completions") { request, _ in try await handle(request, kind: .chat) }
        router.post("v1/completions") { request, _ in try await handle(request, kind: .completion) }
        router.post("v1/messages") { request, _ in try await handleMessages(request, countOnly: false) }
        router.post("v1/messages/count_tokens") { request, _ in try await handleMessages(request, countOnly: true) }
        router.post("v1/responses") { request, _ in try await handleResponses(request) }
        return router
    }

    /// An application serving `router()` on `host:port`; `onListening` runs once the port is bound.
    public func application(host: String, port: Int,
                            onListening: @escaping @Sendable () -> Void = {}) -> some ApplicationProtocol {
        var http = HTTP1Channel.Configuration(idleTimeout: idleTimeout.map(TimeAmount.init))
        http.httpDecoder = HTTP1Channel.Configuration.DecoderConfiguration(maxHeaderFieldSize: maxHeaderBytes, maxHeaderListSize: maxHeaderBytes, maxHeaderFieldCount: 256)
        return Application(router: router(), server: .http1(configuration: http), configuration: .init(address: .hostname(host, port: port)),
                           onServerRunning: { _ in onListening() }, logger: logger)
    }

    /// The OpenAI model object of `model`.
    static func modelObject(_ model: ServedModel) -> [String: Any] {
        ["id": model.name, "object": "model", "created": Int(Date().timeIntervalSince1970), "owned_by": "brigade",
         "max_model_len": model.contextLength]
    }

    /// 200 `ok` while serving a healthy pipeline; 503 while loading, after a pipeline fault, or while stopping.
    func health() -> Response {
        switch state.current {
        case .loading: return Self.text(.serviceUnavailable, "loading\n")
        case .stopping: return Self.text(.serviceUnavailable, "shutting down\n")
        case .serving(let model):
            if let reason = model.engine.unavailableReason { return Self.text(.serviceUnavailable, "pipeline failed: \(reason)\n") }
            if let supervision = model.engine.supervision, supervision.state != "serving" {
                return Self.text(.ok, "ok (\(supervision.state); requests wait for the pipeline)\n")
            }
            return Self.text(.ok, "ok\n")
        }
    }

    func handle(_ request: Request, kind: ParsedRequest.Kind) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let model = try state.modelForNewRequest()
            let body = try await request.body.collect(upTo: bodyLimit + 1)
            let id = (kind == .chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            let (parsed, requests) = try decode(Data(buffer: body), kind: kind, model: model, id: id)
            try checkCapacity(model)
            let streams = try requests.map { choice throws(APIError) in
                try Self.checked { () throws(EngineError) in try model.engine.submit(choice) }
            }
            let call = Call(id: id, parsed: parsed, model: model, metrics: metrics, logger: logger, started: started)
            metrics.requestFinished(status: 200, endpoint: kind == .chat ? "chat_completions" : "completions")
            if parsed.stream { return call.streamingResponse(streams) }
            return Self.json(.ok, call.responseBody(try await call.collect(streams)))
        } catch let error as APIError {
            return refused(error, path: request.uri.path)
        } catch let error as EngineError {
            return refused(Self.apiError(error), path: request.uri.path)
        }
    }

    /// Decodes and checks a request body as the handlers do, without submitting anything: the parsed request and one
    /// engine request per choice, or the `APIError` the client would get.
    func decode(_ body: Data, kind: ParsedRequest.Kind, model: ServedModel, id: String) throws(APIError)
        -> (ParsedRequest, [GenerationRequest])
    {
        let parsed = try ParsedRequest(try Fields(body: body, limit: bodyLimit), kind: kind, model: model)
        try checkPromptLength(parsed, param: kind == .chat ? "messages" : "prompt")
        let requests = try (0..<parsed.choices).map { index throws(APIError) in
            var choice = parsed.template
            choice.id = "\(id)-\(index)"
            if let seed = choice.sampling.seed { choice.sampling.seed = seed &+ UInt64(index) }
            try Self.checked { () throws(EngineError) in try model.engine.validate(choice) }
            return choice
        }
        return (parsed, requests)
    }

    /// The engine requests a body sent to `/v1/chat/completions` (`chat`) or `/v1/completions` would start, or the
    /// error its client would get; nothing is submitted. The entry point of the request fuzzer.
    public func checkRequest(_ body: Data, chat: Bool) throws(APIError) -> [GenerationRequest] {
        guard let model = state.model else { throw APIError.loading }
        return try decode(body, kind: chat ? .chat : .completion, model: model, id: "check").1
    }

    /// Refuses a prompt longer than `--max-prompt-tokens`, naming `param`.
    func checkPromptLength(_ parsed: ParsedRequest, param: String) throws(APIError) {
        if let maxPromptTokens, parsed.promptTokenIDs.count > maxPromptTokens {
            throw APIError.invalid(param, "the prompt has \(parsed.promptTokenIDs.count) tokens; this server accepts at most \(maxPromptTokens)")
        }
    }

    /// 429 while `--max-waiting-requests` requests wait for admission.
    func checkCapacity(_ model: ServedModel) throws(APIError) {
        if let maxWaitingRequests, model.engine.statistics.waiting >= maxWaitingRequests {
            throw APIError(.tooManyRequests, "the server is at capacity (\(maxWaitingRequests) requests waiting); retry shortly",
                           type: "server_overloaded")
        }
    }

    /// Counts, logs and answers a request that gets an error (`answer`: in the endpoint's error shape).
    func refused(_ error: APIError, path: String, answer: (APIError) -> Response = Self.response(for:)) -> Response {
        metrics.requestFinished(status: Int(error.status.code))
        logger.info("\(path): \(error.status.code) \(error.message)")
        return answer(error)
    }

    static func checked<T>(_ body: () throws(EngineError) -> T) throws(APIError) -> T {
        do { return try body() } catch { throw apiError(error) }
    }

    static func apiError(_ error: EngineError) -> APIError {
        switch error {
        case .invalidRequest(let parameter, let message): return .invalid(parameter, message)
        case .duplicateRequestID(let id): return APIError(.conflict, "request \(id) is already running")
        case .shutDown: return .shuttingDown
        case .failed(let message): return APIError(.serviceUnavailable, message, type: "server_error")
        }
    }

    /// The error's JSON body, with `Retry-After` on 429 and 503.
    static func response(for error: APIError) -> Response {
        var response = json(error.status, error.body)
        if error.status == .tooManyRequests || error.status == .serviceUnavailable { response.headers[.retryAfter] = "1" }
        return response
    }

    static func json(_ status: HTTPResponse.Status, _ object: Any) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(bytes: jsonData(object))))
    }

    /// `object` (built from JSON types only) as JSON text.
    static func jsonData(_ object: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    static func text(_ status: HTTPResponse.Status, _ text: String, type: String = "text/plain") -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
