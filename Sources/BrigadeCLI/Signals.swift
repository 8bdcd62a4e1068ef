import Dispatch
import Engine
import Foundation
import Kernels
import Logging
import Server
import ServiceLifecycle

/// Runs `handler` (on a dispatch queue) for each delivery of `signals`, which then no longer end the process.
final class SignalHandler {
    private let sources: [any DispatchSourceSignal]

    init(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        // A parent may have started this process with the signals blocked (a Swift program's threads block them,
        // and children inherit the mask): unblock them on this thread so they are delivered at all.
        unblock(signals)
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    deinit { sources.forEach { $0.cancel() } }

    /// Turns SIGTERM into a clean shutdown: the engine aborts its requests, which every rank stops in the same
    /// iteration.
    static func terminating(_ engine: InferenceEngine) -> SignalHandler {
        SignalHandler([SIGTERM]) { _ in engine.shutdown(drain: false) }
    }
}

/// A server's answer to SIGINT and SIGTERM. The first stops taking requests (new ones get 503, the port closes) and
/// gives the running ones `grace` seconds to finish before cancelling them; a second signal cancels them at once.
final class GracefulShutdown: Sendable {
    private let state: ServingState
    private let services: ServiceGroup
    private let grace: Double
    private let logger: Logger
    private let signals = Locked(0)

    init(state: ServingState, services: ServiceGroup, grace: Double, logger: Logger) {
        self.state = state
        self.services = services
        self.grace = grace
        self.logger = logger
    }

    func signalled(_ signal: Int32) {
        let count = signals.withLock { count in
            count += 1
            return count
        }
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        guard count == 1 else {
            onThread { self.cancelRequests(because: "\(name) again") }
            return
        }
        logger.info("\(name): no new requests; requests in flight get \(grace) s to finish (send it again to cancel them now)")
        begin()
        onThread { [grace] in
            Thread.sleep(forTimeInterval: grace)
            self.cancelRequests(because: "the \(grace) s grace period is over")
        }
    }

    /// Stops taking requests and closes the port once the running ones are answered.
    func begin() {
        state.stop()
        Task { await services.triggerGracefulShutdown() }
    }

    private func cancelRequests(because reason: String) {
        guard let engine = state.model?.engine else { return }
        let statistics = engine.statistics
        guard statistics.running + statistics.waiting > 0 else { return }
        logger.warning("\(reason): cancelling \(statistics.running + statistics.waiting) requests")
        engine.shutdown(drain: false)
    }
}

/// Unblocks `signals` on the calling thread (threads it starts inherit the mask, and so do processes it spawns).
func unblock(_ signals: [Int32]) {
    var set = sigset_t()
    sigemptyset(&set)
    for number in signals { sigaddset(&set, number) }
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// Runs blocking work on a thread of its own, off Swift's cooperative pool (which it would starve).
func onThread(_ body: @escaping @Sendable () -> Void) {
    Thread(block: body).start()
}

/// The result of blocking work run on a thread of its own.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        onThread { continuation.resume(with: Result { try body() }) }
    }
}
