import Foundation
import Kernels

/// The shared fate of the pipeline ranks in one process: the first fatal error (a failed forward, a transport error,
/// a stall caught by the watchdog) is recorded here, and every waiting thread notices it within one poll interval and
/// stops. Nothing that waits in the executor waits without also watching the lifeline.
final class Lifeline: Sendable {
    /// How often a blocked thread checks for failure (it is woken at once for its own event).
    static let pollInterval = 0.02

    private let state = Locked<(failure: String?, wakers: [@Sendable () -> Void])>((nil, []))

    var failure: String? { state.withLock { $0.failure } }

    /// Records `message` unless a failure was already recorded, and wakes every registered waiter.
    /// Returns whether this call was the first failure.
    @discardableResult
    func fail(_ message: String) -> Bool {
        let wakers: [@Sendable () -> Void]? = state.withLock { state in
            guard state.failure == nil else { return nil }
            state.failure = message
            return state.wakers
        }
        wakers?.forEach { $0() }
        return wakers != nil
    }

    /// Registers a closure that wakes a waiter that does not poll (called once, on failure).
    func onFailure(_ wake: @escaping @Sendable () -> Void) {
        state.withLock { $0.wakers.append(wake) }
    }

    /// Throws the recorded failure, if any.
    func check() throws(PipelineFailure) {
        if let failure { throw PipelineFailure(message: failure) }
    }
}

/// The pipeline stopped; `message` says which rank, which step and why.
struct PipelineFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A FIFO between two threads of one rank (the loop and its relay). A taker sleeps on a condition variable and
/// polls the lifeline, so it neither spins nor outlives a failed pipeline.
///
/// `@unchecked Sendable`: `items` is only touched with `condition` locked.
final class BlockingQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0

    func put(_ item: Element) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Items waiting now.
    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }

    /// Waits until at least `minimum` items are queued (or the lifeline fails); returns how many are queued.
    func waitForCount(atLeast minimum: Int, watching lifeline: Lifeline) throws(PipelineFailure) -> Int {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head < minimum {
            if let failure = lifeline.failure { throw PipelineFailure(message: failure) }
            _ = condition.wait(until: Date(timeIntervalSinceNow: Lifeline.pollInterval))
        }
        return items.count - head
    }

    /// Removes the oldest item, waiting for one while the lifeline holds.
    func take(watching lifeline: Lifeline) throws(PipelineFailure) -> Element {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count {
            if let failure = lifeline.failure { throw PipelineFailure(message: failure) }
            _ = condition.wait(until: Date(timeIntervalSinceNow: Lifeline.pollInterval))
        }
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }
}

/// The outstanding non-blocking sends of one message kind, one per micro-batch slot: a slot's previous send is
/// waited for before the slot is reused, so no send buffer is ever replaced while the transport still reads it.
struct SendSlots: Sendable {
    private var pending: [(any SendRequest)?]

    init(count: Int) { pending = Array(repeating: nil, count: max(1, count)) }

    var slotCount: Int { pending.count }

    /// Waits for the send that used `slot` before, then starts a new one there with `start`.
    mutating func send(slot: Int, _ start: () throws(TransportError) -> any SendRequest) throws(TransportError) {
        let index = slot % pending.count
        if let previous = pending[index] {
            pending[index] = nil
            try previous.wait()
        }
        pending[index] = try start()
    }

    /// Sends whose completion has not been observed yet.
    mutating func outstanding() throws(TransportError) -> Int {
        var count = 0
        for index in pending.indices {
            guard let send = pending[index] else { continue }
            if try send.test() { pending[index] = nil } else { count += 1 }
        }
        return count
    }

    /// Waits for every outstanding send (at shutdown).
    mutating func waitAll() throws(TransportError) {
        for index in pending.indices {
            try pending[index]?.wait()
            pending[index] = nil
        }
    }
}

extension Communicator {
    /// Receives the next `tag` message from `source`, polling the lifeline while it waits.
    func receive(from source: Int, tag: MessageTag, watching lifeline: Lifeline) throws -> [UInt8] {
        while true {
            try lifeline.check()
            let result = Result { () throws(TransportError) -> [UInt8] in
                try receive(from: source, tag: tag, timeout: Lifeline.pollInterval * 5)
            }
            switch result {
            case .success(let bytes): return bytes
            case .failure(.timedOut): continue
            case .failure(let error): throw error
            }
        }
    }
}
