import ArgumentParser
import Foundation
import Kernels
import Model

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy evaluations.",
        subcommands: [EvalDivergence.self]
    )
}

/// `brigade eval divergence`: how far the fast precision's next-token distributions are from the exact one's.
struct EvalDivergence: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "divergence",
        abstract: "Compare the int precision's next-token distributions with f32's (KL divergence, top-1 agreement).",
        discussion: """
            Like llama-perplexity --kl-divergence: the text is tokenized and cut into sequences of \
            --sequence-tokens tokens; both precisions read every sequence token by token (teacher forcing), and each \
            position's KL(f32 ‖ int) and top-1 match are reported (mean, 99th percentile, max). Without --text, a \
            built-in English sample is used.
            """
    )

    @OptionGroup var model: ModelOptions
    @Option(help: ArgumentHelp("A UTF-8 text file to evaluate on.", valueName: "file")) var text: String?
    @Option(help: "Tokens per sequence.") var sequenceTokens = 128
    @Option(help: "Sequences to evaluate at most.") var sequences = 8
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    static let sample = """
        The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined movable \
        metal type, oil-based ink and a wooden screw press into a system that could produce books quickly and \
        cheaply. Within fifty years, presses operated in more than two hundred cities across Europe. Scholars \
        could share identical copies of texts, which made it easier to compare, correct and build upon each \
        other's work. def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    \
        return a\n\nThe recipe calls for two cups of flour, one teaspoon of baking soda, a pinch of salt and three \
        ripe bananas. Preheat the oven to 180 degrees, mix the dry ingredients, mash the bananas with melted \
        butter and sugar, then fold everything together and bake for about an hour. Rivers shape the land over \
        millions of years: they carve valleys, carry sediment to the sea and build deltas where they slow down. \
        The weather today is sunny with a light breeze from the west, and temperatures will reach twenty degrees \
        in the afternoon before clouds arrive in the evening.
        """

    func validate() throws {
        try model.rejectPrecision("eval divergence")
        guard sequenceTokens >= 2, sequenceTokens <= 4096 else { throw ValidationError("--sequence-tokens must be between 2 and 4096") }
        guard sequences >= 1 else { throw ValidationError("--sequences must be at least 1") }
    }

    func run() throws {
        let loaded = try model.loadTextModel()
        let source: String
        if let text {
            guard let contents = try? String(contentsOfFile: text, encoding: .utf8) else {
                throw CLIError("cannot read \(text) as UTF-8 text")
            }
            source = contents
        } else {
            source = Self.sample
        }
        let ids = loaded.encode(source, parseSpecial: false)
        let cut = stride(from: 0, to: ids.count, by: sequenceTokens).prefix(sequences).map {
            Array(ids[$0..<min($0 + sequenceTokens, ids.count)])
        }.filter { $0.count >= 2 }
        guard !cut.isEmpty else { throw CLIError("the text has \(ids.count) tokens: too short to evaluate (need at least 2)") }
        let weights = loaded.weights
        guard weights.store.tensors.values.contains(where: { PackedMatrix.canPack($0.type) && $0.rows > 1 }) else {
            throw CLIError("\(model.resolvedPath) has no Q4_0, Q4_1 or Q8_0 matrices: both precisions multiply in f32, "
                + "so there is nothing to compare")
        }
        let report = try DivergenceReport.measure(reference: try weights.stage(precision: .f32),
                                                  candidate: try weights.stage(precision: .integer), sequences: cut)
        if json {
            let object: [String: Any] = ["model": model.resolvedPath, "reference": "f32", "candidate": "int",
                                         "positions": report.positions, "mean_kl": report.meanKL, "p99_kl": report.p99KL,
                                         "max_kl": report.maxKL, "top1_agreement": report.top1Agreement]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("int against f32 on \(model.resolvedPath): \(report.positions) positions in \(cut.count) sequences")
            print(String(format: "KL divergence: mean %.5f, p99 %.5f, max %.5f; top-1 agreement %.2f %%",
                         report.meanKL, report.p99KL, report.maxKL, 100 * report.top1Agreement))
        }
    }
}
