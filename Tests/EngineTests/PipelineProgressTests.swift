import Engine
import Foundation
import Model
import Testing
import Transport

/// Invariant 6 (rank-0 progress) and the scheduler's "keep the pipe full" rule, asserted on the ranks' counters
/// rather than on wall-clock thresholds.
@Suite struct PipelineProgressTests {
    static func run(spec: String, stages: Int, requests: Int, maxSequences: Int, asynchronous: Bool = true,
                    outputTokens: Int = 4) async throws -> [StageStatistics] {
        var options = EngineOptions()
        options.pipelineStages = stages
        options.asynchronous = asynchronous
        options.maxSequences = maxSequences
        let engine = try InferenceEngine.inProcess(model: SyntheticModel(spec: try SyntheticSpec(parsing: spec)), options: options)
        let results = try await runAll(engine, (0..<requests).map {
            GenerationRequest(id: "r\($0)", promptTokenIDs: [Int32(1 + $0 % 200), 7, 9], maxTokens: outputTokens, ignoreEOS: true)
        })
        engine.shutdown()
        #expect(results.values.allSatisfy { $0.tokens.count == outputTokens })
        return engine.stageStatistics
    }

    @Test func rankZeroKeepsLaunchingWhileTheLastStageIsSlow() async throws {
        // 48 requests in micro-batches of 4: twelve batches of schedulable work while the last stage takes 12× longer.
        let spec = "synthetic:layers=8,stage-ms=1,1,1,12"
        let async = try await Self.run(spec: spec, stages: 4, requests: 48, maxSequences: 4)
        #expect(async[0].maxInFlight >= 8, "rank 0 stalled behind the slow last stage: \(async[0])")
        let sync = try await Self.run(spec: spec, stages: 4, requests: 48, maxSequences: 4, asynchronous: false)
        #expect(sync[0].maxInFlight <= 4)
        // The last stage is the bottleneck in both modes; async keeps more work queued in front of it.
        #expect(async[3].microBatches >= 12 && sync[3].microBatches >= 12)
    }

    @Test(arguments: [2, 4, 8])
    func fewRequestsAreSpreadOverEveryStage(stages: Int) async throws {
        let stats = try await Self.run(spec: "synthetic:layers=16,stage-ms=3", stages: stages, requests: 2 * stages,
                                       maxSequences: 256, outputTokens: 6)
        #expect(stats[0].maxInFlight >= stages, "\(2 * stages) requests should fill \(stages) micro-batches: \(stats[0])")
    }

    @Test func statisticsAccountForEveryRank() async throws {
        let stats = try await Self.run(spec: "synthetic:layers=9,stage-ms=1", stages: 3, requests: 6, maxSequences: 2)
        #expect(stats.map(\.rank) == [0, 1, 2])
        #expect(stats.map(\.layers) == [0..<3, 3..<6, 6..<9])
        #expect(Set(stats.map(\.iterations)).count == 1, "every rank runs the same iterations")
        #expect(Set(stats.map(\.microBatches)).count == 1)
        for stage in stats {
            #expect(stage.forwardSeconds > 0 && stage.forwardSeconds <= stage.wallSeconds)
            #expect(stage.inFlight == 0)
        }
    }
}

/// Stage splits.
@Suite struct StagePartitionTests {
    /// The smallest possible most-expensive stage, by trying every split (small cases only).
    static func bruteForceBest(layers: Int, stages: Int, costs: StageCosts) -> Double {
        func cost(_ stage: Int, _ count: Int) -> Double {
            Double(count) * costs.layer + (stage == 0 ? costs.embedding : 0) + (stage == stages - 1 ? costs.head : 0)
        }
        func best(_ stage: Int, _ remaining: Int) -> Double {
            if stage == stages - 1 { return cost(stage, remaining) }
            var result = Double.infinity
            for count in 1...max(1, remaining - (stages - stage - 1)) where remaining - count >= stages - stage - 1 {
                result = min(result, max(cost(stage, count), best(stage + 1, remaining - count)))
            }
            return result
        }
        return best(0, layers)
    }

    @Test func balancedSplitsMinimiseTheMostExpensiveStage() throws {
        for (layers, stages, head) in [(30, 2, 8.0), (30, 4, 8.0), (12, 3, 0.0), (9, 4, 2.5), (8, 8, 3.0), (32, 4, 0.0)] {
            let costs = StageCosts(layer: 1, embedding: 0.1, head: head)
            let split = try StagePartition.balanced(layerCount: layers, stages: stages, costs: costs)
            #expect(split.layerCounts.reduce(0, +) == layers && split.stageCount == stages)
            #expect(split.ranges.first?.lowerBound == 0 && split.ranges.last?.upperBound == layers)
            let worst = split.layerCounts.enumerated().map { stage, count in
                Double(count) + (stage == 0 ? 0.1 : 0) + (stage == stages - 1 ? head : 0)
            }.max()!
            #expect(abs(worst - Self.bruteForceBest(layers: layers, stages: stages, costs: costs)) < 1e-9, "\(split)")
        }
        #expect(try StagePartition.balanced(layerCount: 32, stages: 4, costs: StageCosts(layer: 1, embedding: 0, head: 0))
            .layerCounts == [8, 8, 8, 8])
        // SmolLM2's head (49152 × 576) costs about eight layers, so the last stage gets fewer layers.
        let smol = try StagePartition.balanced(layerCount: 30, stages: 2, costs: StageCosts(layer: 3.5, embedding: 0, head: 28.3))
        #expect(smol.layerCounts[0] > smol.layerCounts[1])
    }

    @Test func badSplitsAreRejectedWithTheFix() {
        #expect(throws: PartitionError.self) { try StagePartition(layerCounts: [8, 8, 7], layerCount: 30) }
        #expect(throws: PartitionError.self) { try StagePartition(layerCounts: [10, 0, 20], layerCount: 30) }
        #expect(throws: PartitionError.self) { try StagePartition(parsing: "8,x,7", layerCount: 30) }
        #expect(throws: PartitionError.self) { try StagePartition.balanced(layerCount: 3, stages: 4, costs: StageCosts(layer: 1, embedding: 0, head: 0)) }
        do {
            _ = try StagePartition(layerCounts: [8, 8, 7], layerCount: 30)
        } catch {
            #expect(error.description.contains("covers 23 layers but the model has 30"))
        }
    }
}

/// Text prompts through the engine API.
@Suite struct TextPromptTests {
    @Test func textPromptsAreTokenizedByTheModel() async throws {
        let model = SyntheticModel(spec: try SyntheticSpec(parsing: "synthetic:layers=4"))
        var options = EngineOptions()
        options.pipelineStages = 2
        let engine = try InferenceEngine.inProcess(model: model, options: options)
        defer { engine.shutdown() }
        let byText = try await engine.generate(GenerationRequest(id: "t", text: "hello", maxTokens: 4, ignoreEOS: true))
        let byIDs = try await engine.generate(GenerationRequest(id: "i", promptTokenIDs: model.encode("hello"), maxTokens: 4, ignoreEOS: true))
        #expect(byText.tokens == byIDs.tokens && byText.tokens.count == 4)
        #expect(byText.usage.promptTokens == 5)
        var both = GenerationRequest(id: "b", text: "hi")
        both.promptTokenIDs = [1]
        #expect(throws: EngineError.self) { try engine.submit(both) }
    }

    @Test func aModelWithoutTokenizerRefusesTextClearly() throws {
        let model = try TestModels.model(try TestModels.requireDeep8())
        let engine = try InferenceEngine(model: model)
        defer { engine.shutdown() }
        do {
            _ = try engine.submit(GenerationRequest(id: "t", text: "hello"))
            Issue.record("should have thrown")
        } catch {
            #expect(error.description.contains("without a tokenizer"))
        }
    }
}
