import Foundation

/// The text normalization applied before pre-tokenization (the `normalizer` of a `tokenizer.json`): its steps
/// in order.
struct Normalizer: Sendable, Equatable {
    enum Step: Sendable, Equatable {
        /// Unicode canonical composition (Qwen 2, GPT-NeoX, ...).
        case nfc
        /// `Prepend`: puts the text before non-empty input (Llama 2 prepends `▁`).
        case prepend(String)
        /// `Replace` of a literal string (Llama 2 and Gemma replace `" "` by `"▁"`).
        case replace(String, String)
    }

    var steps: [Step]

    /// No normalization (GGUF vocabularies: llama.cpp does not normalize byte-level BPE input).
    static let none = Normalizer(steps: [])
    /// NFC alone.
    static let nfc = Normalizer(steps: [.nfc])

    /// The normalized text of `bytes[range]`, or `nil` when it is unchanged by construction.
    func apply(to bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) -> String? {
        guard !steps.isEmpty else { return nil }
        var text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        for step in steps {
            switch step {
            case .nfc:
                text = text.precomposedStringWithCanonicalMapping
            case let .prepend(prefix):
                if !text.isEmpty { text = prefix + text }
            case let .replace(pattern, content):
                text = text.replacingOccurrences(of: pattern, with: content, options: .literal)
            }
        }
        return text
    }
}
