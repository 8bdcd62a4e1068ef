import Engine
import Foundation
import Testing
import Transport

/// The in-process transport: FIFO per (sender, tag), disjoint tags and channels, blocking receives that wake on
/// delivery, time-outs and close instead of hangs.
@Suite struct InProcessCommunicatorTests {
    /// Runs `body(rank)` on one dedicated thread per rank and waits for all (bounded: fails after 20 s).
    static func onThreads(_ size: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
        let done = DispatchGroup()
        let failures = Failures()
        for rank in 0..<size {
            done.enter()
            Thread {
                do { try body(rank) } catch { failures.add("rank \(rank): \(error)") }
                done.leave()
            }.start()
        }
        #expect(done.wait(timeout: .now() + 20) == .success, "ranks did not finish: deadlock?")
        #expect(failures.all.isEmpty, "\(failures.all)")
    }

    final class Failures: @unchecked Sendable {  // guarded by lock
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
    }

    @Test func fifoPerSenderAndTagAndTagsNeverMix() throws {
        let fabric = InProcessFabric(size: 2)
        let a = fabric.communicator(rank: 0), b = fabric.communicator(rank: 1)
        for i in 0..<10 {
            _ = try a.send([UInt8(i)], to: 1, tag: .schedule)
            _ = try a.send([UInt8(100 + i)], to: 1, tag: .executedCount)
        }
        #expect(try b.probe(from: 0, tag: .schedule))
        #expect(try !b.probe(from: 0, tag: .activations))
        for i in 0..<10 { #expect(try b.receive(from: 0, tag: .executedCount, timeout: 1) == [UInt8(100 + i)]) }
        for i in 0..<10 { #expect(try b.receive(from: 0, tag: .schedule, timeout: 1) == [UInt8(i)]) }
    }

    @Test func duplicatedChannelsAreSeparate() throws {
        let fabric = InProcessFabric(size: 2)
        let a = fabric.communicator(rank: 0), b = fabric.communicator(rank: 1)
        let relayA = try a.duplicate(), relayB = try b.duplicate()
        _ = try relayA.send([7], to: 1, tag: .sampleState)
        #expect(try !b.probe(from: 0, tag: .sampleState))
        #expect(try relayB.receive(from: 0, tag: .sampleState, timeout: 1) == [7])
    }

    @Test func ringOfLargeMessagesAcrossThreads() throws {
        let size = 4, rounds = 200
        let fabric = InProcessFabric(size: size)
        try Self.onThreads(size) { rank in
            let comm = fabric.communicator(rank: rank)
            let next = (rank + 1) % size, previous = (rank + size - 1) % size
            for round in 0..<rounds {
                if rank == 0 {
                    let payload = [UInt8](repeating: UInt8(round % 251), count: 1 << 20)
                    try comm.send(payload, to: next, tag: .activations).wait()
                    let back = try comm.receive(from: previous, tag: .activations, timeout: 10)
                    guard back.count == 1 << 20, back[12345] == UInt8(round % 251) else { throw TransportError.closed }
                } else {
                    let message = try comm.receive(from: previous, tag: .activations, timeout: 10)
                    _ = try comm.send(message, to: next, tag: .activations)
                }
            }
        }
    }

    @Test func receiveTimesOutAndCloseWakesWaiters() throws {
        let fabric = InProcessFabric(size: 2)
        let b = fabric.communicator(rank: 1)
        #expect(throws: TransportError.timedOut(rank: 0, tag: .schedule, seconds: 0.05)) {
            try b.receive(from: 0, tag: .schedule, timeout: 0.05)
        }
        try Self.onThreads(2) { rank in
            if rank == 1 {
                do {
                    _ = try b.receive(from: 0, tag: .requests, timeout: nil)
                    throw TransportError.peerLost(rank: 0, detail: "expected the receive to be woken by close()")
                } catch TransportError.closed {}
            } else {
                Thread.sleep(forTimeInterval: 0.05)
                fabric.close()
            }
        }
    }

    @Test func invalidRanksAreRejected() throws {
        let comm = InProcessFabric(size: 2).communicator(rank: 0)
        #expect(throws: TransportError.invalidRank(5, size: 2)) { _ = try comm.send([1], to: 5, tag: .schedule) }
        #expect(throws: TransportError.invalidRank(-1, size: 2)) { _ = try comm.probe(from: -1, tag: .schedule) }
    }
}
