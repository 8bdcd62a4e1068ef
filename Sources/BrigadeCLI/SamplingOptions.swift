import ArgumentParser
import Engine
import Model

/// Sampling flags shared by `generate` and `chat`; each can be overridden per request in a `--requests` file.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Maximum number of tokens to generate.") var maxTokens = 256
    @Option(help: "Sampling temperature; 0 is greedy (always the most likely token).") var temperature: Float = 0.7
    @Option(help: "Sample only among the K most likely tokens (0 = no limit).") var topK = 0
    @Option(help: "Sample only among the most likely tokens whose probabilities add up to P (1 = no limit).") var topP: Float = 1
    @Option(help: "Drop tokens less likely than P times the most likely one (0 = off).") var minP: Float = 0
    @Option(help: "Penalize tokens already in the prompt or output (> 1 discourages repeats; 1 = off).") var repetitionPenalty: Float = 1
    @Option(help: "Subtract this from the logit of every token already generated (-2…2).") var presencePenalty: Float = 0
    @Option(help: "Subtract this per previous occurrence from a generated token's logit (-2…2).") var frequencyPenalty: Float = 0
    @Option(help: "Random seed: the same seed and inputs give the same output.") var seed: UInt64?
    @Option(help: "Stop when this text is generated (repeatable); the output never includes it.") var stop: [String] = []
    @Option(help: "Report log-probabilities of each generated token and its K most likely alternatives (0…20).") var logprobs: Int?
    @Option(help: "Do not stop before this many tokens were generated.") var minTokens = 0
    @Flag(help: "Keep generating past end-of-sequence tokens (until --max-tokens).") var ignoreEos = false

    var parameters: SamplingParameters {
        SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repetitionPenalty,
                           presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty, seed: seed, logprobs: logprobs)
    }

    func validate() throws {
        do { try parameters.validate() } catch { throw ValidationError("--\(error.parameter.replacingOccurrences(of: "_", with: "-")): \(error.message)") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1, got \(maxTokens)") }
        guard minTokens >= 0 else { throw ValidationError("--min-tokens must be at least 0, got \(minTokens)") }
    }
}
