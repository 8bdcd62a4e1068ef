import ChatTemplates
import Model
import Testing

/// Tokenizer and chat template come with the model, from GGUF metadata or a Hugging Face directory.
@Suite struct TextModelTests {
    @Test func smolLM2TokenizerTemplateAndStopTokens() throws {
        let model = try TextModel.load(try TestData.require(TestData.smolLM2))
        let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        #expect(model.encode(prompt) == [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198])
        let rendered = try model.renderChat([ChatMessage(role: "user", content: .string("What is the capital of France?"))])
        #expect(rendered == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" + prompt)
        #expect(model.eosTokenIDs.contains(2))
        var decoder = model.makeDetokenizer()
        let text = try [504, 3575, 282, 4649, 314, 7042, 30, 2].map { try decoder.append($0) }.joined() + decoder.finish()
        #expect(text == "The capital of France is Paris.")
    }

    @Test(arguments: ["f32/model.gguf", "hf_f32", "hf_bf16", "hf_qwen2"])
    func tinyModelsLoadWithTokenizerAndTemplate(path: String) throws {
        let model = try TextModel.load(try TestData.require(TestData.directory + "/tiny/" + path))
        let ids = model.encode("<|im_start|>user\nhi<|im_end|>")
        #expect(ids.first == model.tokenizer.id(forToken: "<|im_start|>"))
        let rendered = try model.renderChat([ChatMessage(role: "user", content: .string("hi"))])
        #expect(rendered.contains("<|im_start|>user\nhi<|im_end|>"))
        #expect(rendered.hasSuffix("<|im_start|>assistant\n"))
    }
}
