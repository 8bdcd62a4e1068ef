import Engine
import Model

/// The `--json` line of one request: prompt_token_ids, token_ids, text, finish_reason, logprobs (with --logprobs),
/// usage — in that order.
func generationJSON(prompt: [Int32], result: GenerationResult, withLogprobs: Bool) -> String {
    func logprob(_ id: Int32, _ value: Double) -> [(String, OrderedJSON)] { [("token_id", .int(Int(id))), ("logprob", .double(value))] }
    var fields: [(String, OrderedJSON)] = [
        ("prompt_token_ids", .array(prompt.map { .int(Int($0)) })),
        ("token_ids", .array(result.tokens.map { .int(Int($0)) })),
        ("text", .string(result.text)),
        ("finish_reason", .string(result.finishReason.rawValue)),
    ]
    if withLogprobs {
        fields.append(("logprobs", .array(result.logprobs.map { entry in
            .object(logprob(entry.tokenID, entry.logprob) + [("top", .array(entry.top.map { .object(logprob($0.tokenID, $0.logprob)) }))])
        })))
    }
    fields.append(("usage", .object([("prompt_tokens", .int(result.usage.promptTokens)),
                                     ("completion_tokens", .int(result.usage.completionTokens))])))
    return OrderedJSON.object(fields).text
}
