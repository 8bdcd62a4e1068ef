import Engine
import Foundation
import Kernels
import Logging
import Model
import Supervisor
import Testing
import Transport

/// The supervisor's guarantee on in-process pipelines: a pipeline that fails mid-run costs its requests a pause and
/// nothing else (every stream completes with the tokens it has on a run with no fault), repeated failures are
/// survived, and when no pipeline can start the waiting requests end with an error instead of hanging.
@Suite struct SupervisorTests {
    static let spec = "synthetic:layers=6,stage-ms=1,vocab=300"

    /// Launches in-process pipelines and keeps each one. Pipeline `n` (counting from 0) fails as a dead rank would
    /// when rank 0 ends iteration `faults[n]`: at a point in the engine's own progress, however far the test's
    /// clients lag behind on a loaded machine. With `failingLaunches`, that many launches after the first fail.
    final class RecordingLauncher: PipelineLauncher {
        let instances = Locked<[InProcessInstance]>([])
        let launchFailures: Locked<Int>
        let permanent: Bool
        let model: SyntheticModel
        let faults: [Int?]

        /// The stage a fault is blamed on (its slot is left out), and whether probed hosts answer.
        let blame: Int?
        let answers = Locked(false)
        let probes = Locked<[String]>([])

        init(faults: [Int?] = [], failingLaunches: Int = 0, permanent: Bool = false, blame: Int? = nil) throws {
            self.blame = blame
            model = SyntheticModel(spec: try SyntheticSpec(parsing: SupervisorTests.spec))
            self.faults = faults
            launchFailures = Locked(failingLaunches)
            self.permanent = permanent
        }

        func launch(on hosts: [String]) async throws(LaunchError) -> any PipelineInstance {
            let index = instances.withLock { $0.count }
            let fail = index > 0 && launchFailures.withLock { count in
                defer { count -= 1 }
                return count > 0
            }
            if fail { throw LaunchError("injected launch failure", isPermanent: permanent) }
            var options = EngineOptions()
            options.pipelineStages = hosts.count
            options.maxBatchedTokens = 64
            let fault = index < faults.count ? faults[index] : nil
            let box = Locked<InferenceEngine?>(nil)
            if let fault { options.observer = FaultAtIteration(iteration: fault) { box.withLock { $0 }?.fail("injected fault: rank 1 died") } }
            do {
                let engine = try InferenceEngine.inProcess(model: model, options: options)
                box.withLock { $0 = engine }
                let instance = InProcessInstance(engine: engine, hosts: hosts)
                instances.withLock { $0.append(instance) }
                return blame.map { BlamingInstance(inner: instance, stage: $0) } ?? instance
            } catch {
                throw LaunchError("\(error)", isPermanent: true)
            }
        }

        func probe(host: String) async -> Bool {
            probes.withLock { $0.append(host) }
            return answers.withLock { $0 }
        }
    }

    /// An in-process pipeline whose failures are blamed on one stage, as a dead rank's are.
    struct BlamingInstance: PipelineInstance {
        let inner: InProcessInstance
        let stage: Int
        var hosts: [String] { inner.hosts }
        var limits: RequestLimits { inner.limits }
        var statistics: EngineStatistics { inner.statistics }
        var stageStatistics: [StageStatistics] { inner.stageStatistics }
        func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<RequestOutput, any Error> { try inner.submit(request) }
        func onFailure(_ handler: @escaping @Sendable (String) -> Void) { inner.onFailure(handler) }
        func terminate(reason: String) async -> PipelineFault {
            var fault = await inner.terminate(reason: reason)
            fault.failedStages = [stage]
            return fault
        }
        func stop(drain: Bool) { inner.stop(drain: drain) }
    }

    /// Calls `fault` once, when rank 0 ends `iteration`.
    struct FaultAtIteration: PipelineObserver {
        let iteration: Int
        let fault: @Sendable () -> Void
        func iterationEnded(_ record: IterationRecord) {
            if record.rank == 0 && record.iteration == iteration { fault() }
        }
    }

    static func requests() -> [GenerationRequest] {
        (0..<16).map { i in
            let prompt = (0..<(3 + i * 7)).map { Int32(1 + ($0 * 13 + i) % 290) }
            let sampling = i % 2 == 0 ? SamplingParameters.greedy
                : SamplingParameters(temperature: 0.8, topP: 0.9, seed: i % 4 == 1 ? UInt64(i) : nil, logprobs: i % 3 == 0 ? 2 : nil)
            return GenerationRequest(id: "s\(i)", promptTokenIDs: prompt, sampling: sampling, maxTokens: 40 + 2 * i, ignoreEOS: true)
        }
    }

    static func supervisor(_ launcher: RecordingLauncher, stages: Int, hosts: [String]? = nil) async throws -> Supervisor {
        var policy = Supervisor.Policy()
        policy.firstBackoffSeconds = 0.01
        policy.probeIntervalSeconds = 0.05
        return try await Supervisor(launcher: launcher, hosts: hosts ?? Array(repeating: "localhost", count: stages), encode: { _ in [1] },
                                    policy: policy, logger: Logger(label: "test"))
    }

    /// Runs `requests` through `service` concurrently; every result by request id.
    static func run(_ service: any GenerationService, _ requests: [GenerationRequest]) async throws -> [String: GenerationResult] {
        try await withThrowingTaskGroup(of: GenerationResult.self) { group in
            for request in requests {
                let stream = try service.submit(request)
                group.addTask {
                    var result = GenerationResult(requestID: request.id)
                    for try await output in stream { result.append(output) }
                    return result
                }
            }
            var results: [String: GenerationResult] = [:]
            for try await result in group { results[result.requestID] = result }
            return results
        }
    }

    /// The reference: the same requests with fixed seeds on an unsupervised engine.
    static func reference(_ requests: [GenerationRequest]) async throws -> [String: GenerationResult] {
        var options = EngineOptions()
        options.maxBatchedTokens = 64
        let engine = try InferenceEngine(model: SyntheticModel(spec: try SyntheticSpec(parsing: spec)), options: options)
        defer { engine.shutdown() }
        return try await run(engine, requests)
    }

    /// Requests without a seed get one at admission; pin them so the reference can be computed.
    static func seeded(_ requests: [GenerationRequest]) -> [GenerationRequest] {
        requests.map { request in
            var request = request
            if request.sampling.temperature > 0 && request.sampling.seed == nil { request.sampling.seed = 7 }
            return request
        }
    }

    static func expectIdentical(_ results: [String: GenerationResult], _ reference: [String: GenerationResult]) {
        #expect(results.count == reference.count)
        for (id, expected) in reference {
            guard let result = results[id] else { Issue.record("\(id) has no result"); continue }
            #expect(result.tokens == expected.tokens, "\(id): tokens")
            #expect(result.logprobs == expected.logprobs, "\(id): log-probs")
            #expect(result.text == expected.text, "\(id): text")
            #expect(result.finishReason == expected.finishReason && result.usage.promptTokens == expected.usage.promptTokens
                    && result.usage.completionTokens == expected.usage.completionTokens, "\(id): finish and usage")
        }
    }

    @Test(arguments: [1, 3])
    func requestsSurviveAPipelineFailureTokenIdentically(stages: Int) async throws {
        let requests = Self.seeded(Self.requests())
        let reference = try await Self.reference(requests)
        let launcher = try RecordingLauncher(faults: [12])
        let supervisor = try await Self.supervisor(launcher, stages: stages)
        defer { supervisor.shutdown(drain: false) }
        let results = try await Self.run(supervisor, requests)
        Self.expectIdentical(results, reference)
        let status = try #require(supervisor.supervision)
        #expect(status.failures == 1 && status.restarts == 1 && status.stages == stages && status.state == "serving")
        #expect(status.resumedRequests > 0 && status.lastRecoverySeconds != nil)
        #expect(launcher.instances.withLock { $0.count } == 2)
    }

    @Test func twoFailuresInARowAndARequestThatArrivesDuringRecovery() async throws {
        let requests = Self.seeded(Self.requests())
        let reference = try await Self.reference(requests)
        // The first pipeline fails, two launches fail, the second pipeline fails too.
        let launcher = try RecordingLauncher(faults: [12, 8], failingLaunches: 2)
        let supervisor = try await Self.supervisor(launcher, stages: 2)
        defer { supervisor.shutdown(drain: false) }
        let results = try await Self.run(supervisor, Array(requests.prefix(12)))
        let late = try await Self.run(supervisor, Array(requests.suffix(4)))
        Self.expectIdentical(results.merging(late) { a, _ in a }, reference)
        let status = try #require(supervisor.supervision)
        #expect(status.failures == 2 && status.restarts == 2, "\(status)")
    }

    @Test func whenNoPipelineCanStartWaitingRequestsFailInsteadOfHanging() async throws {
        let launcher = try RecordingLauncher(faults: [6], failingLaunches: 100, permanent: true)
        let supervisor = try await Self.supervisor(launcher, stages: 2)
        defer { supervisor.shutdown(drain: false) }
        let requests = Self.seeded(Self.requests())
        await #expect(throws: EngineError.self) { _ = try await Self.run(supervisor, requests) }
        let reason = try #require(supervisor.unavailableReason)
        #expect(reason.contains("no pipeline can be formed") && reason.contains("injected launch failure"))
        #expect(throws: EngineError.failed(reason)) { _ = try supervisor.submit(requests[0]) }
        #expect(supervisor.supervision?.state.hasPrefix("unavailable") == true)
    }

    @Test func aFailedHostIsLeftOutUntilItAnswersThenThePipelineGrowsBackWhenIdle() async throws {
        let requests = Self.seeded(Self.requests())
        let reference = try await Self.reference(requests)
        let launcher = try RecordingLauncher(faults: [12], blame: 1)
        let supervisor = try await Self.supervisor(launcher, stages: 3, hosts: ["a", "b", "c"])
        defer { supervisor.shutdown(drain: false) }
        Self.expectIdentical(try await Self.run(supervisor, requests), reference)
        #expect(supervisor.supervision?.hosts == ["a", "c"], "host b's rank failed: it is left out")
        // b does not answer: the pipeline stays on a and c.
        try await Task.sleep(for: .milliseconds(200))
        #expect(launcher.probes.withLock { $0 }.allSatisfy { $0 == "b" } && !launcher.probes.withLock { $0 }.isEmpty)
        #expect(supervisor.supervision?.hosts == ["a", "c"])
        // b answers again: with nothing running, the pipeline re-forms on a, b, c (in the order given).
        launcher.answers.withLock { $0 = true }
        for _ in 0..<200 where supervisor.supervision?.hosts != ["a", "b", "c"] { try await Task.sleep(for: .milliseconds(10)) }
        #expect(supervisor.supervision?.hosts == ["a", "b", "c"] && supervisor.supervision?.state == "serving")
        #expect(supervisor.supervision?.restarts == 1, "a planned re-formation is not a restart after a failure")
        Self.expectIdentical(try await Self.run(supervisor, requests.map { var r = $0; r.id += "-again"; return r }),
                             Dictionary(uniqueKeysWithValues: reference.map { ($0.key + "-again", Self.renamed($0.value, $0.key + "-again")) }))
    }

    static func renamed(_ result: GenerationResult, _ id: String) -> GenerationResult {
        var result = result
        result.requestID = id
        return result
    }

    @Test func aCancelledRequestLeavesTheJournal() async throws {
        let launcher = try RecordingLauncher()
        let supervisor = try await Self.supervisor(launcher, stages: 2)
        defer { supervisor.shutdown(drain: false) }
        var request = Self.requests()[0]
        request.maxTokens = 10_000
        do {
            let stream = try supervisor.submit(request)
            for try await output in stream where !output.newTokenIDs.isEmpty { break }
        }
        // The stream is gone: the id is free again once the pipeline has dropped the request.
        var resubmitted = false
        for _ in 0..<200 where !resubmitted {
            resubmitted = (try? supervisor.submit(request)) != nil
            if !resubmitted { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(resubmitted)
    }
}
