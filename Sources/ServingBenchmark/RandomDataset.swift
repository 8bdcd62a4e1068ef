import Foundation

/// One request of a benchmark: the prompt text, its exact token count, and the tokens to ask for.
public struct BenchmarkPrompt: Sendable, Equatable {
    public var text: String
    public var promptLength: Int
    public var outputLength: Int

    public init(text: String, promptLength: Int, outputLength: Int) {
        self.text = text
        self.promptLength = promptLength
        self.outputLength = outputLength
    }
}

/// The server's tokenizer, as far as building prompts needs it.
public struct PromptTokenizer: Sendable {
    public let encode: @Sendable (String) -> [Int32]
    public let decode: @Sendable ([Int32]) -> String
    /// Token ids prompts are drawn from (no special tokens).
    public let candidates: [Int32]

    public init(encode: @escaping @Sendable (String) -> [Int32], decode: @escaping @Sendable ([Int32]) -> String,
                candidates: [Int32]) {
        self.encode = encode
        self.decode = decode
        self.candidates = candidates
    }
}

/// vLLM's `random` dataset: input and output lengths uniform in `[⌊len·(1−r)⌋, ⌈len·(1+r)⌉]`, each prompt a run of
/// consecutive token ids from a random offset, decoded to text and then re-encoded, trimmed or topped up (at most 10
/// rounds) until the text is exactly its length in the server's tokens.
public struct RandomDataset: Sendable {
    public var inputLength: Int
    public var outputLength: Int
    public var rangeRatio: Double

    public init(inputLength: Int, outputLength: Int, rangeRatio: Double) throws(BenchmarkError) {
        guard inputLength >= 1 else { throw BenchmarkError("--random-input-len must be at least 1, got \(inputLength)") }
        guard outputLength >= 1 else { throw BenchmarkError("--random-output-len must be at least 1, got \(outputLength)") }
        guard rangeRatio >= 0 && rangeRatio < 1 else {
            throw BenchmarkError("--random-range-ratio must be in [0, 1), got \(rangeRatio)")
        }
        self.inputLength = inputLength
        self.outputLength = outputLength
        self.rangeRatio = rangeRatio
    }

    /// The bounds lengths are drawn from (inclusive).
    public static func bounds(_ length: Int, ratio: Double) -> ClosedRange<Int> {
        let low = max(1, Int((Double(length) * (1 - ratio)).rounded(.down)))
        return low...max(low, Int((Double(length) * (1 + ratio)).rounded(.up)))
    }

    public func prompts(count: Int, tokenizer: PromptTokenizer, generator: inout SeededGenerator) throws(BenchmarkError) -> [BenchmarkPrompt] {
        guard !tokenizer.candidates.isEmpty else { throw BenchmarkError("the tokenizer has no ordinary tokens to build prompts from") }
        let inputs = Self.bounds(inputLength, ratio: rangeRatio), outputs = Self.bounds(outputLength, ratio: rangeRatio)
        let vocabulary = tokenizer.candidates.count
        return (0..<count).map { index in
            let length = Int.random(in: inputs, using: &generator)
            let offset = Int.random(in: 0..<vocabulary, using: &generator)
            var ids = (0..<length).map { tokenizer.candidates[(offset + index + $0) % vocabulary] }
            var text = tokenizer.decode(ids)
            for _ in 0..<10 {
                ids = tokenizer.encode(text)
                if ids.count == length { break }
                if ids.count > length {
                    ids.removeLast(ids.count - length)
                } else {
                    ids += (ids.count..<length).map { _ in tokenizer.candidates[Int.random(in: 0..<vocabulary, using: &generator)] }
                }
                text = tokenizer.decode(ids)
            }
            return BenchmarkPrompt(text: text, promptLength: tokenizer.encode(text).count,
                                   outputLength: Int.random(in: outputs, using: &generator))
        }
    }
}
