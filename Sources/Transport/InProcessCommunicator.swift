import Engine
import Foundation

/// Ranks as threads of one process: messages are handed over as Swift arrays (copy-on-write, so no bytes are copied),
/// a send completes at once, and a receiver sleeps on a condition variable until its message arrives.
public final class InProcessFabric: Sendable {
    public let size: Int
    private let channels = ChannelTable()

    public init(size: Int) {
        precondition(size >= 1)
        self.size = size
    }

    /// The communicator of `rank` on the fabric's first channel.
    public func communicator(rank: Int) -> InProcessCommunicator {
        InProcessCommunicator(rank: rank, size: size, mailbox: channels.channel(0, ranks: size), fabric: self, channelID: 0)
    }

    func channel(_ id: Int) -> [Mailbox] { channels.channel(id, ranks: size) }

    /// Closes every mailbox: blocked receivers wake up with `TransportError.closed` (used to abort a pipeline).
    public func close() { channels.closeAll() }
}

/// Channel id → one mailbox per rank. `@unchecked Sendable`: `table` is only touched under `lock`.
final class ChannelTable: @unchecked Sendable {
    private let lock = NSLock()
    private var table: [Int: [Mailbox]] = [:]

    func channel(_ id: Int, ranks: Int) -> [Mailbox] {
        lock.lock()
        defer { lock.unlock() }
        if let existing = table[id] { return existing }
        let created = (0..<ranks).map { _ in Mailbox() }
        table[id] = created
        return created
    }

    func closeAll() {
        lock.lock()
        let all = table.values.flatMap { $0 }
        lock.unlock()
        all.forEach { $0.close() }
    }
}

/// The messages waiting for one rank on one channel, FIFO per (sender, tag).
/// `@unchecked Sendable`: `queues` and `closed` are only touched under `condition`'s lock.
final class Mailbox: @unchecked Sendable {
    struct Key: Hashable {
        let source: Int
        let tag: MessageTag
    }

    private let condition = NSCondition()
    private var queues: [Key: [[UInt8]]] = [:]
    private var closed = false

    func deliver(_ payload: [UInt8], from source: Int, tag: MessageTag) {
        condition.lock()
        queues[Key(source: source, tag: tag), default: []].append(payload)
        condition.broadcast()
        condition.unlock()
    }

    func take(from source: Int, tag: MessageTag, timeout: Double?) throws(TransportError) -> [UInt8] {
        let key = Key(source: source, tag: tag)
        let deadline = timeout.map { Date(timeIntervalSinceNow: $0) }
        condition.lock()
        defer { condition.unlock() }
        while true {
            if var queue = queues[key], !queue.isEmpty {
                let payload = queue.removeFirst()
                queues[key] = queue
                return payload
            }
            if closed { throw .closed }
            if let deadline {
                if !condition.wait(until: deadline) && queues[key]?.isEmpty ?? true && !closed {
                    throw .timedOut(rank: source, tag: tag, seconds: timeout ?? 0)
                }
            } else {
                condition.wait()
            }
        }
    }

    func peek(from source: Int, tag: MessageTag) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return !(queues[Key(source: source, tag: tag)]?.isEmpty ?? true)
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// A send on the in-process fabric is complete as soon as it is made (the receiver's queue holds the array).
struct CompletedSend: SendRequest {
    func test() throws(TransportError) -> Bool { true }
    func wait() throws(TransportError) {}
}

/// One rank's view of an in-process channel.
public struct InProcessCommunicator: Communicator {
    public let rank: Int
    public let size: Int
    let mailboxes: [Mailbox]
    let fabric: InProcessFabric
    let channelID: Int
    private let duplicates = DuplicateCounter()

    init(rank: Int, size: Int, mailbox: [Mailbox], fabric: InProcessFabric, channelID: Int) {
        self.rank = rank
        self.size = size
        mailboxes = mailbox
        self.fabric = fabric
        self.channelID = channelID
    }

    func check(_ peer: Int) throws(TransportError) {
        guard (0..<size).contains(peer) else { throw .invalidRank(peer, size: size) }
    }

    public func send(_ payload: [UInt8], to destination: Int, tag: MessageTag) throws(TransportError) -> any SendRequest {
        try check(destination)
        mailboxes[destination].deliver(payload, from: rank, tag: tag)
        return CompletedSend()
    }

    public func receive(from source: Int, tag: MessageTag, timeout: Double?) throws(TransportError) -> [UInt8] {
        try check(source)
        return try mailboxes[rank].take(from: source, tag: tag, timeout: timeout)
    }

    public func probe(from source: Int, tag: MessageTag) throws(TransportError) -> Bool {
        try check(source)
        return mailboxes[rank].peek(from: source, tag: tag)
    }

    /// Every rank's k-th duplicate of channel c is the same channel (derived deterministically, like `MPI_Comm_dup`).
    public func duplicate() throws(TransportError) -> any Communicator {
        let id = (channelID + 1) * 1_000 + duplicates.next()
        return InProcessCommunicator(rank: rank, size: size, mailbox: fabric.channel(id), fabric: fabric, channelID: id)
    }
}

/// Counts a communicator's duplicates. `@unchecked Sendable`: `value` is only touched under `lock`.
final class DuplicateCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
