import Foundation
import Kernels

/// The ranks one process hosts: it checks the options, splits the layers, builds each hosted rank's stage, relay and
/// monitor (duplicating relay channels on the calling thread, in rank order, before any thread starts), and starts
/// and joins the rank threads and the watchdog.
final class PipelineLaunch: Sendable {
    let partition: StagePartition
    let layout: KVCacheLayout
    let lifeline = Lifeline()
    let monitors: [RankMonitor]
    let watchdog: Watchdog
    private let setups: [RankSetup]
    private let exited = Countdown()

    init(model: any PipelineModel, options: EngineOptions, hosted: [(Int, (any Communicator)?)], inbox: Inbox?) throws {
        guard options.blockSize > 0, options.maxBatchedTokens > 0, options.maxSequences > 0, options.kvCacheMiB > 0,
              options.pipelineStages > 0 else {
            throw EngineError.invalidRequest(parameter: "options", message: "engine options must all be positive")
        }
        let stages = options.pipelineStages
        partition = try options.partition.map { counts throws(PartitionError) in
            try StagePartition(layerCounts: counts, layerCount: model.layerCount)
        } ?? StagePartition.balanced(layerCount: model.layerCount, stages: stages, costs: model.costs)
        guard partition.stageCount == stages else {
            throw PartitionError("the partition \(partition) has \(partition.stageCount) stages but --pp is \(stages)")
        }
        layout = KVCacheLayout(model: model, options: options)

        var setups: [RankSetup] = []
        for (rank, communicator) in hosted {
            let layers = partition.ranges[rank]
            let blocks = options.kvBlocksByRank?[rank] ?? layout.blockCount
            let relay = Relay(rank: rank, size: stages, channel: try communicator?.duplicate(), lifeline: lifeline,
                              slotCount: options.slotCount(stages: stages), trace: options.trace)
            options.trace?.describe(rank: rank, layers: layers)
            let stage = try model.makeStage(rank: rank, stageCount: stages, layers: layers, blockSize: options.blockSize,
                                            blockCount: blocks, windowBlockCount: layout.windowBlockCount)
            setups.append(RankSetup(rank: rank, size: stages, layers: layers, stage: stage, model: model,
                                    communicator: communicator, relay: relay, monitor: RankMonitor(rank: rank, layers: layers),
                                    lifeline: lifeline, options: options, blockCount: blocks, layout: layout,
                                    inbox: rank == 0 ? inbox : nil))
        }
        self.setups = setups
        monitors = setups.map(\.monitor)
        watchdog = Watchdog(monitors: monitors, lifeline: lifeline, timeout: options.watchdogSeconds, size: stages)
    }

    /// Starts every hosted rank's relay and loop thread, and the watchdog. Ranks hosted together split the kernel
    /// threads (`KernelThreads.split`): each runs its kernels on a pool of its own, so they neither wait for one
    /// another's pool nor oversubscribe the cores.
    func start() {
        exited.add(setups.count)
        let budgets = KernelThreads.split(WorkerPool.shared.threadCount, ranks: setups.count)
        for (setup, threads) in zip(setups, budgets) {
            setup.relay.start()
            let pool = setups.count > 1 ? WorkerPool(threads: threads) : WorkerPool.shared
            let thread = Thread { [exited] in
                WorkerPool.withCurrent(pool) { PipelineLoop(setup: setup).run() }
                exited.done()
            }
            thread.name = "brigade-rank-\(setup.rank)"
            thread.stackSize = 8 << 20
            thread.start()
        }
        watchdog.start()
    }

    /// Waits for every hosted rank to stop (after a failure, for at most a few more seconds: a rank stuck in a
    /// forward pass cannot be interrupted).
    func join() {
        while !exited.wait(seconds: 1) {
            if lifeline.failure != nil && !exited.wait(seconds: 5) { break }
        }
        watchdog.stop()
    }
}

/// A pipeline rank other than 0 running in its own process (rank 0 is an `InferenceEngine` in another process):
/// it follows rank 0's plans until the pipeline stops.
public enum PipelineWorker {
    /// Runs rank `communicator.rank` of `options.pipelineStages` until rank 0 stops the pipeline; returns this
    /// rank's statistics.
    /// - Throws: `EngineError.failed` naming the rank, step and cause if the pipeline failed.
    public static func run(model: any PipelineModel, options: EngineOptions, communicator: any Communicator) throws -> StageStatistics {
        guard communicator.size == options.pipelineStages, communicator.rank > 0, communicator.rank < communicator.size else {
            throw EngineError.failed("rank \(communicator.rank) of \(communicator.size) cannot be a worker of a "
                                     + "\(options.pipelineStages)-stage pipeline (--pp must equal the number of processes)")
        }
        let launch = try PipelineLaunch(model: model, options: options, hosted: [(communicator.rank, communicator)], inbox: nil)
        launch.start()
        launch.join()
        if let failure = launch.lifeline.failure { throw EngineError.failed(failure) }
        return launch.monitors[0].statistics
    }
}

/// Counts running threads down to zero. `@unchecked Sendable`: `remaining` is only touched with `condition` locked.
final class Countdown: @unchecked Sendable {
    private let condition = NSCondition()
    private var remaining = 0

    func add(_ count: Int) {
        condition.lock()
        remaining += count
        condition.unlock()
    }

    func done() {
        condition.lock()
        remaining -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits up to `seconds` for the count to reach zero; returns whether it did.
    func wait(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while remaining > 0 {
            if !condition.wait(until: deadline) { return remaining == 0 }
        }
        return true
    }
}
