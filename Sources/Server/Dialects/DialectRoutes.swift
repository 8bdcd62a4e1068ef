import Engine
import Foundation
import Hummingbird
import NIOCore

/// The handlers of the Anthropic Messages and OpenAI Responses endpoints.
extension APIServer {
    /// `POST /v1/messages` and (`countOnly`) `POST /v1/messages/count_tokens`; errors in Anthropic's shape.
    func handleMessages(_ request: Request, countOnly: Bool) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let model = try state.modelForNewRequest()
            let parsed = try MessagesAPI.parse(try await fields(request), served: model, countOnly: countOnly)
            if countOnly {
                metrics.requestFinished(status: 200, endpoint: "messages_count_tokens")
                return Self.json(.ok, ["input_tokens": parsed.request.promptTokenIDs.count])
            }
            let (call, stream) = try start(parsed.request, id: "msg_" + Self.randomID(), model: model, endpoint: "messages",
                                           started: started)
            if parsed.request.stream { return MessagesAPI.streamingResponse(call, stream, parsed) }
            let result = try await call.collect([stream])[0]
            return Self.json(.ok, MessagesAPI.message(call, result, parsed))
        } catch let error as APIError {
            return refused(error, path: request.uri.path, answer: MessagesAPI.errorResponse)
        } catch let error as EngineError {
            return refused(Self.apiError(error), path: request.uri.path, answer: MessagesAPI.errorResponse)
        }
    }

    /// `POST /v1/responses`.
    func handleResponses(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let model = try state.modelForNewRequest()
            let (parsed, settings) = try ResponsesAPI.parse(try await fields(request), served: model)
            let (call, stream) = try start(parsed, id: "resp_" + Self.randomID(), model: model, endpoint: "responses",
                                           started: started)
            if parsed.stream { return ResponsesAPI.streamingResponse(call, stream, settings) }
            let result = try await call.collect([stream])[0]
            return Self.json(.ok, ResponsesAPI.response(call, result, settings))
        } catch let error as APIError {
            return refused(error, path: request.uri.path)
        } catch let error as EngineError {
            return refused(Self.apiError(error), path: request.uri.path)
        }
    }

    /// Checks `parsed` against the server's limits and submits it.
    func start(_ parsed: ParsedRequest, id: String, model: ServedModel, endpoint: String,
               started: ContinuousClock.Instant) throws(APIError) -> (Call, Call.Stream) {
        try checkPromptLength(parsed, param: "messages")
        try checkCapacity(model)
        var request = parsed.template
        request.id = id
        let stream = try Self.checked { () throws(EngineError) in
            try model.engine.validate(request)
            return try model.engine.submit(request)
        }
        metrics.requestFinished(status: 200, endpoint: endpoint)
        return (Call(id: id, parsed: parsed, model: model, metrics: metrics, logger: logger, started: started), stream)
    }

    /// The request's JSON body, within `bodyLimit`.
    func fields(_ request: Request) async throws -> Fields {
        try Fields(body: Data(buffer: try await request.body.collect(upTo: bodyLimit + 1)), limit: bodyLimit)
    }

    static func randomID() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }
}
