import ArgumentParser
import Engine
import Foundation
import Model
import Transport

/// `brigade bench pipeline`: the executor itself — how full the pipe stays — in async and sync mode, in one run.
struct BenchPipeline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Measure the pipeline executor: throughput, each stage's busy time and the bottleneck-stage utilization.",
        discussion: """
            Runs the same workload (--requests prompts of --prompt-tokens random tokens, each generating exactly \
            --output-tokens tokens, greedy) once per mode, side by side in one process, and reports tokens/s, each \
            stage's busy fraction (time in its forward pass / wall time), the bottleneck-stage utilization (busy time \
            of the busiest stage / wall time: 1.0 is a perfect pipeline), the most micro-batches in flight, and the \
            async/sync throughput ratio. Use --model synthetic:… to measure the loop without model compute, e.g. \
            --model synthetic:layers=32,stage-ms=10,10,10,10,jitter=0.3 --pp 4.
            """
    )

    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Engine") var engine: EngineOptionGroup
    @Option(help: "Number of requests, all submitted at once.") var requests = 64
    @Option(help: "Prompt length of every request, in tokens.") var promptTokens = 16
    @Option(help: "Tokens every request generates.") var outputTokens = 32
    @Option(help: "Comma-separated executor modes to run: async, sync.") var modes = "async,sync"
    @Option(help: ArgumentHelp("Stage splits to compare side by side, separated by ';': default, auto (measured, see `brigade plan`) or layer counts, e.g. \"default;auto;4,5,1\".", valueName: "splits"))
    var partitions: String?
    @Option(help: "Seed of the random prompts.") var seed: UInt64 = 0
    @Flag(help: "Print one JSON object instead of tables.") var json = false

    struct Run {
        let mode: String
        /// The stage split, when several are compared.
        var split: String?
        var label: String { split.map { "\(mode) \($0)" } ?? mode }
        let wallSeconds: Double
        let generated: Int
        let stages: [StageStatistics]
        var tokensPerSecond: Double { Double(generated) / wallSeconds }
        var busy: [Double] { stages.map { $0.forwardSeconds / wallSeconds } }
        var bottleneckUtilization: Double { busy.max() ?? 0 }
    }

    func validate() throws {
        guard requests >= 1, promptTokens >= 1, outputTokens >= 1 else {
            throw ValidationError("--requests, --prompt-tokens and --output-tokens must be at least 1")
        }
        _ = try parsedModes
        if partitions != nil && engine.ppPartition != nil { throw ValidationError("give --partitions or --pp-partition, not both") }
        if let partitions, partitions.split(separator: ";").isEmpty { throw ValidationError("--partitions lists no split") }
    }

    var parsedModes: [String] {
        get throws {
            let list = modes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !list.isEmpty, list.allSatisfy({ $0 == "async" || $0 == "sync" }) else {
                throw ValidationError("--modes takes a comma-separated list of async and sync, got \"\(modes)\"")
            }
            return list
        }
    }

    func run() async throws {
        let loaded = try engine.loadOnEveryRank { try model.loadModel() }
        let pipeline = loaded.pipeline
        guard promptTokens + outputTokens <= pipeline.contextLength else {
            throw ValidationError("--prompt-tokens + --output-tokens exceed the model's context of \(pipeline.contextLength)")
        }
        var generator = SeededGenerator(seed: seed)
        let eos = Set(pipeline.eosTokenIDs)
        let prompts: [[Int32]] = (0..<requests).map { _ in
            (0..<promptTokens).map { _ in
                var token: Int32
                repeat { token = Int32(generator.next() % UInt64(pipeline.vocabSize)) } while eos.contains(token)
                return token
            }
        }
        let hops = try hopLatencies()
        var runs: [Run] = []
        // `--pp-partition auto` is measured once, so every mode runs the same split.
        let measured = engine.isAutoPartition && engine.pp > 1 ? try engine.agreedAutoPartition(pipeline, stages: engine.pp) : nil
        let splits = try partitions.map { try resolve($0, pipeline: pipeline) } ?? [(nil, measured)]
        for (name, split) in splits {
            for mode in try parsedModes {
                var options = try engine.options
                options.asynchronous = mode == "async"
                if let split { options.partition = split }
                // On MPI ranks other than 0 this runs the rank's share of the mode's pipeline and returns nil.
                guard let running = try engine.startEngine(pipeline, options: options) else { continue }
                var run = try await measure(mode: mode, engine: running, prompts: prompts)
                run.split = name.map { "\($0) (\(running.partition))" }
                runs.append(run)
                let variants = [try parsedModes.count > 1 ? mode : nil, splits.count > 1 ? name : nil].compactMap { $0 }
                engine.saveTrace(running.options.trace, variant: variants.isEmpty ? nil : variants.joined(separator: "-"))
            }
        }
        engine.finishTransport()
        if !runs.isEmpty { report(runs, pipeline: pipeline, hops: hops) }
    }

    /// `--partitions`: each split's name and layer counts (nil: the default split).
    private func resolve(_ text: String, pipeline: any PipelineModel) throws -> [(String?, [Int]?)] {
        try text.split(separator: ";").map { item in
            let name = item.trimmingCharacters(in: .whitespaces)
            switch name {
            case "default": return (name, nil)
            case "auto": return (name, try engine.agreedAutoPartition(pipeline, stages: engine.pp))
            default:
                do {
                    return (name, try StagePartition(parsing: name, layerCount: pipeline.layerCount).layerCounts)
                } catch {
                    throw ValidationError("--partitions: \(error)")
                }
            }
        }
    }

    /// Over MPI: the one-way latency of a small message from rank 0 to each other rank (every rank takes part).
    private func hopLatencies() throws -> [Double] {
        #if MPI
        if engine.usesMPI { return try MPIRuntime.world().measureHopLatency() }
        #endif
        return []
    }

    private func measure(mode: String, engine: InferenceEngine, prompts: [[Int32]]) async throws -> Run {
        defer { engine.shutdown(drain: false) }
        if !model.isSynthetic {  // page the weights in before timing
            _ = try await engine.generate(GenerationRequest(id: "warm-up", promptTokenIDs: prompts[0], maxTokens: 2))
        }
        let before = engine.stageStatistics
        let start = DispatchTime.now().uptimeNanoseconds
        let generated = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, prompt) in prompts.enumerated() {
                let stream = try engine.submit(GenerationRequest(id: "bench-\(index)", promptTokenIDs: prompt,
                                                                 maxTokens: outputTokens, ignoreEOS: true))
                group.addTask {
                    var count = 0
                    for try await output in stream { count += output.newTokenIDs.count }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let stages = zip(before, engine.stageStatistics).map { old, new in
            var delta = new
            delta.forwardSeconds -= old.forwardSeconds
            delta.upstreamWaitSeconds -= old.upstreamWaitSeconds
            delta.relayWaitSeconds -= old.relayWaitSeconds
            delta.idleSeconds -= old.idleSeconds
            delta.microBatches -= old.microBatches
            delta.tokens -= old.tokens
            delta.iterations -= old.iterations
            return delta
        }
        if let failure = engine.failure { throw CLIError(failure) }
        return Run(mode: mode, wallSeconds: wall, generated: generated, stages: stages)
    }

    private func report(_ runs: [Run], pipeline: any PipelineModel, hops: [Double]) {
        let ratio: Double? = {
            guard partitions == nil else { return nil }
            guard let async = runs.first(where: { $0.mode == "async" }), let sync = runs.first(where: { $0.mode == "sync" }) else { return nil }
            return async.tokensPerSecond / sync.tokensPerSecond
        }()
        if json {
            var object: [String: Any] = [
                "model": pipeline.name, "pp": engine.pp, "requests": requests, "prompt_tokens": promptTokens,
                "output_tokens": outputTokens, "max_num_seqs": engine.maxNumSeqs,
                "runs": runs.map { run -> [String: Any] in
                    ["mode": run.mode, "split": run.split ?? NSNull(), "wall_seconds": run.wallSeconds, "generated_tokens": run.generated,
                     "tokens_per_second": run.tokensPerSecond, "bottleneck_utilization": run.bottleneckUtilization,
                     "stage_busy": run.busy, "max_in_flight": run.stages.first?.maxInFlight ?? 0,
                     "micro_batches": run.stages.first?.microBatches ?? 0]
                },
            ]
            if let ratio { object["async_over_sync"] = ratio }
            if !hops.isEmpty { object["hop_latency_us"] = hops.map { $0 * 1e6 } }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        print("model: \(pipeline.name)")
        print("pp \(engine.pp), \(requests) requests × (\(promptTokens) prompt + \(outputTokens) output tokens), "
              + "--max-num-seqs \(engine.maxNumSeqs)\n")
        let width = max(6, runs.map(\.label.count).max() ?? 0)
        print("mode".padding(toLength: width, withPad: " ", startingAt: 0) + "  wall s   tokens/s   bottleneck util   max in flight   stage busy")
        for run in runs {
            let busy = run.busy.map { String(format: "%.3f", $0) }.joined(separator: " ")
            print(run.label.padding(toLength: width, withPad: " ", startingAt: 0)
                  + String(format: "  %6.2f  %9.1f   %15.3f   %13d   ", run.wallSeconds, run.tokensPerSecond,
                           run.bottleneckUtilization, run.stages.first?.maxInFlight ?? 0) + busy)
        }
        if let ratio { print(String(format: "\nasync / sync throughput: %.3f×", ratio)) }
        if partitions != nil, let first = runs.first {
            for run in runs.dropFirst() where run.mode == first.mode {
                print(String(format: "\n%@ / %@ throughput: %.3f×, bottleneck utilization %.3f vs %.3f", run.label, first.label,
                             run.tokensPerSecond / first.tokensPerSecond, run.bottleneckUtilization, first.bottleneckUtilization))
            }
        }
        if !hops.isEmpty {
            print("one-way latency of a small message from rank 0 (median of 64 round trips / 2): "
                  + hops.enumerated().map { String(format: "rank %d %.1f µs", $0.offset + 1, $0.element * 1e6) }.joined(separator: ", "))
        }
        for run in runs {
            print("\n\(run.label):")
            print(StageTable(run.stages, wallSeconds: run.wallSeconds).text, terminator: "")
        }
    }
}
