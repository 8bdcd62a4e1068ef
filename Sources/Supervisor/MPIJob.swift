import Engine
import Foundation
import Kernels

/// One `mpirun` job running a pipeline, seen from the supervisor: the process, every rank's link, and the requests
/// in flight on rank 0.
///
/// It notices a failure three ways, whichever comes first: a rank's link closes without a goodbye (the process
/// died: signal, OOM, crash), a rank's heartbeats stop for `heartbeatTimeoutSeconds` (hung, stopped, or its host cut
/// off: a slow stage keeps beating, its heartbeat thread does not wait for the forward pass), or `mpirun` exits.
final class MPIJob: PipelineInstance {
    private struct Peer {
        var socket: LinkSocket
        var hello: LinkHello
        var lastHeard: UInt64
        var saidGoodbye = false
    }

    private struct State {
        var peers: [Int: Peer] = [:]
        var limits: RequestLimits?
        var counters: RankCounters?
        var streams: [String: AsyncThrowingStream<RequestOutput, any Error>.Continuation] = [:]
        /// The first failure noticed: which rank (nil: none in particular) and what was seen.
        var fault: (rank: Int?, message: String)?
        var handlers: [@Sendable (String) -> Void] = []
        var terminating = false
        /// `mpirun`'s own reports of ranks that ended, in order.
        var mpirunReports: [String] = []
        var stderrTail: [String] = []
    }

    let hosts: [String]
    private let number: Int
    private let configuration: MPIJobLauncher.Configuration
    private let state = Locked(State())
    private let process = Process()
    private let stderrDone = DispatchGroup()

    init(hosts: [String], number: Int, configuration: MPIJobLauncher.Configuration) {
        self.hosts = hosts
        self.number = number
        self.configuration = configuration
    }

    private static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    // MARK: Start

    /// Runs `mpirun` and waits until every rank has joined and rank 0 takes requests.
    func start(link: LinkAddress) throws(LaunchError) {
        let stages = hosts.count
        process.executableURL = URL(fileURLWithPath: Self.which(configuration.mpirun))
        // Every slot on this machine: no host list, exactly today's `mpirun -n N` job (with an explicit
        // `--host localhost,…`, Open MPI maps the ranks differently and decode steps took 7 % longer).
        let placement = hosts.allSatisfy(Self.isLocal) ? [] : ["--host", hosts.joined(separator: ",")]
        process.arguments = ["-n", "\(stages)"] + placement + configuration.mpirunArguments
            + [configuration.executable] + configuration.arguments(stages, link)
        process.environment = ProcessInfo.processInfo.environment.merging(configuration.environment) { $1 }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw LaunchError("cannot run \(configuration.mpirun): \(error.localizedDescription); install openmpi-bin or pass --mpirun",
                              isPermanent: true)
        }
        readStandardError(errors.fileHandleForReading)
        let monitor = Thread { [self] in monitorLoop() }
        monitor.name = "brigade-job-monitor"
        monitor.start()

        let deadline = Date(timeIntervalSinceNow: configuration.startTimeoutSeconds)
        while true {
            let (joined, ready, fault) = state.withLock { ($0.peers.count, $0.limits != nil, $0.fault) }
            if joined == stages && ready { return }
            if let fault {
                let failed = startFailure(fault, joined: joined)
                terminateNow()
                throw failed
            }
            if Date() > deadline {
                let missing = (0..<stages).filter { rank in state.withLock { $0.peers[rank] == nil } }
                terminateNow()
                throw LaunchError("the job did not start within \(Int(configuration.startTimeoutSeconds)) s"
                                  + (missing.isEmpty ? " (rank 0 never took requests)" : "; ranks \(missing) on \(missing.map { hosts[$0] }) never joined"),
                                  failedStages: missing)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Why a job that failed before taking requests failed, and whether trying again can help.
    private func startFailure(_ fault: (rank: Int?, message: String), joined: Int) -> LaunchError {
        Thread.sleep(forTimeInterval: 0.2)  // let mpirun's last words arrive
        let tail = state.withLock { $0.stderrTail }
        let errors = tail.filter { $0.contains("error:") }
        // A rank that reports an error after joining (the model does not load or fit, a bad option) will report it
        // again: a retry cannot help. A rank that died or never joined may be on a bad host.
        if let reported = errors.last {
            return LaunchError("the job stopped before serving: \(reported)", isPermanent: true)
        }
        let stage = fault.rank.map { [$0] } ?? []
        return LaunchError("the job stopped before serving: \(fault.message)" + (tail.isEmpty ? "" : " (mpirun: \(tail.suffix(3).joined(separator: " | ")))"),
                           failedStages: stage)
    }

    /// A rank connected and said hello: watch its link.
    func join(_ socket: LinkSocket, _ hello: LinkHello) {
        guard hello.rank >= 0, hello.rank < hosts.count, hello.size == hosts.count else {
            socket.shutDown()
            return
        }
        let accepted = state.withLock { state -> Bool in
            guard state.peers[hello.rank] == nil, !state.terminating else { return false }
            state.peers[hello.rank] = Peer(socket: socket, hello: hello, lastHeard: Self.now)
            return true
        }
        guard accepted else { return socket.shutDown() }
        let reader = Thread { [self] in readLoop(rank: hello.rank, socket: socket) }
        reader.name = "brigade-link-rank-\(hello.rank)"
        reader.start()
    }

    // MARK: Watching

    private func readLoop(rank: Int, socket: LinkSocket) {
        while true {
            let message: LinkMessage?
            do {
                message = try socket.receiveMessage(timeout: 0.5)
            } catch {
                let (goodbye, terminating) = state.withLock { ($0.peers[rank]?.saidGoodbye ?? false, $0.terminating) }
                if !goodbye && !terminating { noticed(rank: rank, "its link closed (\(error)): the process died") }
                return
            }
            guard let message else { continue }
            state.withLock { $0.peers[rank]?.lastHeard = Self.now }
            handle(message, from: rank)
        }
    }

    private func handle(_ message: LinkMessage, from rank: Int) {
        switch message {
        case .ready(let limits) where rank == 0:
            state.withLock { $0.limits = limits }
        case .heartbeat(let counters):
            if let counters, rank == 0 { state.withLock { $0.counters = counters } }
        case .output(let output) where rank == 0:
            let stream = state.withLock { state in
                output.finishReason != nil ? state.streams.removeValue(forKey: output.requestID) : state.streams[output.requestID]
            }
            stream?.yield(output)
            if output.finishReason != nil { stream?.finish() }
        case .rejected(let id, let error) where rank == 0:
            state.withLock { $0.streams.removeValue(forKey: id) }?.finish(throwing: error)
        case .goodbye(let reason):
            state.withLock { $0.peers[rank]?.saidGoodbye = true }
            if !reason.isEmpty { noticed(rank: rank == 0 ? nil : rank, "rank \(rank) reported: \(reason)") }
        default:
            break
        }
    }

    /// Sends heartbeats, and checks every rank's and mpirun's.
    private func monitorLoop() {
        var lastBeat: UInt64 = 0
        let timeout = UInt64(configuration.heartbeatTimeoutSeconds * 1e9)
        while !state.withLock({ $0.terminating }) {
            Thread.sleep(forTimeInterval: min(0.05, configuration.heartbeatSeconds / 2))
            let now = Self.now
            let peers = state.withLock { $0.peers }
            if now - lastBeat >= UInt64(configuration.heartbeatSeconds * 1e9) {
                lastBeat = now
                for peer in peers.values where !peer.saidGoodbye { try? peer.socket.send(.heartbeat(nil)) }
            }
            for (rank, peer) in peers.sorted(by: { $0.key < $1.key }) where !peer.saidGoodbye && now > peer.lastHeard && now - peer.lastHeard > timeout {
                let seconds = String(format: "%.1f", Double(now - peer.lastHeard) / 1e9)
                noticed(rank: rank, "it sent no heartbeat for \(seconds) s: the process is hung or stopped, or its host is cut off")
            }
            if !process.isRunning {
                noticed(rank: nil, "mpirun exited with status \(process.terminationStatus)")
                return
            }
        }
    }

    /// Records the first failure and ends every request's stream (the supervisor resumes them elsewhere).
    private func noticed(rank: Int?, _ message: String) {
        let handlers = state.withLock { state -> ([@Sendable (String) -> Void], [AsyncThrowingStream<RequestOutput, any Error>.Continuation])? in
            guard state.fault == nil, !state.terminating else { return nil }
            state.fault = (rank, message)
            defer { state.streams.removeAll() }
            return (state.handlers, Array(state.streams.values))
        }
        guard let (handlers, streams) = handlers else { return }
        let description = describe(rank: rank, message)
        for stream in streams { stream.finish(throwing: EngineError.failed(description)) }
        for handler in handlers { handler(description) }
    }

    /// "rank 1 on host bh2 (pid 4242): …", with mpirun's report of how it ended when it made one.
    private func describe(rank: Int?, _ message: String) -> String {
        guard let rank else { return "pipeline \(number): \(message)" }
        let (hello, reports) = state.withLock { ($0.peers[rank]?.hello, $0.mpirunReports) }
        let report = reports.first { $0.contains("rank \(rank) ") }
        return "pipeline \(number): rank \(rank) on host \(hosts[rank])" + (hello.map { " (pid \($0.pid))" } ?? "") + ": \(message)"
            + (report.map { "; mpirun: \($0)" } ?? "")
    }

    private func readStandardError(_ handle: FileHandle) {
        stderrDone.enter()
        let thread = Thread { [self] in
            defer { stderrDone.leave() }
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    record(line)
                }
            }
        }
        thread.name = "brigade-job-stderr"
        thread.start()
    }

    private func record(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, !trimmed.allSatisfy({ $0 == "-" }) else { return }
        state.withLock { state in
            state.stderrTail.append(trimmed)
            if state.stderrTail.count > 40 { state.stderrTail.removeFirst() }
            if trimmed.contains("noticed that process rank") { state.mpirunReports.append(trimmed) }
        }
        configuration.log("[pipeline \(number)] \(trimmed)")
    }

    // MARK: PipelineInstance

    var limits: RequestLimits {
        state.withLock { $0.limits } ?? RequestLimits(vocabSize: 0, contextLength: 0, blockSize: 1, blockCount: 0, window: nil,
                                                        windowBlockCount: 0, maxBatchedTokens: 0)
    }

    var statistics: EngineStatistics { state.withLock { $0.counters?.engine } ?? EngineStatistics() }

    var stageStatistics: [StageStatistics] { state.withLock { $0.counters.map { [$0.stage] } } ?? [] }

    func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncThrowingStream<RequestOutput, any Error> {
        let (stream, continuation) = AsyncThrowingStream<RequestOutput, any Error>.makeStream()
        let rankZero = try state.withLock { (state) throws(EngineError) -> LinkSocket in
            if let fault = state.fault { throw EngineError.failed(fault.message) }
            guard !state.terminating, let rankZero = state.peers[0]?.socket else { throw EngineError.failed("the pipeline is stopping") }
            guard state.streams[request.id] == nil else { throw EngineError.duplicateRequestID(request.id) }
            state.streams[request.id] = continuation
            return rankZero
        }
        do {
            try rankZero.send(.submit(request))
        } catch {
            state.withLock { _ = $0.streams.removeValue(forKey: request.id) }
            throw EngineError.failed("cannot reach rank 0: \(error)")
        }
        let id = request.id
        continuation.onTermination = { [weak self] reason in
            guard case .cancelled = reason, let self else { return }
            let socket = state.withLock { state in state.streams.removeValue(forKey: id) != nil ? state.peers[0]?.socket : nil }
            try? socket?.send(.cancel(id: id))
        }
        return stream
    }

    func onFailure(_ handler: @escaping @Sendable (String) -> Void) {
        let fault = state.withLock { state -> (rank: Int?, message: String)? in
            if state.fault == nil { state.handlers.append(handler) }
            return state.fault
        }
        if let fault { handler(describe(rank: fault.rank, fault.message)) }
    }

    func terminate(reason: String) async -> PipelineFault {
        await withCheckedContinuation { (done: CheckedContinuation<PipelineFault, Never>) in
            Thread { [self] in
                // A request's stream may report the failure before the link shows which rank died: give the links a
                // moment to tell.
                let deadline = Date(timeIntervalSinceNow: 1)
                while state.withLock({ $0.fault == nil }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
                let fault = state.withLock { $0.fault } ?? (rank: nil, message: reason)
                // mpirun reports the first rank that ended, if it did not die on its own before its link closed.
                let description = describe(rank: fault.rank, fault.message)
                terminateNow()
                done.resume(returning: PipelineFault(message: description, failedStages: fault.rank.map { [$0] } ?? []))
            }.start()
        }
    }

    func stop(drain: Bool) {
        let rankZero = state.withLock { $0.peers[0]?.socket }
        try? rankZero?.send(.shutdown(drain: drain))
        // Rank 0 drains, says goodbye and the job exits; a job that does not is ended.
        let deadline = Date(timeIntervalSinceNow: drain ? 3600 : 10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        terminateNow()
    }

    /// Ends the job for good: SIGKILL to every rank on this machine (a hung rank ignores anything gentler), then
    /// SIGTERM to mpirun (which ends ranks elsewhere), SIGKILL if it lingers. Every open stream ends with an error.
    private func terminateNow() {
        let (peers, streams) = state.withLock { state -> ([Peer], [AsyncThrowingStream<RequestOutput, any Error>.Continuation]) in
            state.terminating = true
            defer { state.streams.removeAll() }
            return (Array(state.peers.values), Array(state.streams.values))
        }
        let message = state.withLock { $0.fault?.message } ?? "the pipeline was stopped"
        for stream in streams { stream.finish(throwing: EngineError.failed(message)) }
        for peer in peers where !peer.saidGoodbye && peer.hello.bootID == LinkHello.localBootID && peer.hello.pid > 1 {
            kill(peer.hello.pid, SIGKILL)
        }
        if process.isRunning { process.terminate() }
        // mpirun ends the ranks on other hosts; it gets a moment, not more (its daemons there end their ranks when
        // it is gone too).
        let deadline = Date(timeIntervalSinceNow: 0.5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        for peer in peers { peer.socket.shutDown() }
        // (a daemon orphaned on a cut-off host may hold the pipe open: do not wait for it)
        _ = stderrDone.wait(timeout: .now() + 0.3)
    }

    /// Whether `host` names this machine.
    static func isLocal(_ host: String) -> Bool {
        ["localhost", "127.0.0.1", "::1", ProcessInfo.processInfo.hostName].contains(host)
    }

    /// The full path of `program` on `PATH` (or `program` itself when it has a slash or is not found).
    static func which(_ program: String) -> String {
        guard !program.contains("/") else { return program }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return program
    }
}
