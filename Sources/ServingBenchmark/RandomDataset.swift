import Foundation

/// One request of a benchmark: the prompt text, its exact token count, and the tokens to ask for.
public struct BenchmarkPrompt: Sendable, Equatable {
    public var text: String
    public var promptLength: Int
    public var outputLength: Int
    /// Earlier turns of a conversation, user and assistant alternating, that come before `text` (the new user
    /// message): the chat endpoint sends them as messages, the completions endpoint as the prompt's beginning.
    public var history: [String] = []

    public init(text: String, promptLength: Int, outputLength: Int, history: [String] = []) {
        self.text = text
        self.promptLength = promptLength
        self.outputLength = outputLength
        self.history = history
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
        return (0..<count).map { index in
            let length = Int.random(in: inputs, using: &generator)
            let text = tokenizer.text(ofLength: length, index: index, generator: &generator)
            return BenchmarkPrompt(text: text, promptLength: tokenizer.encode(text).count,
                                   outputLength: Int.random(in: outputs, using: &generator))
        }
    }
}

extension PromptTokenizer {
    /// vLLM's random text: a run of consecutive token ids from a random offset (shifted by `index`), decoded and
    /// re-encoded, trimmed or topped up (at most 10 rounds) until it is `length` tokens.
    func text(ofLength length: Int, index: Int, generator: inout SeededGenerator) -> String {
        let vocabulary = candidates.count
        let offset = Int.random(in: 0..<vocabulary, using: &generator)
        var ids = (0..<length).map { candidates[(offset + index + $0) % vocabulary] }
        var text = decode(ids)
        for _ in 0..<10 {
            ids = encode(text)
            if ids.count == length { break }
            if ids.count > length {
                ids.removeLast(ids.count - length)
            } else {
                ids += (ids.count..<length).map { _ in candidates[Int.random(in: 0..<vocabulary, using: &generator)] }
            }
            text = decode(ids)
        }
        return text
    }
}

/// vLLM's `prefix_repetition` dataset: `prefixCount` random prefixes of `prefixLength` tokens, each shared by an equal
/// share of the requests, each request adding its own random suffix of `suffixLength` tokens; shuffled.
public struct PrefixRepetitionDataset: Sendable {
    public var prefixLength: Int
    public var suffixLength: Int
    public var prefixCount: Int
    public var outputLength: Int

    public init(prefixLength: Int, suffixLength: Int, prefixCount: Int, outputLength: Int) throws(BenchmarkError) {
        guard prefixLength >= 0, suffixLength >= 0, prefixLength + suffixLength >= 1 else {
            throw BenchmarkError("--prefix-repetition-prefix-len and --prefix-repetition-suffix-len must be 0 or more, "
                                 + "and not both 0")
        }
        guard prefixCount >= 1 else { throw BenchmarkError("--prefix-repetition-num-prefixes must be at least 1, got \(prefixCount)") }
        guard outputLength >= 1 else { throw BenchmarkError("--prefix-repetition-output-len must be at least 1, got \(outputLength)") }
        self.prefixLength = prefixLength
        self.suffixLength = suffixLength
        self.prefixCount = prefixCount
        self.outputLength = outputLength
    }

    public func prompts(count: Int, tokenizer: PromptTokenizer, generator: inout SeededGenerator) throws(BenchmarkError) -> [BenchmarkPrompt] {
        guard !tokenizer.candidates.isEmpty else { throw BenchmarkError("the tokenizer has no ordinary tokens to build prompts from") }
        let prefixes = (0..<prefixCount).map { tokenizer.text(ofLength: prefixLength, index: $0, generator: &generator) }
        var prompts = (0..<count).map { index in
            let text = prefixes[index % prefixCount] + tokenizer.text(ofLength: suffixLength, index: index, generator: &generator)
            return BenchmarkPrompt(text: text, promptLength: tokenizer.encode(text).count, outputLength: outputLength)
        }
        prompts.shuffle(using: &generator)
        return prompts
    }
}

/// Multi-turn chats: `conversations` conversations of `turns` turns; the first user message is `openingLength`
/// tokens, every later one `userLength`, and each turn asks for `outputLength` tokens. Each turn's prompt is the
/// whole conversation so far (`ServeBenchmark.runConversations` adds the assistant's replies).
public struct MultiTurnDataset: Sendable {
    public var conversations: Int
    public var turns: Int
    public var openingLength: Int
    public var userLength: Int
    public var outputLength: Int

    public init(conversations: Int, turns: Int, openingLength: Int, userLength: Int, outputLength: Int) throws(BenchmarkError) {
        guard conversations >= 1 else { throw BenchmarkError("--num-prompts (conversations) must be at least 1") }
        guard turns >= 1 else { throw BenchmarkError("--multi-turn-turns must be at least 1, got \(turns)") }
        guard openingLength >= 1, userLength >= 1, outputLength >= 1 else {
            throw BenchmarkError("--random-input-len, --multi-turn-user-len and --random-output-len must be at least 1")
        }
        self.conversations = conversations
        self.turns = turns
        self.openingLength = openingLength
        self.userLength = userLength
        self.outputLength = outputLength
    }

    /// Every conversation's user messages, in turn order.
    public func messages(tokenizer: PromptTokenizer, generator: inout SeededGenerator) throws(BenchmarkError) -> [[BenchmarkPrompt]] {
        guard !tokenizer.candidates.isEmpty else { throw BenchmarkError("the tokenizer has no ordinary tokens to build prompts from") }
        return (0..<conversations).map { conversation in
            (0..<turns).map { turn in
                let text = tokenizer.text(ofLength: turn == 0 ? openingLength : userLength, index: conversation * turns + turn,
                                          generator: &generator)
                return BenchmarkPrompt(text: text, promptLength: tokenizer.encode(text).count, outputLength: outputLength)
            }
        }
    }
}
