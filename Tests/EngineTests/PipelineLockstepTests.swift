import Engine
import Foundation
import Kernels
import Model
import Testing
import Transport

/// Collects every rank's per-iteration records.
final class Recorder: PipelineObserver {
    private let records = Locked<[IterationRecord]>([])
    /// Called with every record after it is kept (on the rank's thread).
    let onRecord: @Sendable (IterationRecord) -> Void

    init(onRecord: @escaping @Sendable (IterationRecord) -> Void = { _ in }) {
        self.onRecord = onRecord
    }

    func iterationEnded(_ record: IterationRecord) {
        records.withLock { $0.append(record) }
        onRecord(record)
    }

    var all: [IterationRecord] { records.withLock { $0 } }

    /// Records of each rank, in iteration order.
    func byRank(_ stages: Int) -> [[IterationRecord]] {
        let all = self.all
        return (0..<stages).map { rank in all.filter { $0.rank == rank }.sorted { $0.iteration < $1.iteration } }
    }
}

/// Invariants 1–5, 7, 10, 11 and 13 under random stage delays, bursts, idle gaps, cancellations and shutdown under
/// load: every rank's record of every iteration must be identical (same batch, same executed batches handled, same
/// request-table hash — which covers states, token counts, in-flight marks and KV block ids).
@Suite struct PipelineLockstepTests {
    static func engine(stages: Int, recorder: Recorder, asynchronous: Bool = true,
                       configure: (inout EngineOptions) -> Void = { _ in }) throws -> InferenceEngine {
        let spec = try SyntheticSpec(parsing: "synthetic:layers=16,stage-ms=0.4,per-token-us=3,jitter=0.9,seed=\(stages),hidden=32")
        var options = EngineOptions()
        options.pipelineStages = stages
        options.asynchronous = asynchronous
        options.maxSequences = 6
        options.maxBatchedTokens = 40
        options.kvCacheMiB = 4
        options.observer = recorder
        options.watchdogSeconds = 30
        configure(&options)
        return try InferenceEngine.inProcess(model: SyntheticModel(spec: spec), options: options)
    }

    static func request(_ i: Int, vocab: Int = 512) -> GenerationRequest {
        let length = 1 + (i * 37) % 90
        return GenerationRequest(id: "q\(i)", promptTokenIDs: (0..<length).map { Int32(($0 + i) % (vocab - 1)) },
                                 maxTokens: 2 + i % 9)
    }

    /// Checks the records of a finished engine; returns the iterations that launched a micro-batch.
    @discardableResult
    static func checkLockstep(_ recorder: Recorder, stages: Int, blockCount: Int? = nil, windowBlockCount: Int? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) -> Int {
        let ranks = recorder.byRank(stages)
        let reference = ranks[0]
        #expect(!reference.isEmpty, sourceLocation: sourceLocation)
        #expect(reference.last?.stops == true, "the last record is the drain after the stop", sourceLocation: sourceLocation)
        for (rank, records) in ranks.enumerated() {
            #expect(records.count == reference.count, "rank \(rank) ran \(records.count) iterations, rank 0 \(reference.count)",
                    sourceLocation: sourceLocation)
            #expect(records.map(\.iteration) == Array(0..<records.count), "rank \(rank) iterations", sourceLocation: sourceLocation)
            for (mine, theirs) in zip(records, reference) where mine != IterationRecord(copying: theirs, rank: rank) {
                Issue.record("rank \(rank) differs from rank 0 at iteration \(mine.iteration):\n\(mine)\n\(theirs)",
                             sourceLocation: sourceLocation)
                break
            }
            if let blockCount { #expect(records.last?.freeBlocks == blockCount, "rank \(rank) leaked KV blocks", sourceLocation: sourceLocation) }
            if let windowBlockCount {
                #expect(records.last?.freeWindowBlocks == windowBlockCount, "rank \(rank) leaked sliding-window KV blocks",
                        sourceLocation: sourceLocation)
            }
            #expect(records.last?.inFlight == 0, sourceLocation: sourceLocation)
        }
        // Every launched micro-batch is handled exactly once, in launch order (relay completeness, FIFO, count sum).
        let launched = reference.filter { !$0.batch.isEmpty }.map(\.iteration)
        let handled = reference.flatMap(\.handled)
        #expect(handled == launched, sourceLocation: sourceLocation)
        return launched.count
    }

    @Test(arguments: [2, 3, 4, 8])
    func ranksStayInLockstepThroughBurstsGapsAndCancellations(stages: Int) async throws {
        let recorder = Recorder()
        let engine = try Self.engine(stages: stages, recorder: recorder)
        // A burst, a cancellation while it runs, an idle gap, a second burst.
        let first = (0..<24).map { Self.request($0) }
        async let burst = runAll(engine, first)
        try await Task.sleep(for: .milliseconds(15))
        engine.cancel("q3")
        engine.cancel("q10")
        let results = try await burst
        #expect(results.count == 24)
        #expect(results.values.allSatisfy { $0.finishReason != .abort || ["q3", "q10"].contains($0.requestID) })
        try await Task.sleep(for: .milliseconds(60))
        let second = try await runAll(engine, (24..<40).map { Self.request($0) })
        #expect(second.values.allSatisfy { $0.finishReason == .length || $0.finishReason == .stop })
        engine.shutdown()
        let launched = Self.checkLockstep(recorder, stages: stages, blockCount: engine.blockCount)
        #expect(launched > stages)
    }

    @Test(arguments: [2, 4, 8])
    func abortingUnderLoadStopsEveryRankInTheSameIteration(stages: Int) async throws {
        // The abort comes when rank 0 ends iteration 40, with requests still running: a point in the engine's own
        // progress, however long this test's task is starved on a loaded machine.
        let box = Locked<InferenceEngine?>(nil)
        let recorder = Recorder { record in
            guard record.rank == 0, record.iteration == 40, let engine = box.withLock({ $0 }) else { return }
            Thread { engine.shutdown(drain: false) }.start()  // not on the rank's thread: shutdown joins it
        }
        let engine = try Self.engine(stages: stages, recorder: recorder) { $0.kvCacheMiB = 64 }
        box.withLock { $0 = engine }
        let streams = try (0..<30).map { i in
            var request = Self.request(i)
            request.maxTokens = 3000
            request.ignoreEOS = true
            return try engine.submit(request)
        }
        var reasons: [FinishReason?] = []
        for stream in streams {
            var result = GenerationResult(requestID: "")
            for try await output in stream { result.append(output) }
            reasons.append(result.finishReason)
        }
        engine.shutdown(drain: false)
        #expect(reasons.contains(.abort))
        #expect(throws: EngineError.shutDown) { try engine.submit(Self.request(99)) }
        Self.checkLockstep(recorder, stages: stages, blockCount: engine.blockCount)
    }

    @Test func syncModeKeepsLockstepAndAtMostPPBatchesInFlight() async throws {
        let recorder = Recorder()
        let engine = try Self.engine(stages: 3, recorder: recorder, asynchronous: false)
        _ = try await runAll(engine, (0..<20).map { Self.request($0) })
        engine.shutdown()
        Self.checkLockstep(recorder, stages: 3, blockCount: engine.blockCount)
        #expect(recorder.all.allSatisfy { $0.inFlight <= 3 })
        #expect(engine.stageStatistics.allSatisfy { $0.maxInFlight <= 3 })
    }

    @Test func preemptionUnderKVPressureKeepsLockstepAndCompletesEveryRequest() async throws {
        let recorder = Recorder()
        // 1 MiB of KV at 8 KiB per token (16 layers × kv-dim 64 × 2 × 4 B): 8 blocks of 16 tokens for 40 requests.
        let engine = try Self.engine(stages: 4, recorder: recorder) { $0.kvCacheMiB = 1; $0.maxSequences = 16 }
        let results = try await runAll(engine, (0..<40).map { Self.request($0) })
        engine.shutdown()
        #expect(results.values.allSatisfy { $0.finishReason == .length || $0.finishReason == .stop })
        #expect(engine.statistics.preemptions > 0, "the cache is small enough that requests must be preempted")
        Self.checkLockstep(recorder, stages: 4, blockCount: engine.blockCount)
    }
}

extension IterationRecord {
    /// `other` as rank `rank` should have recorded it.
    init(copying other: IterationRecord, rank: Int) {
        self = other
        self.rank = rank
    }
}
