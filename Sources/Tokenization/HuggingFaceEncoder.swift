/// How a `tokenizer.json` cuts normalized text into the words that BPE encodes one by one.
enum WordSplitter: Sendable, Equatable {
    /// A regex pre-tokenizer (byte-level BPE).
    case pattern(PreTokenizer)
    /// The `Metaspace` pre-tokenizer: spaces become the replacement (`▁`), which is also put before the text
    /// per `prependScheme` (unless it starts with one); `split` cuts before every replacement.
    case metaspace(Metaspace)
    /// No pre-tokenizer: the whole text is one word.
    case none
}

/// The options of a `Metaspace` pre-tokenizer (or decoder).
struct Metaspace: Sendable, Equatable {
    enum PrependScheme: String, Sendable {
        case always, first, never
    }

    var replacement: String = "▁"
    var prependScheme: PrependScheme = .always
    var split: Bool = true
}

/// The encoding pipeline of `tokenizers`: added tokens matched in the raw text, normalization, added tokens
/// matched in the normalized text, pre-tokenization into words, BPE per word.
struct HuggingFaceEncoder: Sendable {
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    let normalizer: Normalizer
    let words: WordSplitter
    let model: BytePairModel

    /// Reusable buffers of one `encode` call.
    struct Scratch {
        var merge = MergeScratch()
        var scalars = ScalarBuffer()
        var word: [UInt8] = []
    }

    func encode(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, into ids: inout [Int32]) {
        var scratch = Scratch()
        rawMatcher.split(bytes, range: 0..<bytes.count, parseSpecial: parseSpecial) { segment in
            switch segment {
            case let .token(id):
                ids.append(id)
            case let .text(range):
                encodeUnmatched(bytes, range: range, parseSpecial: parseSpecial, scratch: &scratch, into: &ids)
            }
        }
    }

    /// Normalizes text between raw added tokens, matches the normalized added tokens, encodes the rest.
    private func encodeUnmatched(
        _ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>, parseSpecial: Bool, scratch: inout Scratch,
        into ids: inout [Int32]
    ) {
        let startsText = range.lowerBound == 0
        func encodeNormalized(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, offset: Int) {
            normalizedMatcher.split(bytes, range: range, parseSpecial: parseSpecial) { segment in
                switch segment {
                case let .token(id):
                    ids.append(id)
                case let .text(piece):
                    encodeWords(bytes, piece, startsText: startsText && piece.lowerBound == offset, &scratch, &ids)
                }
            }
        }
        guard var normalized = normalizer.apply(to: bytes, range: range) else {
            encodeNormalized(bytes, range, offset: range.lowerBound)
            return
        }
        normalized.withUTF8 { normalizedBytes in
            encodeNormalized(normalizedBytes, 0..<normalizedBytes.count, offset: 0)
        }
    }

    /// Pre-tokenizes one piece of normalized text and encodes its words.
    private func encodeWords(
        _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, startsText: Bool, _ scratch: inout Scratch,
        _ ids: inout [Int32]
    ) {
        switch words {
        case let .pattern(preTokenizer):
            preTokenizer.forEachWord(in: bytes, range: range, buffer: &scratch.scalars) { word in
                model.encodeWord(bytes, range: word, scratch: &scratch.merge, into: &ids)
            }
        case .none:
            model.encodeWord(bytes, range: range, scratch: &scratch.merge, into: &ids)
        case let .metaspace(options):
            guard !range.isEmpty else { return }
            let replacement = Array(options.replacement.utf8)
            let prepend = options.prependScheme == .always || (options.prependScheme == .first && startsText)
            var text: [UInt8] = []
            swap(&text, &scratch.word)
            text.removeAll(keepingCapacity: true)
            for byte in bytes[range] {
                if byte == 0x20 { text.append(contentsOf: replacement) } else { text.append(byte) }
            }
            if prepend, !text.starts(with: replacement) { text.insert(contentsOf: replacement, at: 0) }
            text.withUnsafeBufferPointer { text in
                guard options.split else {
                    model.encodeWord(text, range: 0..<text.count, scratch: &scratch.merge, into: &ids)
                    return
                }
                // `MergedWithNext`: every replacement starts a new word.
                var start = 0
                var index = replacement.count > 0 ? 1 : text.count
                while index < text.count {
                    if text[index] == replacement[0], text[index...].starts(with: replacement) {
                        model.encodeWord(text, range: start..<index, scratch: &scratch.merge, into: &ids)
                        start = index
                    }
                    index += 1
                }
                if start < text.count { model.encodeWord(text, range: start..<text.count, scratch: &scratch.merge, into: &ids) }
            }
            scratch.word = text
        }
    }
}
