import ChatTemplates
import Engine
import Foundation
import Hummingbird
import Model
import NIOCore

/// What the Anthropic Messages and OpenAI Responses endpoints share: a conversation rendered by the model's chat
/// template into one engine request, checked against the served context, run through the same `Call` (metrics, log
/// line, cancellation on disconnect) as Chat Completions.
extension ParsedRequest {
    /// A single-choice chat request of another API: `messages` rendered with the chat template.
    init(dialect fields: Fields, messages: [ChatMessage], served: ServedModel, maxTokens: Int?, maxTokensField: String,
         stopStrings: [String], stream: Bool, structured: StructuredOutput = .none) throws(APIError) {
        kind = .chat
        model = try Self.modelName(fields, served: served)
        self.structured = structured
        let input = structured.templateInput(messages, templateRendersTools: served.templateRendersTools)
        promptText = try Self.render(input.messages, tools: input.tools, served: served)
        promptTokenIDs = served.encode(promptText)
        var sampling = try Self.sampling(fields)
        if let value = try fields.integer("seed") { sampling.seed = UInt64(bitPattern: Int64(value)) }
        let tokens = try Self.checkedMaxTokens(maxTokens, field: maxTokensField, promptTokens: promptTokenIDs.count, served: served)
        template = GenerationRequest(id: "", promptTokenIDs: promptTokenIDs, sampling: sampling, maxTokens: tokens,
                                     stopStrings: stopStrings)
        template.grammar = structured.grammar
        choices = 1
        self.stream = stream
        includeUsage = false
        echo = false
        wantsLogprobs = false
    }

    /// The text of a content given as a string or as a list of text blocks (`{"type": <textType>, "text": …}`).
    static func text(of content: Any?, field: String, textTypes: Set<String>) throws(APIError) -> String {
        switch content {
        case let text as String:
            return text
        case let blocks as [Any]:
            var text = ""
            for (index, block) in blocks.enumerated() {
                guard let block = block as? [String: Any], let type = block["type"] as? String else {
                    throw .invalid("\(field)[\(index)]", "\(field)[\(index)] must be an object with a type")
                }
                guard textTypes.contains(type), let piece = block["text"] as? String else {
                    throw .invalid("\(field)[\(index)]", "\(field)[\(index)] has type \(type); this server takes "
                                   + textTypes.sorted().joined(separator: " or ") + " blocks with a string text only")
                }
                text += piece
            }
            return text
        default:
            throw .invalid(field, "\(field) must be a string or a list of text blocks")
        }
    }
}

extension Call {
    /// The stop string that ended `result`, if one did (it is cut from the text): the earliest of `stops` in the
    /// text of the tokens generated.
    func stopString(_ result: GenerationResult, among stops: [String]) -> String? {
        guard result.finishReason == .stop, !stops.isEmpty else { return nil }
        let generated = result.tokens.map(model.tokenText).joined()
        return stops.compactMap { stop in generated.range(of: stop).map { (stop, $0.lowerBound) } }
            .min { $0.1 < $1.1 }?.0
    }

    /// A server-sent event with a name: `event: <name>` then its JSON data.
    func namedEvent(_ name: String, _ object: [String: Any]) -> ByteBuffer {
        var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
        buffer.writeBytes(APIServer.jsonData(object))
        buffer.writeString("\n\n")
        return buffer
    }

    /// Streams one request's updates through `events`, which turns each into the bytes to send (none for
    /// `nil`, the end), and `failed`, which answers an engine error mid-stream. A client that goes away fails the
    /// next write: leaving then drops the engine stream, cancelling the request on every rank.
    func streamingResponse(_ stream: Stream, opening: [ByteBuffer], events: @escaping @Sendable (RequestOutput?, GenerationResult) -> [ByteBuffer],
                           failed: @escaping @Sendable (EngineError) -> ByteBuffer) -> Response {
        let call = self
        let body = ResponseBody { writer in
            var result = GenerationResult(requestID: call.id)
            var first: ContinuousClock.Instant?
            var note: String?
            do {
                for buffer in opening { try await writer.write(buffer) }
                do {
                    for try await output in stream {
                        if first == nil && !output.newTokenIDs.isEmpty { first = .now }
                        result.append(output)
                        for buffer in events(output, result) { try await writer.write(buffer) }
                    }
                    for buffer in events(nil, result) { try await writer.write(buffer) }
                } catch let error as EngineError {
                    note = "failed: \(error)"
                    try await writer.write(failed(error))
                }
                try await writer.finish(nil)
            } catch {
                call.finished([result], firstTokens: [first], note: "client disconnected, cancelled")
                throw error
            }
            call.finished([result], firstTokens: [first], note: note)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}
