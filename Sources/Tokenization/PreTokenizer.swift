/// How text is split into words before byte-pair merging, as in Hugging Face `tokenizers` and llama.cpp.
///
/// Each case is a hand-written, exact equivalent of the reference regex (see `PatternMatchers.swift`):
/// the classes `\p{L}`, `\p{N}` and `\s` follow Oniguruma's Unicode 16.0 tables, as in `tokenizers` 0.23
/// (checked against it on every scalar below U+20000 by the golden tests).
public enum PreTokenizer: String, Sendable, CaseIterable, CustomStringConvertible {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    /// (the `ByteLevel` pre-tokenizer with `use_regex`).
    case gpt2
    /// SmolLM / StarCoder: every numeric scalar is its own word (`Digits(individual_digits: true)`, which uses
    /// Rust's `char::is_numeric`, Unicode 17.0), then the GPT-2 rules on the text between digits.
    case smollm
    /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    case llama3
    /// Qwen 2: as ``llama3`` but numbers split one `\p{N}` at a time.
    case qwen2

    /// The case name (`gpt2`, `smollm`, `llama3`, `qwen2`).
    public var description: String { rawValue }

    /// Maps a GGUF `tokenizer.ggml.pre` name to a pre-tokenizer (see ``GGUFPreTokenizer`` for the other
    /// per-name settings llama.cpp applies).
    /// - Throws: ``TokenizationError/unknownPreTokenizer(name:supported:)`` listing the supported names.
    public init(ggufName name: String) throws(TokenizationError) {
        self = try GGUFPreTokenizer(name: name).preTokenizer
    }

    /// Splits `text` into the words that byte-pair merging then encodes one by one (no added-token handling).
    public func split(_ text: String) -> [String] {
        var text = text
        return text.withUTF8 { bytes in
            var buffer = ScalarBuffer()
            var words: [String] = []
            forEachWord(in: bytes, range: 0..<bytes.count, buffer: &buffer) { range in
                words.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
            }
            return words
        }
    }

    /// Calls `body` with the byte range of each word of `bytes[range]` (valid UTF-8), in order.
    func forEachWord(
        in bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, buffer: inout ScalarBuffer,
        _ body: (Range<Int>) -> Void
    ) {
        guard !range.isEmpty else { return }
        buffer.load(bytes, range: range)
        let count = buffer.count
        let offsets = buffer.offsets
        var start = 0
        switch self {
        case .gpt2:
            while start < count {
                let end = PatternMatchers.gpt2(buffer, at: start, end: count)
                body(offsets[start]..<offsets[end])
                start = end
            }
        case .smollm:
            // `Digits(individual_digits)` first (Rust's `is_numeric`), then the GPT-2 regex between digits.
            let values = buffer.values
            while start < count {
                if UnicodeClasses.isNumeric(values[start]) {
                    body(offsets[start]..<offsets[start + 1])
                    start += 1
                    continue
                }
                var pieceEnd = start + 1
                while pieceEnd < count, !UnicodeClasses.isNumeric(values[pieceEnd]) { pieceEnd += 1 }
                while start < pieceEnd {
                    let end = PatternMatchers.gpt2(buffer, at: start, end: pieceEnd)
                    body(offsets[start]..<offsets[end])
                    start = end
                }
            }
        case .llama3, .qwen2:
            let maxDigits = self == .llama3 ? 3 : 1
            while start < count {
                let end = PatternMatchers.llama3(buffer, at: start, end: count, maxDigits: maxDigits)
                body(offsets[start]..<offsets[end])
                start = end
            }
        }
    }
}

/// What a GGUF `tokenizer.ggml.pre` name implies, following llama.cpp's `llama_vocab::load`.
public struct GGUFPreTokenizer: Sendable, Equatable {
    /// The word-splitting rules.
    public var preTokenizer: PreTokenizer
    /// Whether a word that is itself in the vocabulary is taken whole, before any merge (Llama 3).
    public var ignoreMerges: Bool
    /// Whether BOS is added when the file has no `tokenizer.ggml.add_bos_token`.
    public var addsBOSByDefault: Bool

    private static let table: [String: GGUFPreTokenizer] = {
        var table: [String: GGUFPreTokenizer] = [:]
        func add(_ names: [String], _ preTokenizer: PreTokenizer, ignoreMerges: Bool = false, addBOS: Bool = false) {
            for name in names {
                table[name] = GGUFPreTokenizer(preTokenizer: preTokenizer, ignoreMerges: ignoreMerges, addsBOSByDefault: addBOS)
            }
        }
        add(["gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "gigachat", "a.x-4.0", "mellum",
             "modern-bert", "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling"], .gpt2)
        add(["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"], .smollm)
        add(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"], .llama3,
            ignoreMerges: true, addBOS: true)
        add(["dbrx", "smaug-bpe"], .llama3)
        add(["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2"],
            .qwen2)
        return table
    }()

    /// Every supported `tokenizer.ggml.pre` name, sorted.
    public static var supportedNames: [String] { table.keys.sorted() }

    /// Looks up a `tokenizer.ggml.pre` name.
    /// - Throws: ``TokenizationError/unknownPreTokenizer(name:supported:)`` listing the supported names.
    public init(name: String) throws(TokenizationError) {
        guard let entry = Self.table[name] else {
            throw .unknownPreTokenizer(name: name, supported: Self.supportedNames)
        }
        self = entry
    }

    /// Creates a configuration directly.
    public init(preTokenizer: PreTokenizer, ignoreMerges: Bool, addsBOSByDefault: Bool) {
        self.preTokenizer = preTokenizer
        self.ignoreMerges = ignoreMerges
        self.addsBOSByDefault = addsBOSByDefault
    }
}
