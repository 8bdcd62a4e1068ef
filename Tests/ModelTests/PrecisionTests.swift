import Foundation
import Kernels
import Model
import Testing

/// The fast default precision (`integer`: 10-bit activations per 8 columns, integer kernels) against the exact one (`f32`) on SmolLM2,
/// teacher-forced over the golden prompts and their reference continuations. The bound is the issue's: mean KL
/// divergence per position ≤ 0.01 and top-1 agreement ≥ 95 % (llama.cpp's own quantized-activation gap to f32 on
/// its models is KL 0.0002–0.036, agreement 88–100 %).
@Suite struct PrecisionTests {
    struct Golden: Decodable {
        let prompt_ids: [Int32]
        let generated_ids: [Int32]
    }

    /// The prompts and reference continuations of every fixture in `Fixtures/<folder>`.
    static func goldenSequences(_ folder: String = "smollm2-golden") throws -> [[Int32]] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(folder)")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: directory.appendingPathComponent(name)))
            return golden.prompt_ids + golden.generated_ids
        }
    }

    /// (model path, fixture folder) of every model held to the bound.
    static let models = [
        (TestData.smolLM2, "smollm2-golden"),
        (TestData.realModel("Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"), "qwen2.5-coder-golden"),
        (TestData.realModel("gemma-3-270m.Q4_K_M.gguf"), "gemma3-golden"),
    ]

    @Test(arguments: models)
    func integerKernelsStayWithinTheKLBoundOfF32(model path: String, fixtures folder: String) throws {
        let weights = try ModelWeights.open(try TestData.require(path))
        let sequences = try Self.goldenSequences(folder)
        let report = try DivergenceReport.measure(reference: try weights.stage(precision: .f32),
                                                  candidate: try weights.stage(precision: .integer), sequences: sequences)
        print("int vs f32 on \(folder): \(report)")
        #expect(report.positions == sequences.reduce(0) { $0 + $1.count })
        #expect(report.meanKL <= 0.01, "mean KL \(report.meanKL)")
        #expect(report.top1Agreement >= 0.95, "top-1 agreement \(report.top1Agreement)")
        #expect(report.maxKL > 0, "int and f32 gave identical distributions: are the activations really quantized?")
    }

    @Test func aModelComparedWithItselfHasNoDivergence() throws {
        let weights = try ModelWeights.open(try TestData.require(TestData.smolLM2))
        let stage = try weights.stage(precision: .integer)
        let report = try DivergenceReport.measure(reference: stage, candidate: stage, sequences: [[1, 4093, 198, 1780, 314]])
        #expect(report == DivergenceReport(positions: 5, meanKL: 0, p99KL: 0, maxKL: 0, top1Agreement: 1))
    }

    /// The last position's logits of `ids` prefilled in one batch (at most 16 tokens).
    static func lastLogits(_ weights: ModelWeights, _ precision: Precision, _ ids: [Int32]) throws -> [Float] {
        let stage = try weights.stage(precision: precision)
        let cache = PagedKVCache(layerRange: stage.layerRange, blockSize: 16, blockCount: 1, kvDim: weights.config.kvDim)
        let chunk = SequenceChunk(startPosition: 0, tokenCount: ids.count, blockTable: [0], wantsLogits: true)
        guard case .logits(let logits) = try stage.forward(batch: [chunk], tokens: ids, cache: cache) else { return [] }
        return logits
    }

    /// Both precisions share one process's store; each packs or copies its own tensors, and neither changes the other.
    @Test func precisionsOfOneStoreDoNotInterfere() throws {
        let weights = try ModelWeights.open(try TestData.require(TestData.smolLM2))
        let ids: [Int32] = [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47]
        func last(_ precision: Precision) throws -> [Float] { try Self.lastLogits(weights, precision, ids) }
        let f32 = try last(.f32), integer = try last(.integer)
        #expect(try last(.f32) == f32)
        #expect(try last(.integer) == integer)
        #expect(f32 != integer)
        #expect(f32.indices.max { f32[$0] < f32[$1] } == integer.indices.max { integer[$0] < integer[$1] })
    }

    /// A model whose projections mix encodings (some packed for the integer kernels, some not, within one shared
    /// input: Q and O in F32, K and V in Q8_0) runs in both precisions and agrees with itself.
    @Test func mixedEncodingsRunInBothPrecisions() throws {
        let path = NSTemporaryDirectory() + "brigade-mixed-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let quantized: Set = ["blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"]
        try GGUFBuilder.tinyLlama(q8_0: quantized).build().write(to: URL(fileURLWithPath: path))
        let weights = try ModelWeights.open(path)
        let ids: [Int32] = [1, 5, 2, 7, 3]
        let exact = try Self.lastLogits(weights, .f32, ids), fast = try Self.lastLogits(weights, .integer, ids)
        #expect(exact.count == 8 && fast.count == 8 && fast.allSatisfy(\.isFinite))
        let worst = zip(exact, fast).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 0.01, "integer and f32 logits differ by \(worst)")
    }
}
