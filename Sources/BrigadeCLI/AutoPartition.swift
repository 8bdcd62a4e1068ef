import ArgumentParser
import Engine
import Foundation
import Model
import Transport

extension EngineOptionGroup {
    /// `--pp-partition auto`: the split that minimises the slowest stage under this machine's measured layer times.
    /// Over MPI, rank 0 measures and tells the other ranks, so every rank runs the same split.
    func agreedAutoPartition(_ model: any PipelineModel, stages: Int) throws -> [Int] {
        #if MPI
        if usesMPI {
            let world = try MPIRuntime.world()
            if world.rank > 0 {
                let text = String(decoding: try world.receive(from: 0, tag: .termination, timeout: 600), as: UTF8.self)
                return try StagePartition(parsing: text, layerCount: model.layerCount).layerCounts
            }
            let counts = try autoPartition(model, stages: stages).layerCounts
            let text = counts.map(String.init).joined(separator: ",")
            for peer in 1..<world.size { try world.send(Array(text.utf8), to: peer, tag: .termination).wait() }
            return counts
        }
        #endif
        return try autoPartition(model, stages: stages).layerCounts
    }

    /// Profiles `model` and prints the chosen split with its predicted stage times next to the default split's.
    func autoPartition(_ model: any PipelineModel, stages: Int) throws -> StagePartition {
        let plan = try PartitionPlan(model: model, stages: stages, batchSize: min(maxNumSeqs, 16))
        FileHandle.standardError.write(Data("--pp-partition auto: \(plan.summary)\n".utf8))
        return plan.auto
    }
}

/// The default and the measured ("auto") split of a model's layers, with each stage's predicted time per
/// micro-batch under the measured layer times.
struct PartitionPlan {
    let profile: LayerProfile
    let standard: StagePartition
    let auto: StagePartition

    init(model: any PipelineModel, stages: Int, batchSize: Int) throws {
        profile = try LayerProfile.measure(model, batchSize: batchSize)
        standard = try StagePartition.balanced(layerCount: model.layerCount, stages: stages, costs: model.costs)
        auto = try profile.partition(stages: stages)
    }

    /// Predicted milliseconds per stage.
    func milliseconds(_ partition: StagePartition) -> [Double] {
        partition.stageCosts(profile.layerSeconds).map { $0 * 1000 }
    }

    static func format(_ values: [Double]) -> String { values.map { String(format: "%.2f", $0) }.joined(separator: ", ") }

    var summary: String {
        let mine = milliseconds(auto), theirs = milliseconds(standard)
        let gain = (theirs.max() ?? 0) / max(mine.max() ?? 1, 1e-12)
        return "split \(auto) (stages \(Self.format(mine)) ms per micro-batch of \(profile.batchSize)); "
            + "the default split \(standard) predicts \(Self.format(theirs)) ms: \(String(format: "%.2f", gain))x on the slowest stage"
    }
}

/// `brigade plan`: how `--pp-partition auto` would split the model, and why.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time every layer of the model on this machine and print the stage split --pp-partition auto would use.",
        discussion: """
            The model runs once as a chain of one-layer stages on a batch of --batch-size single-token sequences (the \
            first layer's time includes the embedding, the last layer's the output head and logits); the split that \
            minimises the slowest stage under those times is compared with the default split (estimated from \
            multiply-add counts).
            """
    )

    @OptionGroup(title: "Model") var model: ModelOptions
    @Option(help: "Pipeline stages.") var pp = 2
    @Option(help: "Sequences in the profiled batch (one decode token each).") var batchSize = 16
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func validate() throws {
        guard (1...64).contains(pp) else { throw ValidationError("--pp must be between 1 and 64, got \(pp)") }
        guard (1...4096).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 4096") }
    }

    func run() throws {
        let loaded = try model.loadModel()
        let plan = try PartitionPlan(model: loaded.pipeline, stages: pp, batchSize: batchSize)
        let auto = plan.milliseconds(plan.auto), standard = plan.milliseconds(plan.standard)
        if json {
            let object: [String: Any] = [
                "layer_ms": plan.profile.layerSeconds.map { $0 * 1000 }, "batch_size": batchSize,
                "auto": ["partition": plan.auto.layerCounts, "stage_ms": auto],
                "default": ["partition": plan.standard.layerCounts, "stage_ms": standard],
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("layer times (ms per micro-batch of \(batchSize); first with embedding, last with head):")
        print("  " + PartitionPlan.format(plan.profile.layerSeconds.map { $0 * 1000 }))
        print("stage  default layers   ms      auto layers   ms")
        for stage in 0..<pp {
            print(String(format: "%5d  %6@ %10.2f  %11@ %8.2f", stage, plan.standard.ranges[stage].description as NSString,
                         standard[stage], plan.auto.ranges[stage].description as NSString, auto[stage]))
        }
        print(String(format: "slowest stage: default %.2f ms, auto %.2f ms (%.2fx)", standard.max() ?? 0, auto.max() ?? 0,
                     (standard.max() ?? 0) / max(auto.max() ?? 1, 1e-12)))
        print("use it with --pp \(pp) --pp-partition auto, or --pp-partition \(plan.auto)")
    }
}
