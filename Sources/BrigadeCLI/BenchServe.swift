import ArgumentParser
import Engine
import Foundation
import Model
import ServingBenchmark

/// `brigade bench serve`: `vllm bench serve` against a running OpenAI-compatible server.
struct BenchServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Benchmark a running server as `vllm bench serve` does (same options, metrics and result keys).",
        discussion: """
            Sends --num-prompts streaming requests from vLLM's `random` dataset (prompts of exact token lengths, built \
            with the tokenizer of --model), its `prefix_repetition` dataset (shared prefixes), or `multi_turn` \
            conversations (--num-prompts conversations of --multi-turn-turns turns, each turn's prompt the history so \
            far, with the mean TTFT of every turn) at --request-rate (Gamma-distributed gaps, --burstiness 1 = Poisson), at \
            most --max-concurrency at once, and reports request / token throughput and TTFT, TPOT, ITL and E2EL \
            statistics with vLLM's definitions. Start the server first: `brigade serve`.
            """
    )

    @Option(help: "The server's base URL.") var url = "http://127.0.0.1:8000"
    @Option(help: "The model name to send (default: the first one the server lists).") var modelName: String?
    @Option(help: "Requests per second, or inf to send them all at once.") var requestRate = "inf"
    @Option(help: "At most this many requests in flight.") var maxConcurrency: Int?
    @OptionGroup(title: "Workload") var workload: WorkloadOptions
    @Option(parsing: .upToNextOption, help: "Service-level objectives for goodput, e.g. --goodput ttft:200 tpot:50 (milliseconds).")
    var goodput: [String] = []
    @Option(help: "Comma-separated metrics to summarise: ttft, tpot, itl, e2el.") var percentileMetrics = "ttft,tpot,itl"
    @Option(help: "Comma-separated percentiles to report, e.g. 50,90,99.") var metricPercentiles = "99"
    @Flag(help: "Save the result as JSON (vLLM's keys).") var saveResult = false
    @Option(help: "Directory for --save-result (default: the current one).") var resultDir: String?
    @Option(help: "File name for --save-result (default: backend-rate-concurrency-model-date.json).") var resultFilename: String?
    @Flag(help: "No progress bar.") var disableTqdm = false
    @OptionGroup(title: "Tokenizer (the served model's)") var model: ModelOptions

    func run() async throws {
        let options = try workload.benchmarkOptions(url: url, requestRate: requestRate, maxConcurrency: maxConcurrency,
                                                    modelName: modelName)
        let metrics = try percentileMetrics.split(separator: ",").map { name in
            guard let metric = BenchmarkMetrics.Metric(rawValue: String(name)) else {
                throw ValidationError("--percentile-metrics: \"\(name)\" is not one of ttft, tpot, itl, e2el")
            }
            return metric
        }
        let percentiles = try metricPercentiles.split(separator: ",").map { text in
            guard let value = Double(text), (0...100).contains(value) else {
                throw ValidationError("--metric-percentiles: \"\(text)\" is not a number in 0...100")
            }
            return value
        }
        let goodput = try Goodput(parsing: goodput)
        let tokenizer = try model.promptTokenizer()
        let result = try await workload.run(tokenizer: tokenizer, options: options, progress: !disableTqdm)
        let report = BenchmarkReport(run: result, options: options, selected: metrics, percentiles: percentiles, goodput: goodput) {
            tokenizer.encode($0).count
        }
        print(report.table, terminator: "")
        if let failure = result.outcomes.first(where: { !$0.success }) {
            FileHandle.standardError.write(Data("first failed request: \(failure.error)\n".utf8))
        }
        if saveResult {
            let rate = options.requestRate.isFinite ? String(format: "%g", options.requestRate) : "inf"
            let name = resultFilename ?? "openai-\(rate)qps-concurrency\(maxConcurrency.map(String.init) ?? "None")-"
                + "\(result.modelName.replacingOccurrences(of: "/", with: "_"))-\(report.json["date"] as? String ?? "").json"
            let path = resultDir.map { ($0 as NSString).appendingPathComponent(name) } ?? name
            let data = try JSONSerialization.data(withJSONObject: report.json, options: [.sortedKeys])
            do {
                try data.write(to: URL(fileURLWithPath: path))
            } catch {
                throw CLIError("cannot write the result to \(path): \(error.localizedDescription)")
            }
            print("result saved to \(path)")
        }
    }
}

/// The requests a serving benchmark sends (vLLM's random dataset) and how: shared by `bench serve` and `bench sweep`.
struct WorkloadOptions: ParsableArguments {
    enum EndpointChoice: String, ExpressibleByArgument, CaseIterable {
        case completions, chat
    }

    enum DatasetChoice: String, ExpressibleByArgument, CaseIterable {
        case random
        case prefixRepetition = "prefix_repetition"
        case multiTurn = "multi_turn"
    }

    @Option(help: "The API to drive: completions (/v1/completions) or chat (/v1/chat/completions).") var endpoint = EndpointChoice.completions
    @Option(help: "Number of requests.") var numPrompts = 1000
    @Option(help: "Gamma shape of the gaps between requests: 1 is a Poisson process, larger is more even.") var burstiness = 1.0
    @Option(help: "Seed of the prompts and arrival times.") var seed: UInt64 = 0
    @Option(help: "Prompt tokens per request.") var randomInputLen = 1024
    @Option(help: "Tokens to generate per request.") var randomOutputLen = 128
    @Option(help: "Lengths are drawn uniformly from [len·(1−r), len·(1+r)].") var randomRangeRatio = 0.0
    @Option(help: "The requests: random (vLLM's), prefix_repetition (vLLM's: shared prefixes) or multi_turn (conversations; the first message is --random-input-len tokens, each reply --random-output-len).")
    var datasetName = DatasetChoice.random
    @Option(help: "prefix_repetition: tokens of each shared prefix.") var prefixRepetitionPrefixLen = 256
    @Option(help: "prefix_repetition: tokens of each request's own suffix.") var prefixRepetitionSuffixLen = 256
    @Option(help: "prefix_repetition: number of distinct prefixes.") var prefixRepetitionNumPrefixes = 10
    @Option(help: "prefix_repetition: tokens to generate per request.") var prefixRepetitionOutputLen = 128
    @Option(help: "multi_turn: turns per conversation.") var multiTurnTurns = 10
    @Option(help: "multi_turn: tokens of every user message after the first.") var multiTurnUserLen = 64
    @Flag(help: "Ask the server to ignore end-of-sequence tokens, so every request generates its full length.") var ignoreEos = false
    @Option(help: "Requests sent (and not measured) before the run.") var numWarmups = 0
    @Option(help: "A JSON object merged into every request body, e.g. '{\"response_format\": {\"type\": \"json_object\"}}'.")
    var extraBody: String?

    func validate() throws {
        guard numPrompts >= 1 else { throw ValidationError("--num-prompts must be at least 1") }
        switch datasetName {
        case .random: _ = try RandomDataset(inputLength: randomInputLen, outputLength: randomOutputLen, rangeRatio: randomRangeRatio)
        case .prefixRepetition: _ = try prefixRepetition
        case .multiTurn: _ = try multiTurn
        }
    }

    var prefixRepetition: PrefixRepetitionDataset {
        get throws {
            try PrefixRepetitionDataset(prefixLength: prefixRepetitionPrefixLen, suffixLength: prefixRepetitionSuffixLen,
                                        prefixCount: prefixRepetitionNumPrefixes, outputLength: prefixRepetitionOutputLen)
        }
    }

    var multiTurn: MultiTurnDataset {
        get throws {
            try MultiTurnDataset(conversations: numPrompts, turns: multiTurnTurns, openingLength: randomInputLen,
                                 userLength: multiTurnUserLen, outputLength: randomOutputLen)
        }
    }

    func benchmarkOptions(url: String, requestRate: String, maxConcurrency: Int?, modelName: String? = nil) throws -> ServeBenchmarkOptions {
        var options = ServeBenchmarkOptions(baseURL: url)
        options.endpoint = endpoint == .chat ? .chatCompletions : .completions
        options.modelName = modelName
        guard let rate = requestRate == "inf" ? Double.infinity : Double(requestRate), rate > 0 else {
            throw ValidationError("--request-rate must be a positive number or inf, got \"\(requestRate)\"")
        }
        options.requestRate = rate
        options.burstiness = burstiness
        options.maxConcurrency = maxConcurrency
        options.seed = seed
        options.ignoreEOS = ignoreEos
        if let extraBody {
            guard (try? JSONSerialization.jsonObject(with: Data(extraBody.utf8))) is [String: Any] else {
                throw ValidationError("--extra-body must be a JSON object, got \(extraBody)")
            }
        }
        options.extraBody = extraBody
        options.warmups = numWarmups
        try options.validate()
        return options
    }

    /// The requests of an open-loop dataset (random, prefix_repetition); multi_turn builds its prompts as it runs.
    func prompts(tokenizer: PromptTokenizer) throws -> [BenchmarkPrompt] {
        var generator = ServingBenchmark.SeededGenerator(seed: seed)
        switch datasetName {
        case .random:
            let dataset = try RandomDataset(inputLength: randomInputLen, outputLength: randomOutputLen, rangeRatio: randomRangeRatio)
            return try dataset.prompts(count: numPrompts, tokenizer: tokenizer, generator: &generator)
        case .prefixRepetition:
            return try prefixRepetition.prompts(count: numPrompts, tokenizer: tokenizer, generator: &generator)
        case .multiTurn:
            throw ValidationError("--dataset-name multi_turn is not an open-loop workload here: use `brigade bench serve`")
        }
    }

    /// Builds the dataset and runs it.
    func run(tokenizer: PromptTokenizer, options: ServeBenchmarkOptions, progress: Bool) async throws -> ServeBenchmarkRun {
        guard datasetName == .multiTurn else { return try await run(try prompts(tokenizer: tokenizer), options: options, progress: progress) }
        var generator = ServingBenchmark.SeededGenerator(seed: seed)
        let conversations = try multiTurn.messages(tokenizer: tokenizer, generator: &generator)
        let encode = tokenizer.encode
        return try await withBenchmark(options: options, connections: conversations.count, requests: conversations.count * multiTurnTurns,
                                       progress: progress) { benchmark, update in
            try await benchmark.runConversations(conversations, countTokens: { encode($0).count }, progress: update)
        }
    }

    /// Runs the benchmark (a progress bar on a terminal's standard error).
    func run(_ prompts: [BenchmarkPrompt], options: ServeBenchmarkOptions, progress: Bool) async throws -> ServeBenchmarkRun {
        try await withBenchmark(options: options, connections: prompts.count, requests: prompts.count, progress: progress) { benchmark, update in
            try await benchmark.run(prompts, progress: update)
        }
    }

    /// Runs `body` on a client for `options` (at most `connections` at once unless --max-concurrency says fewer), with
    /// a progress bar of `requests` on a terminal's standard error, and shuts the client down however `body` ends.
    private func withBenchmark(options: ServeBenchmarkOptions, connections: Int, requests: Int, progress: Bool,
                               _ body: (ServeBenchmark, @escaping @Sendable (Int) -> Void) async throws -> ServeBenchmarkRun)
        async throws -> ServeBenchmarkRun
    {
        let benchmark = ServeBenchmark(options: options, connections: options.maxConcurrency ?? connections)
        let bar = ProgressBar(total: requests, enabled: progress && isatty(STDERR_FILENO) != 0)
        defer { bar.finish() }
        do {
            let result = try await body(benchmark) { bar.update($0) }
            try await benchmark.shutdown()
            return result
        } catch {
            try? await benchmark.shutdown()
            throw error
        }
    }
}

extension ModelOptions {
    /// The served model's tokenizer (ordinary tokens only), so prompt lengths are exact in the server's tokens. A
    /// synthetic model's tokens are bytes: its prompts are lowercase letters.
    func promptTokenizer() throws -> PromptTokenizer {
        if isSynthetic {
            let spec = try SyntheticSpec(parsing: resolvedPath)
            let synthetic = SyntheticModel(spec: spec)
            return PromptTokenizer(encode: { synthetic.encode($0) },
                                   decode: { String(decoding: $0.map { UInt8(clamping: $0) }, as: UTF8.self) },
                                   candidates: (97...122).map { Int32($0) }.filter { Int($0) < spec.vocabSize - 1 })
        }
        let text = try loadTextModel()
        let tokenizer = text.tokenizer
        return PromptTokenizer(encode: { text.encode($0) }, decode: { (try? tokenizer.decode($0)) ?? "" },
                               candidates: (0..<Int32(tokenizer.vocabularySize)).filter { !tokenizer.isSpecial($0) })
    }
}

/// `[#####     ] 120/1000` on standard error, redrawn in place (only on a terminal).
final class ProgressBar: Sendable {
    let total: Int
    let enabled: Bool

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let filled = total == 0 ? 40 : done * 40 / total
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: 40 - filled) + "] \(done)/\(total)"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
