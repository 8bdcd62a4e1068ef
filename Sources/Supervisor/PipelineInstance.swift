import Engine
import Foundation
import Kernels
import Transport

/// One running pipeline a supervisor submits to: an `InferenceEngine` in this process, or an `mpirun` job whose
/// rank 0 talks to the supervisor over a link. It lives until it fails or is stopped; a new one replaces it.
public protocol PipelineInstance: Sendable {
    /// The host of each stage, rank 0 first.
    var hosts: [String] { get }
    var limits: RequestLimits { get }
    var statistics: EngineStatistics { get }
    var stageStatistics: [StageStatistics] { get }
    /// Submits a checked request (as `InferenceEngine.submit`).
    func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<RequestOutput, any Error>
    /// Calls `handler` once, with what was seen, when the pipeline fails (from whichever thread notices).
    func onFailure(_ handler: @escaping @Sendable (String) -> Void)
    /// Makes sure every rank of the pipeline is gone, then says what failed: which stages, and why. Every stream it
    /// returned has ended (with `EngineError.failed`) when this returns.
    func terminate(reason: String) async -> PipelineFault
    /// Stops the pipeline (`drain`: running requests finish first) and waits for it.
    func stop(drain: Bool)
}

/// What brought a pipeline down.
public struct PipelineFault: Sendable, Equatable, CustomStringConvertible {
    /// For the log: which rank, on which host, and how it failed.
    public var message: String
    /// Stages (indices into the instance's `hosts`) whose slots must not be used again: the rank died or hung there.
    /// Empty when the failure names no stage (an in-process fault): the same hosts are used again.
    public var failedStages: [Int]

    public init(message: String, failedStages: [Int]) {
        self.message = message
        self.failedStages = failedStages
    }

    public var description: String { message }
}

/// Starts pipelines: one stage per host slot given.
public protocol PipelineLauncher: Sendable {
    /// Starts a pipeline with one stage on each of `hosts` (rank 0 on the first) and returns once it takes requests.
    /// - Throws: `LaunchError` saying why this pipeline cannot run (and which host, when one is to blame).
    func launch(on hosts: [String]) async throws(LaunchError) -> any PipelineInstance
    /// Whether a pipeline could start a rank on `host` now (a host left out after a failure answers again).
    func probe(host: String) async -> Bool
}

extension PipelineLauncher {
    public func probe(host: String) async -> Bool { true }
}

/// A pipeline that could not be started.
public struct LaunchError: Error, CustomStringConvertible, Equatable {
    public var message: String
    /// Slots (indices into the hosts given to `launch`) that are to blame and must be left out; empty: none is.
    public var failedStages: [Int]
    /// Whether starting the same pipeline again cannot help (the model does not fit, a bad option): no retry.
    public var isPermanent: Bool

    public init(_ message: String, failedStages: [Int] = [], isPermanent: Bool = false) {
        self.message = message
        self.failedStages = failedStages
        self.isPermanent = isPermanent
    }

    public var description: String { message }
}

/// Pipelines whose ranks are threads of this process. A fault here (a failed forward pass) names no host: the
/// supervisor starts the same pipeline again and resumes its requests on it.
public struct InProcessLauncher: PipelineLauncher {
    /// Starts an engine of `stages` stages (with the caller's start-up checks).
    let start: @Sendable (_ stages: Int) throws -> InferenceEngine

    public init(start: @escaping @Sendable (_ stages: Int) throws -> InferenceEngine) {
        self.start = start
    }

    public func launch(on hosts: [String]) async throws(LaunchError) -> any PipelineInstance {
        do {
            return InProcessInstance(engine: try start(hosts.count), hosts: hosts)
        } catch {
            throw LaunchError("\(error)", isPermanent: true)
        }
    }
}

/// An `InferenceEngine` of this process as a supervised pipeline.
public final class InProcessInstance: PipelineInstance {
    public let engine: InferenceEngine
    public let hosts: [String]

    public init(engine: InferenceEngine, hosts: [String]) {
        self.engine = engine
        self.hosts = hosts
    }

    public var limits: RequestLimits { engine.limits }
    public var statistics: EngineStatistics { engine.statistics }
    public var stageStatistics: [StageStatistics] { engine.stageStatistics }

    public func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<RequestOutput, any Error> {
        try engine.submit(request)
    }

    public func onFailure(_ handler: @escaping @Sendable (String) -> Void) { engine.onFailure(handler) }

    public func terminate(reason: String) async -> PipelineFault {
        let engine = self.engine
        engine.fail(reason)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { engine.shutdown(drain: false); done.resume() }.start()
        }
        return PipelineFault(message: engine.failure ?? reason, failedStages: [])
    }

    public func stop(drain: Bool) { engine.shutdown(drain: drain) }
}
