import Engine
import Foundation
import Kernels
import Model
import Testing
import Transport

/// A synthetic model whose stage on one rank hangs or throws: the pipeline must stop with an error naming the rank.
struct FaultyModel: PipelineModel {
    enum Fault: Sendable {
        case hang(rank: Int, seconds: Double)
        case fail(rank: Int, onCall: Int)
    }

    let base: SyntheticModel
    let fault: Fault

    var name: String { base.name }
    var layerCount: Int { base.layerCount }
    var vocabSize: Int { base.vocabSize }
    var hiddenSize: Int { base.hiddenSize }
    var contextLength: Int { base.contextLength }
    var eosTokenIDs: [Int32] { base.eosTokenIDs }
    var kvBytesPerTokenPerLayer: Int { base.kvBytesPerTokenPerLayer }
    var costs: StageCosts { base.costs }
    func makeDetokenizer() -> any IncrementalDetokenizer { base.makeDetokenizer() }

    func makeStage(rank: Int, stageCount: Int, layers: Range<Int>, blockSize: Int, blockCount: Int) throws -> any StageModel {
        FaultyStage(base: try base.makeStage(rank: rank, stageCount: stageCount, layers: layers, blockSize: blockSize,
                                             blockCount: blockCount), rank: rank, fault: fault)
    }
}

struct InjectedFailure: Error, CustomStringConvertible {
    var description: String { "injected failure" }
}

final class FaultyStage: StageModel {
    let base: any StageModel
    let rank: Int
    let fault: FaultyModel.Fault
    let calls = Locked(0)

    init(base: any StageModel, rank: Int, fault: FaultyModel.Fault) {
        self.base = base
        self.rank = rank
        self.fault = fault
    }

    func forward(batch: [SequenceChunk], tokens: [Int32], hidden: [Float]) throws -> StageOutput {
        let call = calls.withLock { $0 += 1; return $0 }
        switch fault {
        case .hang(let target, let seconds) where target == rank && call == 1:
            Thread.sleep(forTimeInterval: seconds)
        case .fail(let target, let onCall) where target == rank && call == onCall:
            throw InjectedFailure()
        default:
            break
        }
        return try base.forward(batch: batch, tokens: tokens, hidden: hidden)
    }
}

/// Counts the sends of each tag that were made but not yet seen complete; a send completes only once it is waited
/// for or tested twice, like a large MPI message still in flight.
final class SendLedger: Sendable {
    let state = Locked<(open: [MessageTag: Int], most: [MessageTag: Int])>(([:], [:]))

    func opened(_ tag: MessageTag) {
        state.withLock { s in
            s.open[tag, default: 0] += 1
            s.most[tag] = max(s.most[tag] ?? 0, s.open[tag]!)
        }
    }

    func closed(_ tag: MessageTag) { state.withLock { $0.open[tag, default: 0] -= 1 } }
}

final class SlowSend: SendRequest {
    let tag: MessageTag
    let ledger: SendLedger
    let tests = Locked(0)
    let done = Locked(false)

    init(tag: MessageTag, ledger: SendLedger) {
        self.tag = tag
        self.ledger = ledger
        ledger.opened(tag)
    }

    private func complete() {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        if first { ledger.closed(tag) }
    }

    func test() throws(TransportError) -> Bool {
        if tests.withLock({ $0 += 1; return $0 }) >= 2 { complete() }
        return done.withLock { $0 }
    }

    func wait() throws(TransportError) { complete() }
}

struct LedgerCommunicator: Communicator {
    let inner: any Communicator
    let ledger: SendLedger
    var rank: Int { inner.rank }
    var size: Int { inner.size }

    func send(_ payload: [UInt8], to destination: Int, tag: MessageTag) throws(TransportError) -> any SendRequest {
        _ = try inner.send(payload, to: destination, tag: tag)
        return SlowSend(tag: tag, ledger: ledger)
    }

    func receive(from source: Int, tag: MessageTag, timeout: Double?) throws(TransportError) -> [UInt8] {
        try inner.receive(from: source, tag: tag, timeout: timeout)
    }

    func probe(from source: Int, tag: MessageTag) throws(TransportError) -> Bool { try inner.probe(from: source, tag: tag) }

    func duplicate() throws(TransportError) -> any Communicator {
        LedgerCommunicator(inner: try inner.duplicate(), ledger: ledger)
    }
}

@Suite struct PipelineFaultTests {
    static func synthetic(_ text: String) throws -> SyntheticModel { SyntheticModel(spec: try SyntheticSpec(parsing: text)) }

    static func options(stages: Int, _ configure: (inout EngineOptions) -> Void = { _ in }) -> EngineOptions {
        var options = EngineOptions()
        options.pipelineStages = stages
        configure(&options)
        return options
    }

    static func expectFailure(_ engine: InferenceEngine, containing parts: [String]) async throws {
        let request = GenerationRequest(id: "x", promptTokenIDs: [1, 2, 3, 4, 5], maxTokens: 8)
        do {
            _ = try await engine.generate(request)
            Issue.record("the request should have failed")
        } catch let error as EngineError {
            for part in parts { #expect("\(error)".contains(part), "\(error)") }
        }
        engine.shutdown()
        #expect(throws: EngineError.self) { try engine.submit(GenerationRequest(id: "y", promptTokenIDs: [1])) }
    }

    @Test func aFailingForwardStopsThePipelineWithItsError() async throws {
        let model = FaultyModel(base: try Self.synthetic("synthetic:layers=8"), fault: .fail(rank: 2, onCall: 3))
        let engine = try InferenceEngine.inProcess(model: model, options: Self.options(stages: 4))
        try await Self.expectFailure(engine, containing: ["rank 2", "injected failure"])
        #expect(engine.failure != nil)
    }

    @Test func theWatchdogNamesTheStalledRankAndStep() async throws {
        let model = FaultyModel(base: try Self.synthetic("synthetic:layers=8"), fault: .hang(rank: 1, seconds: 2.5))
        let engine = try InferenceEngine.inProcess(model: model, options: Self.options(stages: 3) { $0.watchdogSeconds = 0.5 })
        try await Self.expectFailure(engine, containing: ["watchdog: rank 1", "running its stage forward"])
    }

    @Test func aRankWithFewerKVBlocksFailsLoudly() async throws {
        let options = Self.options(stages: 3) { $0.kvBlocksByRank = [64, 64, 1]; $0.blockSize = 4 }
        let engine = try InferenceEngine.inProcess(model: try Self.synthetic("synthetic:layers=6"), options: options)
        try await Self.expectFailure(engine, containing: ["rank 2 cannot follow the schedule", "KV blocks", "--kv-cache-mb"])
    }

    @Test func sendSlotsAreNeverOverfilledAndNothingIsLeftInFlight() async throws {
        let ledger = SendLedger()
        let fabric = InProcessFabric(size: 4)
        let communicators = (0..<4).map { LedgerCommunicator(inner: fabric.communicator(rank: $0), ledger: ledger) as any Communicator }
        let options = Self.options(stages: 4) { $0.slots = 3; $0.maxSequences = 2 }
        let engine = try InferenceEngine(model: try Self.synthetic("synthetic:layers=8,stage-ms=0.2,hidden=4096"),
                                         options: options, communicators: communicators)
        let results = try await runAll(engine, (0..<12).map {
            GenerationRequest(id: "r\($0)", promptTokenIDs: Array(repeating: Int32($0 + 1), count: 20), maxTokens: 6)
        })
        engine.shutdown()
        #expect(results.count == 12)
        let (open, most) = ledger.state.withLock { ($0.open, $0.most) }
        #expect(open.values.allSatisfy { $0 == 0 }, "sends left in flight at exit: \(open)")
        // Per (kind, slot) one outstanding send: the main loop's kinds go to one peer, so at most `slots` per rank.
        for tag in [MessageTag.activations, .schedule, .executedCount] {
            #expect((most[tag] ?? 0) <= 3 * 3, "\(tag): \(most[tag] ?? 0) outstanding at once")
        }
        #expect((most[.activations] ?? 0) > 0)
    }
}
