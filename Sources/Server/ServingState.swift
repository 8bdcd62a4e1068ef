import Engine
import Kernels

/// Where a server is in its life: loading its model, serving it, or stopping. The HTTP port opens before the model
/// has loaded, so health checks see `503 loading` instead of a refused connection.
public final class ServingState: Sendable {
    public enum Phase: Sendable {
        /// The model is loading; every endpoint but /health and /metrics answers 503.
        case loading
        case serving(ServedModel)
        /// SIGINT or SIGTERM arrived: requests in flight finish, new ones get 503.
        case stopping(ServedModel?)
    }

    private let phase: Locked<Phase>

    public init(_ phase: Phase = .loading) {
        self.phase = Locked(phase)
    }

    public var current: Phase { phase.withLock { $0 } }

    /// The model has loaded: start answering requests (unless a shutdown began meanwhile).
    public func serve(_ model: ServedModel) {
        phase.withLock { phase in
            if case .loading = phase { phase = .serving(model) } else { phase = .stopping(model) }
        }
    }

    /// Stop taking requests; the ones in flight go on.
    public func stop() {
        phase.withLock { phase in
            if case .serving(let model) = phase { phase = .stopping(model) } else if case .loading = phase { phase = .stopping(nil) }
        }
    }

    /// The loaded model, whatever the phase.
    public var model: ServedModel? {
        switch current {
        case .loading: return nil
        case .serving(let model): return model
        case .stopping(let model): return model
        }
    }

    /// The model to answer a new request with, or the 503 that says why there is none.
    func modelForNewRequest() throws(APIError) -> ServedModel {
        switch current {
        case .serving(let model): return model
        case .loading: throw .loading
        case .stopping: throw .shuttingDown
        }
    }
}
