import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// How to drive the server: `vllm bench serve`'s options.
public struct ServeBenchmarkOptions: Sendable {
    /// The server, e.g. `http://127.0.0.1:8000`.
    public var baseURL: String
    public var endpoint: Endpoint = .completions
    /// The `model` field sent; nil asks the server's `/v1/models`.
    public var modelName: String?
    /// Requests per second; infinity sends them all at once.
    public var requestRate = Double.infinity
    public var burstiness = 1.0
    /// At most this many requests in flight (nil: no limit).
    public var maxConcurrency: Int?
    public var seed: UInt64 = 0
    public var ignoreEOS = false
    /// JSON object whose fields are added to every request body (e.g. a `response_format`).
    public var extraBody: String?
    /// Requests (copies of the first prompt) sent before the measured run.
    public var warmups = 0

    public init(baseURL: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    public func validate() throws(BenchmarkError) {
        guard URL(string: baseURL)?.scheme?.hasPrefix("http") == true else {
            throw BenchmarkError("--url \"\(baseURL)\" is not an http:// or https:// URL")
        }
        guard requestRate > 0 else { throw BenchmarkError("--request-rate must be positive or inf, got \(requestRate)") }
        guard burstiness > 0 else { throw BenchmarkError("--burstiness must be positive, got \(burstiness)") }
        if let maxConcurrency, maxConcurrency < 1 { throw BenchmarkError("--max-concurrency must be at least 1") }
        guard warmups >= 0 else { throw BenchmarkError("--num-warmups must be 0 or more") }
    }
}

/// A finished run: every request's outcome, in prompt order, and the wall time from the first send to the last answer.
public struct ServeBenchmarkRun: Sendable {
    public var outcomes: [RequestOutcome]
    public var duration: Double
    public var modelName: String
    /// The conversation turn (from 1) of each outcome, for a multi-turn run; empty otherwise.
    public var turns: [Int] = []

    public init(outcomes: [RequestOutcome], duration: Double, modelName: String, turns: [Int] = []) {
        self.outcomes = outcomes
        self.duration = duration
        self.modelName = modelName
        self.turns = turns
    }
}

/// The client side of `vllm bench serve`: streams every prompt to the server at the scheduled arrival times, at most
/// `maxConcurrency` at once, timing each stream with `StreamTimer`.
public struct ServeBenchmark: Sendable {
    public let options: ServeBenchmarkOptions
    let client: HTTPClient

    public init(options: ServeBenchmarkOptions, connections: Int) {
        self.options = options
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, connections)
        configuration.timeout.connect = .seconds(3)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws { try await client.shutdown() }

    /// Runs `prompts`; `progress` gets the number of finished requests.
    public func run(_ prompts: [BenchmarkPrompt], progress: @escaping @Sendable (Int) -> Void = { _ in }) async throws -> ServeBenchmarkRun {
        try options.validate()
        guard let first = prompts.first else { throw BenchmarkError("there are no prompts to send (--num-prompts is 0)") }
        let model = try await modelName()
        try await probe(first, model: model)
        if options.warmups > 0 {
            _ = try await inParallel(Array(repeating: first, count: options.warmups), model: model, at: nil, origin: .now) { _ in }
        }
        var generator = SeededGenerator(seed: options.seed)
        let arrivals = arrivalTimes(count: prompts.count, rate: options.requestRate, burstiness: options.burstiness,
                                    generator: &generator)
        let origin = ContinuousClock.now
        let outcomes = try await inParallel(prompts, model: model, at: arrivals, origin: origin, progress: progress)
        return ServeBenchmarkRun(outcomes: outcomes, duration: origin.duration(to: .now) / .seconds(1), modelName: model)
    }

    /// Sends each prompt at its arrival time (seconds after `origin`; nil: at once), at most `maxConcurrency` at a time.
    private func inParallel(_ prompts: [BenchmarkPrompt], model: String, at arrivals: [Double]?, origin: ContinuousClock.Instant,
                            progress: @escaping @Sendable (Int) -> Void) async throws -> [RequestOutcome] {
        let gate = Gate(limit: options.maxConcurrency ?? Int.max)
        return try await withThrowingTaskGroup(of: (Int, RequestOutcome).self) { group in
            for (index, prompt) in prompts.enumerated() {
                if let delay = arrivals?[index], delay > 0 {
                    let due = origin.advanced(by: .nanoseconds(Int64(delay * 1e9)))
                    if due > .now { try await Task.sleep(until: due, clock: .continuous) }
                }
                group.addTask {
                    await gate.enter()
                    let outcome = (try? await send(prompt, model: model, clock: origin))
                        ?? RequestOutcome(promptLength: prompt.promptLength)
                    await gate.leave()
                    return (index, outcome)
                }
            }
            var outcomes = [RequestOutcome](repeating: RequestOutcome(), count: prompts.count)
            var finished = 0
            for try await (index, outcome) in group {
                outcomes[index] = outcome
                finished += 1
                progress(finished)
            }
            return outcomes
        }
    }

    /// One streamed request; transport errors and non-200 answers become a failed outcome, never a thrown error.
    func send(_ prompt: BenchmarkPrompt, model: String, clock origin: ContinuousClock.Instant) async throws -> RequestOutcome {
        var request = HTTPClientRequest(url: options.baseURL + options.endpoint.rawValue)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: payload(prompt, model: model))))
        let start = origin.duration(to: .now) / .seconds(1)
        var timer = StreamTimer(endpoint: options.endpoint, start: start, promptLength: prompt.promptLength)
        do {
            let response = try await execute(request)
            guard response.status == .ok else {
                let body = try? await response.body.collect(upTo: 1 << 20)
                var outcome = RequestOutcome(promptLength: prompt.promptLength, startTime: start)
                outcome.error = "HTTP \(response.status.code): " + (body.map { String(buffer: $0) } ?? "")
                return outcome
            }
            for try await buffer in response.body {
                try timer.receive(buffer.readableBytesView, at: origin.duration(to: .now) / .seconds(1))
            }
            return timer.finish()
        } catch {
            var outcome = RequestOutcome(promptLength: prompt.promptLength, startTime: start)
            outcome.error = "\(error)"
            return outcome
        }
    }

    /// Sends `prompt` once, before the measured run: a server that cannot answer it stops the benchmark with why.
    func probe(_ prompt: BenchmarkPrompt, model: String) async throws {
        let outcome = try await send(prompt, model: model, clock: .now)
        guard outcome.success else {
            throw BenchmarkError("the first test request to \(options.baseURL)\(options.endpoint.rawValue) failed: \(outcome.error)")
        }
    }

    /// Sends `request`, once more if the connection it went out on turns out closed before any answer (a server that
    /// closed an idle keep-alive connection as the client reused it: llama-server does): that request never arrived.
    private func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        do {
            return try await client.execute(request, timeout: .hours(6))
        } catch let error as HTTPClientError where error == .remoteConnectionClosed {
            return try await client.execute(request, timeout: .hours(6))
        } catch let error as ChannelError where error == .ioOnClosedChannel {
            return try await client.execute(request, timeout: .hours(6))
        }
    }

    /// The request body vLLM's client sends for this endpoint.
    func payload(_ prompt: BenchmarkPrompt, model: String) -> [String: Any] {
        var body: [String: Any] = ["model": model, "temperature": 0.0, "stream": true, "stream_options": ["include_usage": true]]
        switch options.endpoint {
        case .completions:
            body["prompt"] = prompt.history.joined() + prompt.text
            body["repetition_penalty"] = 1.0
            body["max_tokens"] = prompt.outputLength
        case .chatCompletions:
            let turns = prompt.history + [prompt.text]
            body["messages"] = turns.enumerated().map { index, text in
                ["role": index % 2 == 0 ? "user" : "assistant", "content": [["type": "text", "text": text]]]
            }
            body["max_completion_tokens"] = prompt.outputLength
        }
        if options.ignoreEOS { body["ignore_eos"] = true }
        if let extra = options.extraBody.flatMap({ try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }) {
            body.merge(extra) { $1 }
        }
        return body
    }

    /// `--model-name`, or the first model the server lists.
    func modelName() async throws -> String {
        if let name = options.modelName { return name }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(HTTPClientRequest(url: options.baseURL + "/v1/models"), timeout: .seconds(30))
        } catch {
            throw BenchmarkError("cannot reach \(options.baseURL) (\(error)); start the server first, e.g. `brigade serve`")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
              let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any],
              let models = object["data"] as? [[String: Any]], let id = models.first?["id"] as? String else {
            throw BenchmarkError("\(options.baseURL)/v1/models answered \(response.status.code) without a model; pass --model-name")
        }
        return id
    }
}

/// A counting semaphore for tasks (`--max-concurrency`).
actor Gate {
    private let limit: Int
    private var inside = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func enter() async {
        if inside < limit {
            inside += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty {
            inside -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
