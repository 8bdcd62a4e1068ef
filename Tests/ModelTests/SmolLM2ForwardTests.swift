import Kernels
import Model
import Testing

@Suite struct SmolLM2ForwardTests {
    @Test func capitalOfFrancePromptMatchesReferenceLogits() throws {
        let file = try GGUFFile(path: try TestData.require(TestData.smolLM2))
        let config = try file.modelConfig()
        let stage = try DecoderStage(config: config, store: file.tensorStore(), layers: 0..<config.layerCount, embedding: true, head: true)
        let cache = PagedKVCache(layerRange: 0..<config.layerCount, blockSize: 16, blockCount: 4, kvDim: config.kvDim)
        let ids: [Int32] = [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
        let chunk = SequenceChunk(startPosition: 0, tokenCount: ids.count, blockTable: [0], wantsLogits: true)
        guard case .logits(let logits) = try stage.forward(batch: [chunk], tokens: ids, cache: cache) else {
            Issue.record("expected logits"); return
        }
        let top = logits.indices.max { logits[$0] < logits[$1] }!
        #expect(top == 504)
        #expect(abs(logits[504] - 27.8588) < 2e-3)
        #expect(abs(logits[38634] - 26.1015) < 2e-3)
    }
}
