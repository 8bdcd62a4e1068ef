import Foundation

/// The mailbox between client threads and rank 0's loop thread: a lock, a condition to sleep on, and the state it
/// guards.
///
/// `@unchecked Sendable`: every access to `state` happens inside `condition.lock()` / `unlock()`.
final class Inbox: @unchecked Sendable {
    enum Shutdown { case drain, abort }
    typealias Continuation = AsyncThrowingStream<RequestOutput, any Error>.Continuation

    struct State {
        var submitted: [(GenerationRequest, Continuation)] = []
        var cancelled: [String] = []
        /// Ids of requests submitted and not finished (ids must be unique among these).
        var live: Set<String> = []
        var shutdown: Shutdown?
        var failure: String?
        /// Rank 0's loop has ended; nothing more is accepted.
        var closed = false
        var statistics = EngineStatistics()
    }

    private let condition = NSCondition()
    private var state = State()

    /// Changes the state and wakes the loop thread.
    @discardableResult
    func post<T>(_ change: (inout State) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        let result = change(&state)
        condition.broadcast()
        return result
    }

    func read<T>(_ body: (State) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body(state)
    }

    /// Blocks until `ready(state)`, then runs `take` under the lock.
    func waitUntil<T>(_ ready: (State) -> Bool, take: (inout State) -> T = { _ in () }) -> T {
        condition.lock()
        defer { condition.unlock() }
        while !ready(state) { condition.wait() }
        return take(&state)
    }
}
