import Foundation
import Model
import Testing
import Tokenization

/// `GGUFFile.tokenizer()` for SentencePiece (`llama`) vocabularies and the refusal of other tokenizer models.
@Suite struct GGUFTokenizerTests {
    /// A GGUF array of 4-byte scalars (`element` is the GGUF type: 5 int32, 6 float32).
    static func array<T: FixedWidthInteger>(_ element: UInt32, _ values: [T]) -> GGUFBuilder.Value {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: element.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt64(values.count).littleEndian) { bytes += $0 }
        for value in values { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        return .raw(type: 9, bytes: bytes)
    }

    static func tokenizer(model: String, extra: [(String, GGUFBuilder.Value)] = []) throws -> BPETokenizer {
        var builder = GGUFBuilder()
        let tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab", "<0x0A>", "<0xC3>", "<0xA9>"]
        let scores: [Float] = [0, 0, 0, -1, -2, -3, -4, -5, -1.5, 0, 0, 0]
        builder.metadata = [
            ("general.architecture", .string("llama")), ("tokenizer.ggml.model", .string(model)),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.scores", array(6, scores.map(\.bitPattern))),
            ("tokenizer.ggml.token_type", array(5, [2, 3, 3, 1, 1, 1, 1, 1, 1, 6, 6, 6] as [Int32])),
        ] + extra
        let path = NSTemporaryDirectory() + "brigade-test-\(UUID().uuidString).gguf"
        try builder.build().write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try GGUFFile(path: path).tokenizer()
    }

    @Test func sentencePieceVocabularyWithLlamaCppDefaults() throws {
        let tokenizer = try Self.tokenizer(model: "llama")
        // Default ids BOS 1 / EOS 2 / UNK 0, BOS added, a space before the text, byte tokens for "é" and "\n".
        #expect(tokenizer.specialTokens.bos == 1 && tokenizer.specialTokens.eos == 2 && tokenizer.specialTokens.unknown == 0)
        #expect(tokenizer.encode("ab a") == [1, 8, 6])
        #expect(tokenizer.encode("é\n", addSpecialTokens: false) == [3, 10, 11, 9])
        #expect(try tokenizer.decode(tokenizer.encode("ab a é\n"), skipSpecial: true) == " ab a é\n")
        #expect(try tokenizer.decode([8, 6]) == "ab a")
    }

    @Test func gemmaSettingsAreRead() throws {
        let tokenizer = try Self.tokenizer(
            model: "llama", extra: [("tokenizer.ggml.add_space_prefix", .bool(0)), ("tokenizer.ggml.add_bos_token", .bool(0))])
        #expect(tokenizer.prefixTokenIDs.isEmpty)
        #expect(tokenizer.encode("ab a") == [7, 6])
    }

    @Test func unsupportedModelsSayWhatIsSupported() {
        let error = #expect(throws: ModelFileError.self) { try Self.tokenizer(model: "bert") }
        #expect(error?.location == "key tokenizer.ggml.model")
        #expect(error?.problem.contains("\"bert\"") == true && error?.problem.contains("gpt2") == true
            && error?.problem.contains("llama") == true)
    }
}
