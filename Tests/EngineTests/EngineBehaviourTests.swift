import Engine
import Foundation
import Model
import Testing

/// Engine behaviour on a tiny random model: batching, preemption, stops, cancellation, shutdown, validation.
@Suite struct EngineBehaviourTests {
    static var tinyPath: String {
        (ProcessInfo.processInfo.environment["BRIGADE_TESTDATA"]
            ?? FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/brigade/testdata") + "/tiny/f32/model.gguf"
    }

    static func engine(_ configure: (inout EngineOptions) -> Void = { _ in }) throws -> InferenceEngine {
        guard FileManager.default.fileExists(atPath: tinyPath) else {
            Issue.record("missing \(tinyPath): run scripts/prepare-test-data")
            throw CancellationError()
        }
        var options = EngineOptions()
        configure(&options)
        return try InferenceEngine(model: try TestModels.model(tinyPath), options: options)
    }

    static func prompt(_ n: Int, salt: Int = 0) -> [Int32] { (0..<n).map { Int32(3 + ($0 * 37 + salt * 11) % 290) } }

    static func run(_ engine: InferenceEngine, _ requests: [GenerationRequest]) async throws -> [String: Collected] {
        try await withThrowingTaskGroup(of: (String, Collected).self) { group in
            for request in requests {
                let stream = try engine.submit(request)
                group.addTask { (request.id, try await collect(stream)) }
            }
            var results: [String: Collected] = [:]
            for try await (id, result) in group { results[id] = result }
            return results
        }
    }

    func requests(_ count: Int, maxTokens: Int = 12, sampling: SamplingParameters = .greedy) -> [GenerationRequest] {
        (0..<count).map {
            GenerationRequest(id: "r\($0)", promptTokenIDs: Self.prompt(3 + $0 * 5 % 40, salt: $0), sampling: sampling,
                              maxTokens: maxTokens, ignoreEOS: true)
        }
    }

    @Test func batchCompositionDoesNotChangeTokensGreedyOrSeeded() async throws {
        for sampling in [SamplingParameters.greedy, SamplingParameters(temperature: 0.9, topP: 0.95, seed: 1234)] {
            let all = requests(16, sampling: sampling)
            let together = try await Self.run(try Self.engine { $0.maxBatchedTokens = 37 }, all)
            let oneByOne = try Self.engine { $0.maxSequences = 1 }
            for request in all {
                let alone = try await Self.run(oneByOne, [request])
                #expect(alone[request.id]?.tokens == together[request.id]?.tokens, "\(request.id)")
                #expect(together[request.id]?.tokens.count == 12)
            }
        }
    }

    @Test func runningOutOfBlocksPreemptsAndEveryRequestStillCompletes() async throws {
        let reference = try await Self.run(try Self.engine(), requests(24, maxTokens: 40))
        // 1 MiB holds 1 MiB / (3 layers × 2 × 16 tokens × 32 floats × 4 B) = 85 blocks; 24 requests need up to 24 × 6.
        let tight = try Self.engine { $0.kvCacheMiB = 1; $0.blockSize = 16 }
        #expect(tight.blockCount == 85)
        let squeezed = try await Self.run(tight, requests(24, maxTokens: 40) + [
            GenerationRequest(id: "big", promptTokenIDs: Self.prompt(100), maxTokens: 28, ignoreEOS: true)
        ])
        for (id, result) in reference {
            #expect(squeezed[id]?.tokens == result.tokens, "\(id) changed after preemption")
        }
        #expect(squeezed["big"]?.tokens.count == 28)
        // Streams end inside an engine step; the counters are published when the step ends, so read them after
        // the engine thread has stopped.
        tight.shutdown()
        let stats = tight.statistics
        #expect(stats.preemptions > 0)
        #expect(stats.usedBlocks == 0 && stats.running == 0 && stats.waiting == 0)
    }

    @Test func stopStringsCutTheTextAndAreNeverStreamed() async throws {
        let engine = try Self.engine()
        let free = try await Self.run(engine, [GenerationRequest(id: "a", promptTokenIDs: Self.prompt(5), maxTokens: 10, ignoreEOS: true)])
        let tokens = try #require(free["a"]?.tokens)
        // Stop on the text of the 4th token: the text is the first three tokens' text only.
        let stop = "<\(tokens[3])>"
        let firstIndex = tokens.firstIndex(of: tokens[3])!
        let stopped = try await Self.run(engine, [GenerationRequest(id: "b", promptTokenIDs: Self.prompt(5), maxTokens: 10,
                                                                    stopStrings: ["<99999>", stop], ignoreEOS: true)])
        let result = try #require(stopped["b"])
        #expect(result.finishReason == .stop)
        #expect(result.text == tokens[..<firstIndex].map { "<\($0)>" }.joined())
        #expect(!result.text.contains(stop))
        // A stop string split across tokens: the end of token k's text plus the start of token k+1's.
        let split = "\(tokens[1])><\(tokens[2])"
        let cut = try await Self.run(engine, [GenerationRequest(id: "c", promptTokenIDs: Self.prompt(5), maxTokens: 10,
                                                                stopStrings: [split], ignoreEOS: true)])
        let fullText = tokens.map { "<\($0)>" }.joined()
        #expect(cut["c"]?.text == String(fullText[..<fullText.range(of: split)!.lowerBound]))
    }

    @Test func stopTokensMinTokensAndMaxTokens() async throws {
        let engine = try Self.engine()
        let free = try await Self.run(engine, [GenerationRequest(id: "a", promptTokenIDs: Self.prompt(7), maxTokens: 8, ignoreEOS: true)])
        let tokens = try #require(free["a"]?.tokens)
        let stopAt = tokens[2]
        let first = tokens.firstIndex(of: stopAt)!
        let stopped = try await Self.run(engine, [GenerationRequest(id: "b", promptTokenIDs: Self.prompt(7), maxTokens: 8,
                                                                    stopTokenIDs: [stopAt], ignoreEOS: true)])
        #expect(stopped["b"]?.tokens == Array(tokens[...first]))
        #expect(stopped["b"]?.finishReason == .stop)
        #expect(stopped["b"]?.usage == Usage(promptTokens: 7, completionTokens: first + 1))
        let longer = try await Self.run(engine, [GenerationRequest(id: "c", promptTokenIDs: Self.prompt(7), maxTokens: 8,
                                                                   minTokens: 6, stopTokenIDs: [stopAt], ignoreEOS: true)])
        #expect((longer["c"]?.tokens.count ?? 0) >= 6)
        #expect(free["a"]?.finishReason == .length)
    }

    @Test func cancellationFreesEverythingAndOthersContinue() async throws {
        let engine = try Self.engine()
        let long = try engine.submit(GenerationRequest(id: "long", promptTokenIDs: Self.prompt(20), maxTokens: 100_000 / 1000, ignoreEOS: true))
        let short = try engine.submit(GenerationRequest(id: "short", promptTokenIDs: Self.prompt(9), maxTokens: 5, ignoreEOS: true))
        engine.cancel("long")
        let cancelled = try await collect(long)
        #expect(cancelled.finishReason == .abort || cancelled.tokens.count == 100)
        #expect(try await collect(short).tokens.count == 5)
        // The id is free again once the request ended.
        _ = try await collect(try engine.submit(GenerationRequest(id: "long", promptTokenIDs: Self.prompt(3), maxTokens: 2)))
        engine.shutdown()
        #expect(engine.statistics.usedBlocks == 0)
    }

    @Test func droppingTheStreamCancelsTheRequest() async throws {
        let engine = try Self.engine()
        let task = Task {
            let stream = try engine.submit(GenerationRequest(id: "x", promptTokenIDs: Self.prompt(4), maxTokens: 100, ignoreEOS: true))
            for try await _ in stream { break }
        }
        try await task.value
        // After the consumer left, the engine retires the request and its id can be reused.
        var reused = false
        for _ in 0..<200 where !reused {
            if (try? engine.submit(GenerationRequest(id: "x", promptTokenIDs: Self.prompt(4), maxTokens: 1))) != nil { reused = true }
            else { try await Task.sleep(nanoseconds: 5_000_000) }
        }
        #expect(reused)
    }

    @Test func shutdownDrainsOrAborts() async throws {
        let draining = try Self.engine()
        let a = try draining.submit(GenerationRequest(id: "a", promptTokenIDs: Self.prompt(6), maxTokens: 20, ignoreEOS: true))
        draining.shutdown(drain: true)
        #expect(try await collect(a).tokens.count == 20)
        #expect(throws: EngineError.shutDown) { try draining.submit(GenerationRequest(id: "b", promptTokenIDs: [5], maxTokens: 1)) }

        let aborting = try Self.engine()
        let b = try aborting.submit(GenerationRequest(id: "b", promptTokenIDs: Self.prompt(6), maxTokens: 100, ignoreEOS: true))
        aborting.shutdown(drain: false)
        let result = try await collect(b)
        #expect(result.finishReason == .abort || result.tokens.count == 100)
    }

    @Test func invalidRequestsAreRejectedWithTheParameterNamed() throws {
        let engine = try Self.engine()
        func rejects(_ request: GenerationRequest, _ parameter: String) {
            do {
                _ = try engine.submit(request)
                Issue.record("accepted an invalid \(parameter)")
            } catch EngineError.invalidRequest(let name, let message) {
                #expect(name == parameter, "\(message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        rejects(GenerationRequest(id: "1", promptTokenIDs: []), "prompt")
        rejects(GenerationRequest(id: "2", promptTokenIDs: [1, 999_999]), "prompt")
        rejects(GenerationRequest(id: "3", promptTokenIDs: Self.prompt(128)), "prompt")  // context is 128
        rejects(GenerationRequest(id: "4", promptTokenIDs: [1], maxTokens: 0), "max_tokens")
        rejects(GenerationRequest(id: "5", promptTokenIDs: [1], sampling: SamplingParameters(temperature: -0.5)), "temperature")
        rejects(GenerationRequest(id: "6", promptTokenIDs: [1], maxTokens: 2, minTokens: 3), "min_tokens")
        let small = try Self.engine { $0.kvCacheMiB = 1; $0.blockSize = 1 }  // 85 × 16 = 1365 tokens of 1-token blocks
        #expect(small.blockCount == 1365)
        // A live id cannot be reused: SmolLM2 takes long enough over 60 tokens that the first is surely still running.
        let slow = try InferenceEngine(model: try TestModels.model(try TestModels.requireSmolLM2(), eosTokenIDs: []))
        let pending = try slow.submit(GenerationRequest(id: "dup", promptTokenIDs: [1], maxTokens: 60, ignoreEOS: true))
        #expect(throws: EngineError.duplicateRequestID("dup")) { try slow.submit(GenerationRequest(id: "dup", promptTokenIDs: [1])) }
        slow.cancel("dup")
        _ = pending
        slow.shutdown(drain: false)
    }
}
