import Grammar
import Tokenization

extension TokenVocabulary {
    /// The vocabulary of `tokenizer` for grammars: each token's decoded bytes; control tokens (`<|im_end|>`, `<eos>`,
    /// …) have none, so a grammar never produces them. `size` is the logits row (ids past the tokenizer's have none).
    public convenience init(tokenizer: BPETokenizer, size: Int) {
        let tokens: [[UInt8]?] = (0..<Int32(tokenizer.vocabularySize)).map { id in
            tokenizer.isSpecial(id) ? nil : tokenizer.tokenBytes(id)
        }
        self.init(tokens: tokens, size: size)
    }
}
