import Engine
import Foundation
import Kernels

/// A pipeline rank's link to the supervisor that launched its job (`--supervisor-link`).
///
/// Every rank joins before it loads the model, so the supervisor sees a death at any point, and sends heartbeats
/// from a thread of its own (a long forward pass does not delay them). A rank that hears nothing from its supervisor
/// for `supervisorTimeoutSeconds`, or loses the link, exits: a job must not outlive the server it serves. Rank 0 also
/// takes the requests that arrive on the link to its engine and sends their updates back.
public final class RankLink: Sendable {
    private let socket: LinkSocket
    private let rank: Int
    private let heartbeatSeconds: Double
    private let supervisorTimeoutSeconds: Double
    private let engine = Locked<InferenceEngine?>(nil)
    private let left = Locked(false)
    /// Requests' update pumps on rank 0, by request id.
    private let pumps = Locked<[String: Task<Void, Never>]>([:])
    private let shutdownRequest = Locked<Bool?>(nil)
    /// Updates waiting to be sent, in order; one thread sends all that piled up in one write, so a decode step of
    /// many streams costs the supervisor one wake-up, not one per stream.
    private let outbox = Outbox()
    private let senderDone = DispatchSemaphore(value: 0)

    /// Connects to the supervisor and says hello as rank `rank` of `size`.
    public init(_ address: LinkAddress, rank: Int, size: Int, heartbeatSeconds: Double = 0.25,
                supervisorTimeoutSeconds: Double = 5) throws(LinkError) {
        socket = try LinkSocket.connect(host: address.host, port: address.port, timeout: 10)
        self.rank = rank
        self.heartbeatSeconds = heartbeatSeconds
        self.supervisorTimeoutSeconds = supervisorTimeoutSeconds
        try socket.send(.hello(token: address.token, rank: rank, size: size, pid: getpid(), host: ProcessInfo.processInfo.hostName,
                               bootID: LinkHello.localBootID))
        let beat = Thread { [self] in heartbeatLoop() }
        beat.name = "brigade-heartbeat"
        beat.start()
        let reader = Thread { [self] in readLoop() }
        reader.name = "brigade-link"
        reader.start()
        let sender = Thread { [self] in sendLoop() }
        sender.name = "brigade-link-send"
        sender.start()
    }

    private func sendLoop() {
        defer { senderDone.signal() }
        while let frames = outbox.takeAll() {
            do { try socket.sendFrames(frames) } catch { return }
        }
    }

    /// Rank 0: takes the supervisor's requests to `engine` until the supervisor asks it to stop or the pipeline
    /// fails; returns the failure, if any.
    public func serve(_ engine: InferenceEngine) -> String? {
        self.engine.withLock { $0 = engine }
        try? socket.send(.ready(engine.limits))
        while true {
            if let failure = engine.failure { return failure }
            if let drain = shutdownRequest.withLock({ $0 }) {
                engine.shutdown(drain: drain)
                return engine.failure
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Says goodbye (with the reason the pipeline ended, empty for a clean stop) and closes the link.
    public func leave(reason: String) {
        outbox.close()
        _ = senderDone.wait(timeout: .now() + 5)  // every update queued goes before the goodbye
        left.withLock { $0 = true }
        try? socket.send(.goodbye(reason: reason))
        socket.shutDown()
    }

    private func heartbeatLoop() {
        while !left.withLock({ $0 }) {
            let counters = engine.withLock { $0 }.map { engine in
                RankCounters(engine: engine.statistics, stage: engine.stageStatistics.first ?? StageStatistics(rank: 0, layers: 0..<0))
            }
            try? socket.send(.heartbeat(counters))
            Thread.sleep(forTimeInterval: heartbeatSeconds)
        }
    }

    private func readLoop() {
        var lastHeard = Date()
        while !left.withLock({ $0 }) {
            let message: LinkMessage?
            do {
                message = try socket.receiveMessage(timeout: 0.25)
            } catch {
                orphaned("the link to the supervisor broke (\(error))")
            }
            guard let message else {
                if -lastHeard.timeIntervalSinceNow > supervisorTimeoutSeconds {
                    orphaned("the supervisor sent nothing for \(Int(supervisorTimeoutSeconds)) s")
                }
                continue
            }
            lastHeard = Date()
            switch message {
            case .submit(let request): start(request)
            case .cancel(let id): pumps.withLock { $0.removeValue(forKey: id) }?.cancel()
            case .shutdown(let drain): shutdownRequest.withLock { $0 = drain }
            default: break
            }
        }
    }

    /// The supervisor is gone: nobody can use this job's answers, so it ends now (mpirun then ends the others).
    private func orphaned(_ why: String) -> Never {
        guard !left.withLock({ $0 }) else { _exit(0) }
        FileHandle.standardError.write(Data("error: rank \(rank): \(why); this pipeline serves no one and stops\n".utf8))
        _exit(75)
    }

    /// Rank 0: submits a request to the engine and sends its updates to the supervisor as they come.
    private func start(_ request: GenerationRequest) {
        guard let engine = engine.withLock({ $0 }) else {
            try? socket.send(.rejected(id: request.id, error: .failed("rank \(rank) has no engine")))
            return
        }
        let stream: AsyncThrowingStream<RequestOutput, any Error>
        do {
            stream = try engine.submit(request)
        } catch {
            try? socket.send(.rejected(id: request.id, error: error))
            return
        }
        let outbox = self.outbox, id = request.id, pumps = self.pumps
        let pump = Task {
            do {
                for try await output in stream { outbox.put(.output(output)) }
            } catch let error as EngineError {
                outbox.put(.rejected(id: id, error: error))
            } catch {
                if !Task.isCancelled { outbox.put(.rejected(id: id, error: .failed("\(error)"))) }
            }
            pumps.withLock { _ = $0.removeValue(forKey: id) }
        }
        pumps.withLock { $0[id] = pump }
    }
}

/// Link messages waiting for the sender thread. `@unchecked Sendable`: `bytes` and `closed` are only touched with
/// `condition` locked.
final class Outbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var bytes: [UInt8] = []
    private var closed = false

    func put(_ message: LinkMessage) {
        let (kind, payload) = message.encoded()
        condition.lock()
        LinkSocket.frame(kind: kind, payload: payload, into: &bytes)
        condition.signal()
        condition.unlock()
    }

    /// Every frame queued, waiting for one; nil once closed.
    func takeAll() -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while bytes.isEmpty && !closed { condition.wait() }
        guard !bytes.isEmpty else { return nil }
        defer { bytes.removeAll(keepingCapacity: true) }
        return bytes
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
