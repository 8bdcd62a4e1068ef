import Engine
import Foundation
import Kernels
import Logging

/// Keeps requests alive across the death of the pipeline that runs them.
///
/// The supervisor lives outside the pipeline. It journals every unfinished request (its tokenized prompt, sampling
/// parameters with the seed fixed at admission, and the tokens already streamed), passes it to the current pipeline
/// and streams the pipeline's updates on to the client. When the pipeline fails (a rank dies, hangs, or loses its
/// host), the supervisor ends it, leaves out the slots that failed, starts a pipeline on the slots left (fewer stages,
/// a new partition) and resubmits every unfinished request as its prompt plus the tokens already streamed. Brigade's
/// output does not depend on batching or on the pipeline split, and a token's random draw depends only on the seed
/// and its position, so each stream continues with exactly the tokens it would have had: the client sees a pause.
public final class Supervisor: GenerationService {
    /// How hard the supervisor tries.
    public struct Policy: Sendable {
        /// Launch attempts per recovery before the waiting requests are failed with 503.
        public var maxAttempts = 4
        /// Back-off before the second attempt; doubled for each further one, up to `maxBackoffSeconds`.
        public var firstBackoffSeconds = 0.25
        public var maxBackoffSeconds = 4.0
        /// A request resubmitted this many times in a row without streaming a token in between is failed: it may be
        /// what brings the pipeline down.
        public var maxResumesWithoutProgress = 3
        /// How often a host left out after a failure (none of its slots in use) is asked whether it answers again;
        /// once it does, the pipeline re-forms with it at the next moment no request runs. 0: never.
        public var probeIntervalSeconds = 5.0

        public init() {}
    }

    private struct Entry {
        var request: GenerationRequest
        let admission: Int
        var client: AsyncThrowingStream<RequestOutput, any Error>.Continuation
        /// Tokens streamed to the client so far (what a new pipeline resumes from).
        var streamed: [Int32] = []
        /// The pipeline generation running the request now (nil: waiting for a pipeline) and its pump.
        var generation: Int?
        var pump: Task<Void, Never>?
        var resumesWithoutProgress = 0
        var streamedAtLastResume = 0
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var nextAdmission = 0
        var instance: (any PipelineInstance)?
        /// Counts pipelines started; the running one's number.
        var generation = 0
        var limits: RequestLimits
        /// Slots a pipeline may use now (a slot whose rank failed is left out), in the order given.
        var slots: [String]
        /// Every slot the supervisor was given.
        let allSlots: [String]
        var recovering = false
        var stopping = false
        var unavailable: String?
        var status = SupervisionStatus()
        var lastStatistics = EngineStatistics()
    }

    private let launcher: any PipelineLauncher
    private let encode: @Sendable (String) throws -> [Int32]
    private let policy: Policy
    private let logger: Logger
    private let state: Locked<State>
    /// The supervisor's timeline (pipelines, failures, recoveries), when tracing.
    public let timeline: SupervisorTimeline?

    /// Starts the first pipeline on `hosts` (one stage per slot, rank 0 on the first).
    /// - Throws: `LaunchError` when the first pipeline cannot start (reported to the user as a start-up error).
    public init(launcher: any PipelineLauncher, hosts: [String], encode: @escaping @Sendable (String) throws -> [Int32],
                policy: Policy = Policy(), logger: Logger, timeline: SupervisorTimeline? = nil) async throws(LaunchError) {
        self.timeline = timeline
        self.launcher = launcher
        self.encode = encode
        self.policy = policy
        self.logger = logger
        let instance = try await launcher.launch(on: hosts)
        var initial = State(limits: instance.limits, slots: hosts, allSlots: hosts)
        initial.instance = instance
        initial.generation = 1
        initial.status.state = "serving"
        initial.status.stages = instance.hosts.count
        initial.status.hosts = instance.hosts
        state = Locked(initial)
        timeline?.pipelineStarted(1, hosts: instance.hosts)
        watch(instance, generation: 1)
        if policy.probeIntervalSeconds > 0 {
            Task { [weak self] in await self?.probeLeftOutHosts() }
        }
    }

    // MARK: GenerationService

    public var limits: RequestLimits { state.withLock { $0.limits } }

    public var statistics: EngineStatistics {
        let (instance, last, waiting) = state.withLock { ($0.instance, $0.lastStatistics, $0.entries.values.filter { $0.generation == nil }.count) }
        guard let instance else {
            var statistics = last
            statistics.waiting = waiting
            statistics.running = 0
            return statistics
        }
        let current = instance.statistics
        state.withLock { $0.lastStatistics = current }
        return current
    }

    public var stageStatistics: [StageStatistics] { state.withLock { $0.instance }?.stageStatistics ?? [] }

    public var unavailableReason: String? { state.withLock { $0.unavailable } }

    public var supervision: SupervisionStatus? { state.withLock { $0.status } }

    /// The pipeline serving now (nil while none does).
    public var currentInstance: (any PipelineInstance)? { state.withLock { $0.instance } }

    public func tokenized(_ request: GenerationRequest) throws(EngineError) -> GenerationRequest {
        guard let text = request.promptText else { return request }
        guard request.promptTokenIDs.isEmpty else {
            throw EngineError.invalidRequest(parameter: "prompt", message: "give the prompt as text or as token ids, not both")
        }
        var tokenized = request
        do {
            tokenized.promptTokenIDs = try encode(text)
        } catch {
            throw EngineError.invalidRequest(parameter: "prompt", message: "the prompt could not be tokenized: \(error)")
        }
        tokenized.promptText = nil
        return tokenized
    }

    public func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<RequestOutput, any Error> {
        var request = try tokenized(request)
        try limits.validate(request)
        // The seed is fixed here and journalled: a resumed request draws its next tokens from the same stream.
        if request.sampling.seed == nil { request.sampling.seed = UInt64.random(in: 0...UInt64.max) }
        let (stream, client) = AsyncThrowingStream<RequestOutput, any Error>.makeStream()
        let id = request.id
        try state.withLock { (state) throws(EngineError) in
            if let unavailable = state.unavailable { throw EngineError.failed(unavailable) }
            guard !state.stopping else { throw EngineError.shutDown }
            guard state.entries[id] == nil else { throw EngineError.duplicateRequestID(id) }
            state.entries[id] = Entry(request: request, admission: state.nextAdmission, client: client)
            state.nextAdmission += 1
            if let instance = state.instance, !state.recovering { dispatch(id, to: instance, state: &state) }
        }
        client.onTermination = { [weak self] reason in
            if case .cancelled = reason { self?.cancel(id) }
        }
        return stream
    }

    /// Cancels a request: its pipeline stops it, and it leaves the journal.
    public func cancel(_ id: String) {
        let pump = state.withLock { $0.entries.removeValue(forKey: id)?.pump }
        pump?.cancel()  // dropping the pipeline's stream cancels the request there
    }

    public func shutdown(drain: Bool) {
        let instance = state.withLock { state -> (any PipelineInstance)? in
            state.stopping = true
            return state.instance
        }
        instance?.stop(drain: drain)
        let left = state.withLock { state -> [Entry] in
            defer { state.entries.removeAll() }
            return Array(state.entries.values)
        }
        for entry in left {
            entry.pump?.cancel()
            entry.client.yield(RequestOutput(requestID: entry.request.id, newTokenIDs: [], textDelta: "", logprobs: [], logits: [],
                                             finishReason: .abort,
                                             usage: Usage(promptTokens: entry.request.promptTokenIDs.count, completionTokens: entry.streamed.count)))
            entry.client.finish()
        }
    }

    // MARK: Running requests on the current pipeline

    /// Submits the journalled request `id` to `instance` (with what it already streamed) and starts its pump.
    /// Called with the state locked, so a recovery sees every pump of the pipeline it replaces.
    private func dispatch(_ id: String, to instance: any PipelineInstance, state: inout State) {
        guard var entry = state.entries[id] else { return }
        var request = entry.request
        request.resumedTokenIDs = entry.streamed
        let generation = state.generation
        do {
            try state.limits.validate(request)
            let stream = try instance.submit(request)
            entry.generation = generation
            entry.pump = Task { [weak self] in await self?.pump(id, stream, generation: generation) }
            state.entries[id] = entry
        } catch {
            if case .failed = error { return }  // the pipeline is going down: the request waits for the next one
            state.entries[id] = nil
            entry.client.finish(throwing: error)
        }
    }

    /// Streams a pipeline's updates of one request to its client, journalling each token before it is passed on.
    private func pump(_ id: String, _ stream: AsyncThrowingStream<RequestOutput, any Error>, generation: Int) async {
        do {
            for try await output in stream {
                let client = state.withLock { state -> AsyncThrowingStream<RequestOutput, any Error>.Continuation? in
                    guard var entry = state.entries[id], entry.generation == generation else { return nil }
                    entry.streamed += output.newTokenIDs
                    if output.finishReason != nil {
                        state.entries[id] = nil
                    } else {
                        state.entries[id] = entry
                    }
                    return entry.client
                }
                guard let client else { return }
                client.yield(output)
                if output.finishReason != nil {
                    client.finish()
                    return
                }
            }
            if Task.isCancelled { return }
            lost(id, generation: generation, because: "the pipeline ended the request's stream without finishing it")
        } catch let error as EngineError {
            if case .failed(let message) = error {
                lost(id, generation: generation, because: message)
            } else {
                let client = state.withLock { $0.entries.removeValue(forKey: id)?.client }
                client?.finish(throwing: error)
            }
        } catch {
            lost(id, generation: generation, because: "\(error)")
        }
    }

    /// A request's pipeline went down under it: it waits (journalled) for the next pipeline.
    private func lost(_ id: String, generation: Int, because message: String) {
        state.withLock { state in
            guard state.entries[id]?.generation == generation else { return }
            state.entries[id]?.generation = nil
            state.entries[id]?.pump = nil
        }
        failed(generation: generation, seen: message)
    }

    // MARK: Recovery

    private func watch(_ instance: any PipelineInstance, generation: Int) {
        instance.onFailure { [weak self] message in self?.failed(generation: generation, seen: message) }
    }

    /// The pipeline of `generation` failed: start the one recovery for it (later reports of the same failure are
    /// ignored).
    private func failed(generation: Int, seen message: String) {
        let instance = state.withLock { state -> (any PipelineInstance)? in
            guard generation == state.generation, !state.recovering, !state.stopping, let instance = state.instance else { return nil }
            state.recovering = true
            state.instance = nil
            state.status.failures += 1
            state.status.stages = 0
            state.status.hosts = []
            state.status.state = "recovering: \(message)"
            state.status.lastFailureTime = Date().timeIntervalSince1970
            return instance
        }
        guard let instance else { return }
        timeline?.failed(message)
        Task { [self] in await recover(from: instance, generation: generation, seen: message) }
    }

    private func recover(from failed: any PipelineInstance, generation: Int, seen message: String, relaunchOnly: Bool = false) async {
        let detected = ContinuousClock.now
        let fault = relaunchOnly ? PipelineFault(message: message, failedStages: []) : await failed.terminate(reason: message)
        let teardown = Self.seconds(since: detected)
        if !relaunchOnly { logger.error("pipeline \(generation) failed: \(fault.message)") }
        // Every stream of the old pipeline has ended; wait for its pumps, so each journal holds every token streamed.
        let pumps = state.withLock { state in state.entries.values.compactMap { $0.generation == generation ? $0.pump : nil } }
        for pump in pumps { await pump.value }
        state.withLock { state in
            for (id, entry) in state.entries where entry.generation == generation {
                state.entries[id]?.generation = nil
                state.entries[id]?.pump = nil
            }
            Self.leaveOut(fault.failedStages, of: failed.hosts, from: &state.slots)
        }
        var lastError = fault.message
        for attempt in 0..<policy.maxAttempts {
            let slots = state.withLock { $0.stopping ? nil : $0.slots }
            guard let slots else { return }
            guard !slots.isEmpty else {
                lastError = "no host is left to run a stage (the last one failed: \(fault.message))"
                break
            }
            if attempt > 0 {
                let backoff = min(policy.maxBackoffSeconds, policy.firstBackoffSeconds * Double(1 << (attempt - 1)))
                try? await Task.sleep(for: .seconds(backoff))
            }
            logger.info("starting pipeline \(generation + 1) on \(slots.count) stage\(slots.count == 1 ? "" : "s") (\(slots.joined(separator: ", "))), attempt \(attempt + 1) of \(policy.maxAttempts)")
            do {
                let launched = ContinuousClock.now
                let instance = try await launcher.launch(on: slots)
                let launch = Self.seconds(since: launched)
                state.withLock { state in
                    state.status.lastTeardownSeconds = teardown
                    state.status.lastLaunchSeconds = launch
                }
                let timing = String(format: "teardown %.2f s, launch and load %.2f s", teardown, launch)
                resume(on: instance, generation: generation + 1, since: detected, timing: timing)
                return
            } catch {
                lastError = error.message
                logger.error("pipeline \(generation + 1) did not start: \(error.message)")
                state.withLock { Self.leaveOut(error.failedStages, of: slots, from: &$0.slots) }
                if error.isPermanent { break }
            }
        }
        giveUp("no pipeline can be formed: \(lastError)")
    }

    // MARK: Hosts that answer again

    /// Asks every host none of whose slots is in use whether it answers again; one that does gets its slots back,
    /// and the pipeline grows onto them the next time no request runs.
    private func probeLeftOutHosts() async {
        while true {
            try? await Task.sleep(for: .seconds(policy.probeIntervalSeconds))
            guard let (all, slots, stopping) = Optional(state.withLock { ($0.allSlots, $0.slots, $0.stopping || $0.unavailable != nil) }),
                  !stopping else { return }
            var answering: [String] = []
            for host in Set(all).subtracting(slots).sorted() where await launcher.probe(host: host) { answering.append(host) }
            if !answering.isEmpty {
                state.withLock { state in
                    let kept = state.slots
                    var back = Dictionary(kept.map { ($0, 1) }, uniquingKeysWith: +)
                    // The answering hosts' slots come back, in the order first given.
                    state.slots = state.allSlots.filter { host in
                        if answering.contains(host) { return true }
                        guard let left = back[host], left > 0 else { return false }
                        back[host] = left - 1
                        return true
                    }
                }
                logger.info("host\(answering.count == 1 ? "" : "s") \(answering.joined(separator: ", ")) answer\(answering.count == 1 ? "s" : "") again: the pipeline re-forms with \(answering.count == 1 ? "it" : "them") when no request runs")
            }
            await growWhenIdle()
        }
    }

    /// Re-forms the pipeline on every usable slot when it runs on fewer and nothing is running: a planned restart
    /// (requests that arrive meanwhile wait for it, as during a recovery).
    private func growWhenIdle() async {
        let old = state.withLock { state -> (any PipelineInstance, Int)? in
            guard let instance = state.instance, !state.recovering, !state.stopping, state.entries.isEmpty,
                  state.slots.count > instance.hosts.count else { return nil }
            state.recovering = true
            state.instance = nil
            state.status.state = "re-forming on \(state.slots.count) stages"
            return (instance, state.generation)
        }
        guard let (instance, generation) = old else { return }
        let started = ContinuousClock.now
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { instance.stop(drain: true); done.resume() }.start()
        }
        let slots = state.withLock { $0.slots }
        logger.info("re-forming the pipeline on \(slots.count) stages (\(slots.joined(separator: ", "))): hosts answer again")
        do {
            let grown = try await launcher.launch(on: slots)
            resume(on: grown, generation: generation + 1, since: started, timing: "planned: the pipeline grew back", planned: true)
        } catch {
            logger.error("the grown pipeline did not start (\(error.message)); back to \(instance.hosts.count) stages")
            state.withLock { state in state.slots = instance.hosts }
            await recover(from: instance, generation: generation, seen: "the grown pipeline did not start: \(error.message)", relaunchOnly: true)
        }
    }

    /// Removes one slot of each failed stage's host from `slots`.
    private static func leaveOut(_ stages: [Int], of hosts: [String], from slots: inout [String]) {
        for stage in stages where stage < hosts.count {
            if let index = slots.lastIndex(of: hosts[stage]) { slots.remove(at: index) }
        }
    }

    /// A new pipeline is up: it takes the journal, oldest request first.
    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = start.duration(to: .now).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }

    private func resume(on instance: any PipelineInstance, generation: Int, since detected: ContinuousClock.Instant, timing: String,
                        planned: Bool = false) {
        let seconds = Self.seconds(since: detected)
        var poisoned: [(AsyncThrowingStream<RequestOutput, any Error>.Continuation, Int)] = []
        let resumed = state.withLock { state -> Int in
            state.instance = instance
            state.generation = generation
            state.recovering = false
            state.limits = instance.limits
            state.status.stages = instance.hosts.count
            state.status.hosts = instance.hosts
            if !planned {
                state.status.restarts += 1
                state.status.lastRecoverySeconds = seconds
                state.status.lastRecoveryTime = Date().timeIntervalSince1970
            }
            state.status.state = "serving"
            let waiting = state.entries.values.filter { $0.generation == nil }.sorted { $0.admission < $1.admission }
            for entry in waiting {
                var entry = entry
                entry.resumesWithoutProgress = entry.streamed.count == entry.streamedAtLastResume ? entry.resumesWithoutProgress + 1 : 1
                entry.streamedAtLastResume = entry.streamed.count
                if entry.resumesWithoutProgress > policy.maxResumesWithoutProgress {
                    state.entries[entry.request.id] = nil
                    poisoned.append((entry.client, entry.resumesWithoutProgress - 1))
                    continue
                }
                state.entries[entry.request.id] = entry
                dispatch(entry.request.id, to: instance, state: &state)
            }
            state.status.resumedRequests += waiting.count - poisoned.count
            return waiting.count - poisoned.count
        }
        for (client, times) in poisoned {
            client.finish(throwing: EngineError.failed("the request was running on \(times) pipelines in a row that failed before it "
                                                       + "produced a token; it is dropped in case it is what brings them down"))
        }
        timeline?.recovered("\(timing); \(resumed) requests resumed")
        timeline?.pipelineStarted(generation, hosts: instance.hosts)
        watch(instance, generation: generation)
        logger.info("pipeline \(generation) serving on \(instance.hosts.count) stage\(instance.hosts.count == 1 ? "" : "s") (\(instance.hosts.joined(separator: ", "))) \(String(format: "%.2f", seconds)) s after the failure was detected (\(timing)); \(resumed) request\(resumed == 1 ? "" : "s") resumed")
    }

    /// No pipeline can run: every waiting request ends with the reason (a 503), and so will new ones.
    private func giveUp(_ reason: String) {
        logger.critical("\(reason); requests get 503 until the server is restarted")
        timeline?.recovered("gave up: \(reason)")
        let clients = state.withLock { state -> [AsyncThrowingStream<RequestOutput, any Error>.Continuation] in
            state.unavailable = reason
            state.recovering = false
            state.status.state = "unavailable: \(reason)"
            defer { state.entries.removeAll() }
            return state.entries.values.map(\.client)
        }
        for client in clients { client.finish(throwing: EngineError.failed(reason)) }
    }
}
