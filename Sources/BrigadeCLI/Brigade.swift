import ArgumentParser

@main
struct Brigade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brigade",
        abstract: "An LLM inference engine for Llama-family models on CPUs.",
        discussion: """
            Brigade runs GGUF (F32, F16, BF16, Q8_0, Q4_0, Q4_1) and Hugging Face safetensors checkpoints. \
            Without --model it uses SmolLM2-135M-Instruct from ~/.cache/brigade/models (fetch it with scripts/fetch-model).
            """,
        subcommands: [Serve.self, Generate.self, Chat.self, Bench.self, Eval.self, Plan.self, Trace.self]
    )
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks.",
        subcommands: [BenchServe.self, BenchSweep.self, BenchModel.self, BenchKernels.self, BenchPipeline.self, BenchGrammar.self]
    )
}
