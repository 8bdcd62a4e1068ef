import ArgumentParser
import Dispatch
import Foundation
import Kernels
import Model

/// `brigade bench model`: prefill and decode speed of the model itself, like `llama-bench` and `llama-batched-bench`.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Measure prefill and decode tokens/s of the model (no scheduler, no sampling).",
        discussion: """
            Runs, for each thread count: a prefill of --prompt-tokens tokens (pp512), --decode-tokens single-sequence \
            decode steps (tg128), and for each --concurrency N, N sequences decoding together (aggregate tokens/s). \
            Every figure is the best of --repetitions runs. The defaults mirror llama-bench (-p 512 -n 128) and \
            llama-batched-bench (-npp 8 -ntg 32 -npl 1,4,16,32,64), so the figures compare one to one.
            """
    )

    @OptionGroup var model: ModelOptions
    @Option(help: "Prompt length of the prefill test.") var promptTokens = 512
    @Option(help: "Decode steps of the single-sequence decode test.") var decodeTokens = 128
    @Option(help: "Comma-separated thread counts to measure.") var threadCounts = "1,2"
    @Option(help: "Comma-separated numbers of sequences decoding together (batched decode test); empty skips it.")
    var concurrency = "1,4,16,32,64"
    @Option(help: "Decode steps per sequence in the batched decode test (llama-batched-bench's -ntg).") var batchedSteps = 32
    @Option(help: "Runs per figure; the best is reported.") var repetitions = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let weights = try model.loadWeights()
        let config = weights.config
        let stage = try weights.stage()
        let threads = try parseList(threadCounts, name: "--thread-counts")
        let batches = concurrency.isEmpty ? [] : try parseList(concurrency, name: "--concurrency")
        guard promptTokens >= 1, decodeTokens >= 1, promptTokens + decodeTokens < config.contextLength else {
            throw ValidationError("--prompt-tokens + --decode-tokens must be between 2 and the context length \(config.contextLength)")
        }
        var rows: [[String: Any]] = []
        for threadCount in threads {
            KernelThreads.configure(threadCount)
            let prefill = best { time(stage, config, sequences: 1, prompt: promptTokens, steps: 0).prefill }
            let decode = best { time(stage, config, sequences: 1, prompt: 8, steps: decodeTokens).decode }
            rows.append(["threads": threadCount, "test": "pp\(promptTokens)", "tokens_per_second": Double(promptTokens) / prefill])
            rows.append(["threads": threadCount, "test": "tg\(decodeTokens)", "tokens_per_second": Double(decodeTokens) / decode])
            for n in batches {
                let seconds = best { time(stage, config, sequences: n, prompt: 8, steps: batchedSteps).decode }
                rows.append(["threads": threadCount, "test": "batched decode x\(n)", "tokens_per_second": Double(n * batchedSteps) / seconds])
            }
        }
        KernelThreads.configure(model.threads ?? KernelThreads.cores)
        if json {
            let object: [String: Any] = ["model": model.resolvedPath, "config": config.description, "results": rows]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("model: \(model.resolvedPath)\n\(config)\n")
            print("threads  test                      tokens/s")
            for row in rows {
                let test = (row["test"] as! String).padding(toLength: 24, withPad: " ", startingAt: 0)
                print(String(format: "%7d  %@  %8.1f", row["threads"] as! Int, test, row["tokens_per_second"] as! Double))
            }
        }
    }

    func best(_ measure: () -> Double) -> Double {
        (0..<max(1, repetitions)).map { _ in measure() }.min()!
    }

    /// Prefills `sequences` prompts of `prompt` tokens in one batch, then runs `steps` decode steps of all of them.
    func time(_ stage: DecoderStage, _ config: ModelConfig, sequences: Int, prompt: Int, steps: Int) -> (prefill: Double, decode: Double) {
        let blockSize = 16
        let perSequence = (prompt + steps + blockSize) / blockSize
        let cache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: blockSize, blockCount: sequences * perSequence,
                                 kvDim: config.kvDim)
        let tables = (0..<sequences).map { s in (0..<perSequence).map { Int32(s * perSequence + $0) } }
        let token = { (s: Int, i: Int) in Int32((s * 7919 + i * 104_729) % (config.vocabSize - 256) + 256) }
        let chunks = (0..<sequences).map { SequenceChunk(startPosition: 0, tokenCount: prompt, blockTable: tables[$0], wantsLogits: true) }
        let tokens = (0..<sequences).flatMap { s in (0..<prompt).map { token(s, $0) } }
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try? stage.forward(batch: chunks, tokens: tokens, cache: cache)
        let prefilled = DispatchTime.now().uptimeNanoseconds
        for step in 0..<steps {
            let decode = (0..<sequences).map {
                SequenceChunk(startPosition: prompt + step, tokenCount: 1, blockTable: tables[$0], wantsLogits: true)
            }
            _ = try? stage.forward(batch: decode, tokens: (0..<sequences).map { token($0, prompt + step) }, cache: cache)
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return (Double(prefilled - start) / 1e9, Double(end - prefilled) / 1e9)
    }
}

func parseList(_ text: String, name: String) throws -> [Int] {
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
        throw ValidationError("\(name) takes comma-separated positive integers, e.g. 1,2; got \"\(text)\"")
    }
    return values.map { $0! }
}
