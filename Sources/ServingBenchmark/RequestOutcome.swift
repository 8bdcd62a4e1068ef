import Foundation

/// What one benchmark request got back, measured as `vllm bench serve` measures it (`RequestFuncOutput`).
public struct RequestOutcome: Sendable, Equatable {
    public var success = false
    /// Seconds from sending the request to its first chunk with choices.
    public var ttft = 0.0
    /// Gaps in seconds between successive chunks with choices.
    public var itl: [Double] = []
    /// Seconds from sending to the last chunk counted (see `StreamTimer`).
    public var latency = 0.0
    /// `usage.completion_tokens` of the stream's usage chunk (0 if there was none).
    public var outputTokens = 0
    public var promptLength = 0
    public var generatedText = ""
    public var error = ""
    /// When the request was sent, in seconds on the benchmark's clock.
    public var startTime = 0.0

    public init(promptLength: Int = 0, startTime: Double = 0) {
        self.promptLength = promptLength
        self.startTime = startTime
    }
}

/// The API a benchmark drives.
public enum Endpoint: String, Sendable, CaseIterable {
    case completions = "/v1/completions"
    case chatCompletions = "/v1/chat/completions"
}

/// Turns a server-sent-event stream, read in network chunks with their arrival times, into a `RequestOutcome` with
/// vLLM's rules: TTFT is the first event with `choices` (even if its text is empty), every later such event adds an
/// inter-token gap, and the usage event gives the token count. The latency ends at the last event with `choices` for
/// completions; for chat it ends at the last event of any kind (vLLM's chat client stamps the usage event too).
public struct StreamTimer {
    public private(set) var outcome: RequestOutcome
    private let endpoint: Endpoint
    private let start: Double
    private var buffer: [UInt8] = []
    private var lastStamp: Double
    private var sawChoices = false

    public init(endpoint: Endpoint, start: Double, promptLength: Int) {
        self.endpoint = endpoint
        self.start = start
        lastStamp = start
        outcome = RequestOutcome(promptLength: promptLength, startTime: start)
    }

    /// Feeds bytes that arrived at `time` (seconds, same clock as `start`).
    public mutating func receive(_ bytes: some Sequence<UInt8>, at time: Double) throws(BenchmarkError) {
        buffer.append(contentsOf: bytes)
        while let end = Self.eventEnd(in: buffer) {
            let event = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
            buffer.removeSubrange(..<end.upperBound)
            try handle(event.trimmingCharacters(in: .whitespacesAndNewlines), at: time)
        }
    }

    /// Ends the stream: success if any event with choices arrived.
    public mutating func finish() -> RequestOutcome {
        if !buffer.isEmpty, let event = Optional(String(decoding: buffer, as: UTF8.self)) {
            buffer.removeAll()
            try? handle(event.trimmingCharacters(in: .whitespacesAndNewlines), at: lastStamp)
        }
        outcome.success = sawChoices
        if !sawChoices && outcome.error.isEmpty { outcome.error = "the stream had no event with choices" }
        outcome.latency = lastStamp - start
        return outcome
    }

    /// The range of the first blank-line separator ("\n\n" or "\r\n\r\n") in `bytes`.
    static func eventEnd(in bytes: [UInt8]) -> Range<Int>? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == 10 && bytes[index + 1] == 10 { return index..<index + 2 }
            if index + 3 < bytes.count, bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                return index..<index + 4
            }
            index += 1
        }
        return nil
    }

    private mutating func handle(_ event: String, at time: Double) throws(BenchmarkError) {
        guard !event.isEmpty, !event.hasPrefix(":") else { return }  // SSE comments are keep-alives
        let payload = event.hasPrefix("data:") ? String(event.dropFirst(5)).trimmingCharacters(in: .whitespaces) : event
        guard payload != "[DONE]" else { return }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] else {
            throw BenchmarkError("the server sent an event that is not a JSON object: \(payload.prefix(200))")
        }
        if let error = object["error"] as? [String: Any] {
            outcome.error = error["message"] as? String ?? "\(error)"
        }
        if let choices = object["choices"] as? [[String: Any]], let choice = choices.first {
            if !sawChoices {
                sawChoices = true
                outcome.ttft = time - start
            } else {
                outcome.itl.append(time - lastStamp)
            }
            lastStamp = time
            let text = endpoint == .chatCompletions ? (choice["delta"] as? [String: Any])?["content"] as? String : choice["text"] as? String
            outcome.generatedText += text ?? ""
        } else if let usage = object["usage"] as? [String: Any] {
            outcome.outputTokens = usage["completion_tokens"] as? Int ?? 0
            if endpoint == .chatCompletions { lastStamp = time }
        }
    }
}

/// A benchmark that cannot run: a bad option, an unreachable server, a malformed answer.
public struct BenchmarkError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
