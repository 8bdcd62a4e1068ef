import Foundation
import Model

/// Measured cost of each layer of a model, for `--pp-partition auto`: the model runs as a chain of one-layer stages
/// (the first embeds, the last computes the head and logits) on a decode-shaped batch, and each stage's forward time
/// is timed. The first layer's time includes the embedding and the last layer's the head, which is where they sit in
/// every split.
public struct LayerProfile: Sendable, Equatable {
    /// Median seconds per forward of each layer (with the embedding on the first and the head on the last).
    public var layerSeconds: [Double]
    /// Sequences in the profiled batch (one token each, every one sampling).
    public var batchSize: Int

    public init(layerSeconds: [Double], batchSize: Int) {
        self.layerSeconds = layerSeconds
        self.batchSize = batchSize
    }

    /// Profiles `model`: `repetitions` timed passes (after one warm-up) of `batchSize` single-token sequences.
    /// - Throws: whatever building or running a stage throws.
    public static func measure(_ model: any PipelineModel, batchSize: Int = 16, repetitions: Int = 5,
                               blockSize: Int = 16) throws -> LayerProfile {
        let layers = model.layerCount
        guard layers >= 1, batchSize >= 1, repetitions >= 1 else {
            throw PartitionError("cannot profile a model of \(layers) layers with a batch of \(batchSize)")
        }
        let stages = try (0..<layers).map { layer in
            try model.makeStage(rank: layer, stageCount: layers, layers: layer..<layer + 1, blockSize: blockSize,
                                blockCount: batchSize)
        }
        // Sequence i: one token at position 0, in its own KV block.
        let batch = (0..<batchSize).map { SequenceChunk(startPosition: 0, tokenCount: 1, blockTable: [Int32($0)], wantsLogits: true) }
        let tokens = (0..<batchSize).map { Int32(($0 * 7919 + 11) % max(1, model.vocabSize - 1)) }
        var samples = [[Double]](repeating: [], count: layers)
        for pass in 0...repetitions {
            var hidden: [Float] = []
            for (layer, stage) in stages.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                let output = try stage.forward(batch: batch, tokens: layer == 0 ? tokens : [], hidden: hidden)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if pass > 0 { samples[layer].append(seconds) }
                if case .hidden(let next) = output { hidden = next }
            }
        }
        return LayerProfile(layerSeconds: samples.map { $0.sorted()[$0.count / 2] }, batchSize: batchSize)
    }

    /// The split of these layers into `stages` stages with the cheapest slowest stage.
    public func partition(stages: Int) throws(PartitionError) -> StagePartition {
        try StagePartition.balanced(layerCosts: layerSeconds, stages: stages)
    }
}
