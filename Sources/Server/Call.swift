import Engine
import Foundation
import Hummingbird
import Logging
import Model

/// One API call in flight: its choices' streams, turned into an OpenAI response or a stream of SSE chunks.
struct Call: Sendable {
    let id: String
    let parsed: ParsedRequest
    let model: ServedModel
    let metrics: ServerMetrics
    let logger: Logger
    let started: ContinuousClock.Instant
    let created = Int(Date().timeIntervalSince1970)

    typealias Stream = AsyncThrowingStream<RequestOutput, any Error>

    /// The prompt text a completion starts with (`echo`), or nothing.
    var echoedPrompt: String { parsed.kind == .completion && parsed.echo ? parsed.promptText : "" }

    var object: String { parsed.kind == .chat ? "chat.completion" : "text_completion" }

    func collect(_ streams: [Stream]) async throws -> [GenerationResult] {
        var results: [GenerationResult] = []
        var firstTokens: [ContinuousClock.Instant?] = []
        for (index, stream) in streams.enumerated() {
            var result = GenerationResult(requestID: "\(id)-\(index)")
            var first: ContinuousClock.Instant?
            for try await output in stream {
                if first == nil && !output.newTokenIDs.isEmpty { first = .now }
                result.append(output)
            }
            results.append(result)
            firstTokens.append(first)
        }
        finished(results, firstTokens: firstTokens)
        return results
    }

    /// Records the finished choices in the metrics and logs one line for the call (`note`: how it ended, if oddly).
    func finished(_ results: [GenerationResult], firstTokens: [ContinuousClock.Instant?], note: String? = nil) {
        let end = ContinuousClock.now
        let total = started.duration(to: end) / .seconds(1)
        for (result, firstToken) in zip(results, firstTokens) {
            metrics.promptTokens.increment(by: Int64(result.usage.promptTokens))
            metrics.generationTokens.increment(by: Int64(result.usage.completionTokens))
            metrics.endToEnd.record(total)
            guard let firstToken else { continue }
            metrics.timeToFirstToken.record(started.duration(to: firstToken) / .seconds(1))
            if result.usage.completionTokens > 1 {
                metrics.timePerOutputToken.record(firstToken.duration(to: end) / .seconds(1) / Double(result.usage.completionTokens - 1))
            }
        }
        let generated = results.reduce(0) { $0 + $1.usage.completionTokens }
        let reasons = Set(results.map(\.finishReason.rawValue)).sorted().joined(separator: ",")
        let ttft = firstTokens.compactMap { $0 }.min().map { String(format: ", TTFT %.0f ms", started.duration(to: $0) / .milliseconds(1)) } ?? ""
        let duration = String(format: "%.3f s", total)
        // A format cut by max_tokens is not what the client asked for: say so (the finish reason is "length").
        let cut = parsed.structured.grammar != nil && results.contains { $0.finishReason == .length }
            ? ", \(parsed.structured.grammarField ?? "grammar") incomplete at the token limit" : ""
        let how = (parsed.stream ? ", streamed" : "") + cut + (note.map { ", \($0)" } ?? "")
        let cached = cachedPromptTokens(results)
        logger.info("\(id): \(parsed.promptTokenIDs.count) prompt tokens (\(cached) cached), \(generated) generated (\(reasons))\(ttft), \(duration)\(how)")
    }

    func usage(_ results: [GenerationResult]) -> [String: Any] {
        let completion = results.reduce(0) { $0 + $1.usage.completionTokens }
        let prompt = parsed.promptTokenIDs.count
        return ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": ["cached_tokens": cachedPromptTokens(results)]]
    }

    /// Prompt tokens the prefix cache supplied (the most any choice reused: every choice has the same prompt).
    func cachedPromptTokens(_ results: [GenerationResult]) -> Int {
        results.map(\.usage.cachedPromptTokens).max() ?? 0
    }

    func responseBody(_ results: [GenerationResult]) -> [String: Any] {
        let choices: [[String: Any]] = results.enumerated().map { index, result in
            var textOffset = echoedPrompt.unicodeScalars.count
            var choice: [String: Any] = ["index": index, "finish_reason": result.finishReason.rawValue,
                                         "logprobs": parsed.wantsLogprobs ? logprobs(result.logprobs, textOffset: &textOffset) : NSNull()]
            switch parsed.kind {
            case .chat: (choice["message"], choice["finish_reason"]) = assistantMessage(result)
            case .completion: choice["text"] = echoedPrompt + result.text
            }
            return choice
        }
        return ["id": id, "object": object, "created": created, "model": model.name, "choices": choices, "usage": usage(results)]
    }

    /// Log-probs in the shape of the endpoint: chat `{"content": [...]}`, completions `{"tokens", "token_logprobs", …}`.
    /// `textOffset` is where the first entry's token starts in the choice's text (completions count it in Unicode
    /// scalars, as Python does, across the chunks of a stream); it moves past the entries.
    func logprobs(_ entries: [SampledToken], textOffset: inout Int) -> Any {
        switch parsed.kind {
        case .chat:
            return ["content": entries.map { entry -> [String: Any] in
                let text = model.tokenText(entry.tokenID)
                return ["token": text, "logprob": entry.logprob, "bytes": Array(text.utf8).map(Int.init),
                        "top_logprobs": entry.top.map { top -> [String: Any] in
                            let text = model.tokenText(top.tokenID)
                            return ["token": text, "logprob": top.logprob, "bytes": Array(text.utf8).map(Int.init)]
                        }]
            }]
        case .completion:
            var offsets: [Int] = []
            for entry in entries {
                offsets.append(textOffset)
                textOffset += model.tokenText(entry.tokenID).unicodeScalars.count
            }
            return ["tokens": entries.map { model.tokenText($0.tokenID) },
                    "token_logprobs": entries.map(\.logprob),
                    "top_logprobs": entries.map { entry in
                        Dictionary(entry.top.map { (model.tokenText($0.tokenID), $0.logprob) }, uniquingKeysWith: { first, _ in first })
                    },
                    "text_offset": offsets]
        }
    }

    /// Server-sent events: one chunk per update of each choice, then (with `include_usage`) the usage, then `[DONE]`.
    /// A client that goes away fails the next write; leaving the body then cancels the pumps, which drop the engine
    /// streams and so cancel their requests on every rank.
    func streamingResponse(_ streams: [Stream]) -> Response {
        let call = self
        let body = ResponseBody { writer in
            let (events, sink) = AsyncThrowingStream<(Int, RequestOutput), any Error>.makeStream()
            let pumps = Task {
                await withTaskGroup(of: Void.self) { group in
                    for (index, stream) in streams.enumerated() {
                        group.addTask {
                            do {
                                for try await output in stream { sink.yield((index, output)) }
                            } catch {
                                sink.finish(throwing: error)
                            }
                        }
                    }
                }
                sink.finish()
            }
            defer { pumps.cancel() }
            var results = streams.indices.map { GenerationResult(requestID: "\(call.id)-\($0)") }
            var firstTokens = [ContinuousClock.Instant?](repeating: nil, count: streams.count)
            var textOffsets = [Int](repeating: call.echoedPrompt.unicodeScalars.count, count: streams.count)
            var toolStreams = [ToolCallStream?](repeating: call.parsed.structured.parsesToolCalls ? ToolCallStream(toolNames: call.parsed.structured.toolNames) : nil, count: streams.count)
            var note: String?
            do {
                var opened = [Bool](repeating: false, count: streams.count)
                do {
                    for try await (index, output) in events {
                        if !opened[index] {
                            // The role (chat) or the echoed prompt opens a choice with its first output, as vLLM
                            // does, so a client's time to first chunk is its time to first token.
                            opened[index] = true
                            if call.parsed.kind == .chat {
                                try await writer.write(call.event(call.chunk(index, delta: ["role": "assistant", "content": ""])))
                            } else if call.parsed.echo {
                                try await writer.write(call.event(call.chunk(index, text: call.parsed.promptText)))
                            }
                        }
                        if firstTokens[index] == nil && !output.newTokenIDs.isEmpty { firstTokens[index] = .now }
                        results[index].append(output)
                        let logprobs: Any = call.parsed.wantsLogprobs ? call.logprobs(output.logprobs, textOffset: &textOffsets[index]) : NSNull()
                        let chunks = call.parsed.kind == .chat
                            ? call.chatChunks(output, index: index, logprobs: logprobs, tools: &toolStreams[index])
                            : [call.chunk(index, text: output.textDelta, logprobs: logprobs, finishReason: output.finishReason?.rawValue ?? NSNull())]
                        for chunk in chunks { try await writer.write(call.event(chunk)) }
                    }
                } catch let error as EngineError {
                    note = "failed: \(error)"
                    try await writer.write(call.event(APIServer.apiError(error).body))
                }
                if call.parsed.includeUsage {
                    try await writer.write(call.event(["id": call.id, "object": call.chunkObject, "created": call.created,
                                                       "model": call.model.name, "choices": [Any](), "usage": call.usage(results)]))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            } catch {
                // A write failed: the client went away. Leaving cancels the pumps, and so the requests on every rank.
                call.finished(results, firstTokens: firstTokens, note: "client disconnected, cancelled")
                throw error
            }
            call.finished(results, firstTokens: firstTokens, note: note)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    var chunkObject: String { parsed.kind == .chat ? "chat.completion.chunk" : "text_completion" }

    func chunk(_ index: Int, delta: [String: Any] = [:], text: String = "", logprobs: Any = NSNull(),
               finishReason: Any = NSNull()) -> [String: Any] {
        var choice: [String: Any] = ["index": index, "logprobs": logprobs, "finish_reason": finishReason]
        if parsed.kind == .chat { choice["delta"] = delta } else { choice["text"] = text }
        return ["id": id, "object": chunkObject, "created": created, "model": model.name, "choices": [choice]]
    }

    func event(_ object: [String: Any]) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(APIServer.jsonData(object))
        buffer.writeString("\n\n")
        return buffer
    }
}
