import Engine
import Foundation
import Model
import Testing
import Transport

/// The timeline: every rank's spans, tagged with the micro-batches they worked on, as Chrome-trace JSON.
@Suite struct PipelineTraceTests {
    struct Event {
        let name: String
        let lane: Int
        let start: Double
        let end: Double
        let batch: Int?
    }

    static func traced(stages: Int, asynchronous: Bool = true) async throws -> (events: [Event], lanes: [Int: String], batches: Int) {
        var options = EngineOptions()
        options.pipelineStages = stages
        options.asynchronous = asynchronous
        options.maxSequences = 2
        options.trace = PipelineTrace()
        let engine = try InferenceEngine.inProcess(model: SyntheticModel(spec: try SyntheticSpec(parsing: "synthetic:layers=6,stage-ms=1")),
                                                   options: options)
        _ = try await runAll(engine, (0..<8).map {
            GenerationRequest(id: "r\($0)", promptTokenIDs: [Int32(1 + $0), 7, 9], maxTokens: 5, ignoreEOS: true)
        })
        engine.shutdown()
        let json = try #require(try JSONSerialization.jsonObject(with: options.trace!.chromeTraceJSON()) as? [String: Any])
        let raw = try #require(json["traceEvents"] as? [[String: Any]])
        var lanes: [Int: String] = [:]
        var events: [Event] = []
        for event in raw {
            let lane = event["tid"] as? Int ?? -1
            if event["ph"] as? String == "M", event["name"] as? String == "thread_name" {
                lanes[lane] = (event["args"] as? [String: Any])?["name"] as? String
            } else if event["ph"] as? String == "X" {
                let start = try #require(event["ts"] as? Double), duration = try #require(event["dur"] as? Double)
                #expect(duration >= 0)
                events.append(Event(name: event["name"] as? String ?? "", lane: lane, start: start, end: start + duration,
                                    batch: (event["args"] as? [String: Any])?["batch"] as? Int))
            }
        }
        return (events, lanes, engine.stageStatistics[0].microBatches)
    }

    @Test(arguments: [(1, true), (3, true), (3, false)])
    func everyRankRecordsEveryMicroBatch(stages: Int, asynchronous: Bool) async throws {
        let (events, lanes, batches) = try await Self.traced(stages: stages, asynchronous: asynchronous)
        #expect(lanes[0] == "rank 0 (layers 0–\(6 / stages - 1))" && lanes[1] == "rank 0 relay")
        let forwardBatches = (0..<stages).map { rank in events.filter { $0.lane == rank * 2 && $0.name == "forward" }.compactMap(\.batch) }
        #expect(forwardBatches[0].count == batches && batches > 0)
        #expect(forwardBatches.allSatisfy { $0 == forwardBatches[0] }, "every rank runs the same micro-batches in order")
        for rank in 0..<stages - 1 {  // every relay but the last rank's receives each batch's sample state
            #expect(events.filter { $0.lane == rank * 2 + 1 }.compactMap(\.batch) == forwardBatches[0])
        }
        // On each loop lane, top-level spans never overlap (the handle step contains its relay waits).
        for rank in 0..<stages {
            let spans = events.filter { $0.lane == rank * 2 && $0.name != "wait for relay" }.sorted { $0.start < $1.start }
            for (a, b) in zip(spans, spans.dropFirst()) { #expect(a.end <= b.start + 0.001, "rank \(rank): \(a) overlaps \(b)") }
        }
        #expect(events.contains { $0.name == "schedule" && $0.lane == 0 })
        #expect(events.contains { $0.name == "handle" })
    }

    @Test func withoutATraceNothingIsRecorded() async throws {
        let trace = PipelineTrace()
        var options = EngineOptions()
        options.pipelineStages = 2
        let engine = try InferenceEngine.inProcess(model: SyntheticModel(spec: try SyntheticSpec(parsing: "synthetic:layers=2")), options: options)
        _ = try await engine.generate(GenerationRequest(id: "a", promptTokenIDs: [1, 2], maxTokens: 3, ignoreEOS: true))
        engine.shutdown()
        #expect(trace.spanCount == 0 && engine.options.trace == nil)
        let full = PipelineTrace(capacity: 3)
        options.trace = full
        let traced = try InferenceEngine.inProcess(model: SyntheticModel(spec: try SyntheticSpec(parsing: "synthetic:layers=2")), options: options)
        _ = try await traced.generate(GenerationRequest(id: "a", promptTokenIDs: [1, 2], maxTokens: 3, ignoreEOS: true))
        traced.shutdown()
        #expect(full.spanCount == 3 && full.droppedCount > 0, "a full trace keeps its capacity and counts the rest")
    }
}

/// `--pp-partition auto`: measured layer times and the split they imply.
@Suite struct LayerProfileTests {
    /// The smallest possible slowest stage over every contiguous split (small cases only).
    static func bestBottleneck(_ costs: [Double], stages: Int) -> Double {
        func best(_ start: Int, _ stages: Int) -> Double {
            guard stages > 1 else { return costs[start...].reduce(0, +) }
            var result = Double.infinity
            for end in (start + 1)...(costs.count - stages + 1) {
                result = min(result, max(costs[start..<end].reduce(0, +), best(end, stages - 1)))
            }
            return result
        }
        return best(0, stages)
    }

    @Test func theProfileFindsTheOptimalSplitOfUnevenLayers() throws {
        // Layer 9's cost is the head's: a model whose last stage the default (equal-layer) split overloads.
        let layerMs = [2.0, 2, 2, 2, 2, 2, 2, 2, 2, 12]
        let model = SyntheticModel(spec: try SyntheticSpec(layerCount: 10, layerMilliseconds: layerMs))
        let profile = try LayerProfile.measure(model, batchSize: 2, repetitions: 3)
        for (measured, known) in zip(profile.layerSeconds, layerMs) {
            // A sleep never ends early; on a loaded machine it may end late.
            #expect(measured >= known / 1000 && measured < known / 1000 + 0.005, "measured \(measured) s for a \(known) ms layer")
        }
        for stages in [2, 3, 4] {
            let split = try profile.partition(stages: stages)
            let bottleneck = split.stageCosts(layerMs).max()!
            #expect(bottleneck == Self.bestBottleneck(layerMs, stages: stages), "\(stages) stages: \(split)")
            let standard = try StagePartition.balanced(layerCount: 10, stages: stages, costs: model.costs)
            if stages < 4 { #expect(bottleneck < standard.stageCosts(layerMs).max()!, "auto beats the equal-layer split at \(stages) stages") }
        }
    }

    @Test func perLayerCostsReduceToTheAnalyticSplit() throws {
        let costs = StageCosts(layer: 3.5, embedding: 0, head: 28.3)
        for stages in 1...6 {
            #expect(try StagePartition.balanced(layerCosts: costs.perLayer(30), stages: stages)
                    == StagePartition.balanced(layerCount: 30, stages: stages, costs: costs))
        }
        #expect(try StagePartition(layerCounts: [2, 1], layerCount: 3).stageCosts([1, 2, 4]) == [3, 4])
    }
}
