import Foundation

/// The text normalization applied before pre-tokenization (the `normalizer` of a `tokenizer.json`).
enum Normalizer: Sendable, Equatable {
    /// No normalization (GGUF vocabularies: llama.cpp does not normalize byte-level BPE input).
    case none
    /// Unicode canonical composition (Qwen 2, GPT-NeoX, ...).
    case nfc

    /// The normalized text of `bytes[range]`, or `nil` when it is unchanged by construction.
    func apply(to bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) -> String? {
        switch self {
        case .none:
            return nil
        case .nfc:
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            return text.precomposedStringWithCanonicalMapping
        }
    }
}
