import ArgumentParser
import ChatTemplates
import Engine
import Foundation
import Model

/// `brigade generate`: complete a prompt, a chat message, or a whole file of requests run together.
struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text for a prompt, a chat message, or a JSONL file of requests.",
        discussion: """
            --prompt is tokenized with special tokens recognised, so raw chat markup such as \
            "<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n" works; --chat wraps the message in the model's \
            chat template. --requests runs every line of a JSONL file together (continuous batching); each line is \
            {"prompt": "..."} or {"messages": [{"role": "user", "content": "..."}]} plus any sampling field \
            (max_tokens, temperature, top_k, top_p, min_p, seed, stop, logprobs, presence_penalty, frequency_penalty, \
            repetition_penalty, ignore_eos, min_tokens, stop_token_ids); it prints one JSON line per request, in input order.
            """
    )

    @Option(help: "Text to complete (special tokens such as <|im_start|> are recognised).") var prompt: String?
    @Option(help: "A user message, wrapped in the model's chat template.") var chat: String?
    @Option(help: ArgumentHelp("A JSONL file of requests to run together.", valueName: "file.jsonl")) var requests: String?
    @Option(help: "A system message for --chat.") var system: String?
    @Flag(help: "Print one JSON object per request: prompt_token_ids, token_ids, text, finish_reason, logprobs, usage.")
    var json = false
    @Flag(help: "Print engine statistics to standard error at the end.") var stats = false
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Sampling") var sampling: SamplingOptions
    @OptionGroup(title: "Engine") var engine: EngineOptionGroup

    func validate() throws {
        let inputs = [prompt != nil, chat != nil, requests != nil].filter { $0 }.count
        guard inputs == 1 else { throw ValidationError("give exactly one of --prompt, --chat or --requests") }
        if system != nil && chat == nil { throw ValidationError("--system goes with --chat") }
    }

    func run() async throws {
        let lines: [RequestLine]
        if let requests {
            lines = try RequestLine.read(requests, defaults: sampling)
        } else {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: .string(system))) }
            let input: RequestLine.Input = chat.map { .messages(messages + [ChatMessage(role: "user", content: .string($0))]) } ?? .prompt(prompt!)
            lines = [RequestLine(input: input, sampling: sampling.parameters, maxTokens: sampling.maxTokens, minTokens: sampling.minTokens,
                                 stop: sampling.stop, stopTokenIDs: [], ignoreEOS: sampling.ignoreEos)]
        }
        guard let session = try Session(model: model, engine: engine) else { return }  // an MPI worker rank
        defer { session.close() }
        let prepared = try lines.enumerated().map { index, line in try session.request(line, id: "request-\(index)") }
        let streaming = requests == nil && !json
        let results = try await withThrowingTaskGroup(of: (Int, GenerationResult).self) { group in
            for (index, request) in prepared.enumerated() {
                let stream = try session.engine.submit(request)
                group.addTask {
                    var result = GenerationResult(requestID: request.id)
                    for try await output in stream {
                        result.append(output)
                        if streaming { FileHandle.standardOutput.write(Data(output.textDelta.utf8)) }
                    }
                    return (index, result)
                }
            }
            var results = [GenerationResult?](repeating: nil, count: prepared.count)
            for try await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
        if streaming {
            print("")
        } else {
            for (request, result) in zip(prepared, results) {
                print(generationJSON(prompt: request.promptTokenIDs, result: result, withLogprobs: request.sampling.logprobs != nil))
            }
        }
        if stats {
            let s = session.engine.statistics
            let summary = String(format: "micro-batches %d, prompt tokens %d (%d from the prefix cache), generated tokens %d, preemptions %d\n",
                                 s.steps, s.promptTokens, s.prefixCacheHits, s.generatedTokens, s.preemptions)
            FileHandle.standardError.write(Data((summary + StageTable(session.engine.stageStatistics).text + memoryLine(session, modelFile: model.isSynthetic ? nil : model.resolvedPath)).utf8))
        }
    }
}

/// A loaded model with a running engine, and the text-to-request conversion both `generate` and `chat` use.
struct Session {
    let model: LoadedModel
    let engine: InferenceEngine
    let engineOptions: EngineOptionGroup
    let termination: SignalHandler?

    /// Nil on the ranks of an MPI launch other than 0, once their share of the pipeline has ended.
    /// - Parameter handlesSIGTERM: turn SIGTERM into a clean shutdown (the server has its own signal handling).
    init?(model options: ModelOptions, engine engineOptions: EngineOptionGroup, handlesSIGTERM: Bool = true) throws {
        model = try engineOptions.loadOnEveryRank { try options.loadModel() }
        self.engineOptions = engineOptions
        guard let engine = try engineOptions.startEngine(model.pipeline, options: try engineOptions.options) else {
            engineOptions.finishTransport()
            return nil
        }
        self.engine = engine
        termination = handlesSIGTERM ? .terminating(engine) : nil
    }

    /// Stops the engine (and every rank) and the transport.
    func close() {
        engine.shutdown(drain: false)
        engineOptions.saveTrace(engine.options.trace)
        engineOptions.finishTransport()
    }

    func request(_ line: RequestLine, id: String) throws -> GenerationRequest {
        let ids: [Int32]
        switch line.input {
        case .prompt(let prompt): ids = model.encode(prompt)
        case .tokens(let tokens): ids = tokens
        case .messages(let messages): ids = model.encode(try model.renderChat(messages, []))
        }
        var request = GenerationRequest(id: id, promptTokenIDs: ids, sampling: line.sampling, maxTokens: line.maxTokens,
                                        minTokens: line.minTokens, stopTokenIDs: line.stopTokenIDs, stopStrings: line.stop,
                                        ignoreEOS: line.ignoreEOS)
        request.grammar = line.grammar
        request.maxTokens = min(request.maxTokens, max(1, engine.contextLength - ids.count))
        do {
            try engine.validate(request)
        } catch {
            throw CLIError("\(id): \(error)")
        }
        return request
    }
}

/// `memory: peak resident …` for `--stats`: the process's high-water mark (VmHWM) next to the model file and the KV
/// cache it reserved, the figures resident memory is held to (≤ 1.5 × the file + KV).
func memoryLine(_ session: Session, modelFile path: String?) -> String {
    let engine = session.engine
    let layout = engine.kvLayout
    let fileBytes = path.flatMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int } ?? 0
    let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
    let windowed = layout.window == nil ? ""
        : " for \(layout.capacityTokens) tokens (\(mib(layout.windowBytes)) of it for the sliding-window layers' windows)"
    return "memory: peak resident \(ProcessMemory.peakResidentBytes.map(mib) ?? "unknown"), model file \(mib(fileBytes)), "
        + "KV cache reserved \(mib(layout.bytes))\(windowed)\n"
}

/// This process's memory use as Linux reports it in `/proc/self/status`.
enum ProcessMemory {
    /// VmHWM: the most resident memory the process has had.
    static var peakResidentBytes: Int? { field("VmHWM:") }

    static func field(_ name: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
              let kib = Int(line.dropFirst(name.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        else { return nil }
        return kib * 1024
    }
}
