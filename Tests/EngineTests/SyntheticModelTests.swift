import Engine
import Model
import Testing

/// The synthetic pipeline model: spec parsing, deterministic chained stages, the layer-counter check, sleeping.
@Suite struct SyntheticSpecTests {
    @Test func parsesTheExampleSpec() throws {
        let spec = try SyntheticSpec(parsing: "synthetic:layers=32,stage-ms=10,10,10,15,per-token-us=20,jitter=0.2")
        #expect(spec.layerCount == 32)
        #expect(spec.stageMilliseconds == [10, 10, 10, 15])
        #expect(spec.perTokenMicroseconds == 20)
        #expect(spec.jitter == 0.2)
        #expect(spec.seed == 0 && spec.vocabSize == 512 && spec.hiddenSize == 64)
        #expect(spec.contextLength == 4096 && spec.kvDim == 64)
    }

    @Test func bareAndEmptySpecsAreTheDefaults() throws {
        let defaults = try SyntheticSpec()
        #expect(try SyntheticSpec(parsing: "synthetic") == defaults)
        #expect(try SyntheticSpec(parsing: "synthetic:") == defaults)
        #expect(defaults.layerCount == 32 && defaults.stageMilliseconds == [0] && defaults.perTokenMicroseconds == 0)
        #expect(defaults.jitter == 0 && defaults.vocabSize == 512 && defaults.hiddenSize == 64)
        #expect(defaults.contextLength == 4096 && defaults.kvDim == 64 && defaults.seed == 0)
    }

    @Test func parsesEveryKeyWithSpaces() throws {
        let spec = try SyntheticSpec(parsing:
            "synthetic: seed=18446744073709551615, vocab=1000 ,hidden=4096,context=16,kv-dim=1,layers=1,stage-ms=2.5")
        #expect(spec.seed == .max && spec.vocabSize == 1000 && spec.hiddenSize == 4096)
        #expect(spec.contextLength == 16 && spec.kvDim == 1 && spec.layerCount == 1 && spec.stageMilliseconds == [2.5])
    }

    @Test(arguments: [
        "synthetic", "synthetic:layers=32,stage-ms=10,10,10,15,per-token-us=20,jitter=0.2",
        "synthetic:layers=7,stage-ms=0.1,1e-05,3,per-token-us=0.125,jitter=0.999,seed=99,vocab=8,hidden=4,context=16,kv-dim=3",
        "synthetic:stage-ms=600000,per-token-us=1000000,vocab=1000000,hidden=65536,context=16777216,kv-dim=1048576",
        "synthetic:layers=2,fail-at=40",
        "synthetic:layers=3,layer-ms=1,2.5,4",
    ])
    func descriptionRoundTrips(text: String) throws {
        let spec = try SyntheticSpec(parsing: text)
        #expect(try SyntheticSpec(parsing: spec.description) == spec)
        #expect(spec.description.hasPrefix("synthetic:layers="))
    }

    @Test func canonicalDescription() throws {
        let spec = try SyntheticSpec(parsing: "synthetic:jitter=0.2,stage-ms=10,10.5,layers=4")
        #expect(spec.description == "synthetic:layers=4,stage-ms=10,10.5,jitter=0.2")
        #expect(SyntheticModel(spec: spec).name == spec.description)
    }

    static let errors: [(String, String)] = [
        ("", #""" does not start with "synthetic""#),
        ("llama:layers=3", #""llama:layers=3" does not start with "synthetic""#),
        ("synthetics", #"does not start with "synthetic:""#),
        ("synthetic:foo=1", #"unknown key "foo" (known: layers, stage-ms, layer-ms, per-token-us, jitter, seed, vocab, hidden, context, kv-dim, fail-at)"#),
        ("synthetic:stage-ms=x", #"stage-ms value "x" is not a number"#),
        ("synthetic:stage-ms=1,x", #"stage-ms value "x" is not a number"#),
        ("synthetic:stage-ms=1,-2", "stage-ms value -2 is out of range (accepted: a number in 0...600000)"),
        ("synthetic:stage-ms=nan", #"stage-ms value "nan" is not a finite number"#),
        ("synthetic:per-token-us=inf", #"per-token-us value "inf" is not a finite number"#),
        ("synthetic:layers=3,layers=4", #"duplicate key "layers""#),
        ("synthetic:layers=", "layers has an empty value (accepted: an integer in 1...65536)"),
        ("synthetic:layers=0", "layers value 0 is out of range (accepted: an integer in 1...65536)"),
        ("synthetic:layers=3,layer-ms=1,2", "layer-ms lists 2 times but the model has 3 layers (give one value, or one per layer)"),
        ("synthetic:fail-at=0", "fail-at value 0 is out of range (accepted: an integer in 1...16777216)"),
        ("synthetic:layers=2.5", #"layers value "2.5" is not an integer"#),
        ("synthetic:layers=99999999999999999999999", "is not an integer"),
        ("synthetic:layers=3,4", #"layers takes one value, got extra item "4""#),
        ("synthetic:5", #"item "5" has no key"#),
        ("synthetic:=5", #"item "=5" has no key"#),
        ("synthetic:layers=3,,seed=1", "empty item"),
        ("synthetic:layers=3,", "empty item"),
        ("synthetic:jitter=1", "jitter value 1 is out of range (accepted: a number with 0 <= jitter < 1)"),
        ("synthetic:jitter=-0.1", "jitter value -0.1 is out of range"),
        ("synthetic:seed=-1", #"seed value "-1" is not an integer (accepted: an integer in 0...18446744073709551615)"#),
        ("synthetic:vocab=7", "vocab value 7 is out of range (accepted: an integer in 8...1000000)"),
        ("synthetic:hidden=3", "hidden value 3 is out of range (accepted: an integer in 4...65536)"),
        ("synthetic:context=15", "context value 15 is out of range (accepted: an integer in 16...16777216)"),
        ("synthetic:kv-dim=0", "kv-dim value 0 is out of range (accepted: an integer in 1...1048576)"),
        ("synthetic:per-token-us=-1", "per-token-us value -1 is out of range"),
    ]

    @Test(arguments: errors)
    func rejectsBadSpecsWithAMessage(text: String, expected: String) {
        #expect {
            try SyntheticSpec(parsing: text)
        } throws: { error in
            let description = String(describing: error)
            return description.hasPrefix("synthetic model spec: ") && description.contains(expected)
        }
    }

    @Test func rejectsArbitraryInputWithoutCrashing() throws {
        let pieces = ["synthetic", ":", "=", ",", "layers", "stage-ms", "1", "-", "x", " ", "é", "0x1p3", "1e400", "\u{0}"]
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let text = (0..<Int(generator.next() % 8)).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined()
            if let spec = try? SyntheticSpec(parsing: text) {
                #expect(try SyntheticSpec(parsing: spec.description) == spec)
            }
        }
    }
}

@Suite struct SyntheticModelTests {
    static func model(_ text: String = "synthetic:layers=32") throws -> SyntheticModel {
        SyntheticModel(spec: try SyntheticSpec(parsing: text))
    }

    /// A prefill chunk of 5 tokens and two decode chunks; the first decode chunk does not want logits.
    static let batch = [
        SequenceChunk(startPosition: 0, tokenCount: 5, blockTable: [0], wantsLogits: true),
        SequenceChunk(startPosition: 17, tokenCount: 1, blockTable: [1, 2], wantsLogits: false),
        SequenceChunk(startPosition: 40, tokenCount: 1, blockTable: [3, 4, 5], wantsLogits: true),
    ]
    static let tokens: [Int32] = [3, 1, 4, 1, 5, 92, 65]

    static func run(_ stages: [any StageModel], batch: [SequenceChunk] = batch, tokens: [Int32] = tokens) throws -> [Float] {
        var hidden: [Float] = []
        for stage in stages {
            switch try stage.forward(batch: batch, tokens: tokens, hidden: hidden) {
            case .hidden(let rows): hidden = rows
            case .logits(let logits): return logits
            }
        }
        Issue.record("no stage returned logits")
        return []
    }

    static func threeStages(_ model: SyntheticModel) throws -> [any StageModel] {
        try [0..<10, 10..<20, 20..<32].enumerated().map { rank, layers in
            try model.makeStage(rank: rank, stageCount: 3, layers: layers, blockSize: 16, blockCount: 8)
        }
    }

    @Test func modelPropertiesFollowTheSpec() throws {
        let model = try Self.model("synthetic:layers=12,vocab=100,hidden=8,context=64,kv-dim=16")
        #expect(model.layerCount == 12 && model.vocabSize == 100 && model.hiddenSize == 8 && model.contextLength == 64)
        #expect(model.eosTokenIDs == [99])
        #expect(model.kvBytesPerTokenPerLayer == 128)
        #expect(model.costs == StageCosts(layer: 1, embedding: 0, head: 0))
        #expect(model.encode("ab\u{FF}") == [97, 98, 0xC3 - 99, 0xBF - 99] as [Int32])
        #expect(try Self.model("synthetic:vocab=8").encode(String(repeating: "\u{7}\u{E}", count: 3)).allSatisfy { $0 != 7 })
    }

    @Test func detokenizerSpellsTokenIDs() throws {
        var detokenizer = try Self.model().makeDetokenizer()
        #expect(detokenizer.append(42) + detokenizer.append(0) == "t42 t0 ")
        #expect(detokenizer.flush() == "")
    }

    @Test func chainedStagesMatchOneStageBitForBit() throws {
        let model = try Self.model("synthetic:layers=32,seed=5")
        let stages = try Self.threeStages(model)
        let first = try Self.run(stages)
        #expect(first.count == 2 * model.vocabSize)
        #expect(first.allSatisfy { $0 >= -4 && $0 <= 4 })
        #expect(Set(first).count > model.vocabSize)
        let again = try Self.run(stages)
        #expect(again.map(\.bitPattern) == first.map(\.bitPattern))
        let whole = try model.makeStage(rank: 0, stageCount: 1, layers: 0..<32, blockSize: 16, blockCount: 8)
        #expect(try Self.run([whole]).map(\.bitPattern) == first.map(\.bitPattern))
        // Logits depend on the chunk's last token and position only, not on its batch-mates.
        let alone = try Self.run([whole], batch: [Self.batch[2]], tokens: [65])
        #expect(alone.map(\.bitPattern) == Array(first[model.vocabSize...]).map(\.bitPattern))
        // A different seed gives different logits.
        let reseeded = try Self.run(Self.threeStages(try Self.model("synthetic:layers=32,seed=6")))
        #expect(reseeded != first)
    }

    @Test func hiddenRowsCarryTokenPositionAndLayerCounter() throws {
        let model = try Self.model("synthetic:hidden=4")
        let stage = try model.makeStage(rank: 0, stageCount: 3, layers: 0..<10, blockSize: 16, blockCount: 8)
        guard case .hidden(let rows) = try stage.forward(batch: Self.batch, tokens: Self.tokens, hidden: []) else {
            Issue.record("the first of three stages returned logits")
            return
        }
        #expect(rows.count == 7 * 4)
        #expect(stride(from: 0, to: rows.count, by: 4).map { rows[$0] } == Self.tokens.map(Float.init))
        #expect(stride(from: 1, to: rows.count, by: 4).map { rows[$0] } == [0, 1, 2, 3, 4, 17, 40])
        #expect(stride(from: 2, to: rows.count, by: 4).allSatisfy { rows[$0] == 10 })
    }

    @Test func layerCounterCatchesActivationsFromTheWrongStage() throws {
        let stages = try Self.threeStages(try Self.model())
        guard case .hidden(let fromFirst) = try stages[0].forward(batch: Self.batch, tokens: Self.tokens, hidden: []) else {
            Issue.record("the first stage returned logits")
            return
        }
        #expect {
            try stages[2].forward(batch: Self.batch, tokens: Self.tokens, hidden: fromFirst)
        } throws: { error in
            let text = String(describing: error)
            return error is SyntheticStageError && text.contains("stage 2 of 3") && text.contains("layer counter 10.0")
                && text.contains("expected 20.0")
        }
    }

    @Test func rejectsInputOfTheWrongSize() throws {
        let stages = try Self.threeStages(try Self.model())
        #expect(throws: SyntheticStageError.self) {
            try stages[0].forward(batch: Self.batch, tokens: Array(Self.tokens.dropLast()), hidden: [])
        }
        #expect(throws: SyntheticStageError.self) {
            try stages[1].forward(batch: Self.batch, tokens: Self.tokens, hidden: [Float](repeating: 10, count: 7 * 64 - 1))
        }
        #expect(throws: SyntheticStageError.self) {
            try stages[1].forward(batch: Self.batch, tokens: Self.tokens, hidden: [])
        }
        let negative = [SequenceChunk(startPosition: 0, tokenCount: -1, blockTable: [], wantsLogits: true)]
        #expect(throws: SyntheticStageError.self) { try stages[0].forward(batch: negative, tokens: [], hidden: []) }
    }

    @Test func emptyBatchAndChunksWithoutLogits() throws {
        let whole = try Self.model().makeStage(rank: 0, stageCount: 1, layers: 0..<32, blockSize: 16, blockCount: 8)
        guard case .logits(let none) = try whole.forward(batch: [], tokens: [], hidden: []) else {
            Issue.record("a single stage returned hidden states")
            return
        }
        #expect(none.isEmpty)
        let noLogits = [SequenceChunk(startPosition: 3, tokenCount: 2, blockTable: [0], wantsLogits: false)]
        guard case .logits(let empty) = try whole.forward(batch: noLogits, tokens: [1, 2], hidden: []) else { return }
        #expect(empty.isEmpty)
    }

    @Test func forwardSleepsTheStageTime() throws {
        let stage = try Self.model("synthetic:stage-ms=30").makeStage(rank: 0, stageCount: 2, layers: 0..<16,
                                                                       blockSize: 16, blockCount: 8)
        let elapsed = try ContinuousClock().measure {
            _ = try stage.forward(batch: Self.batch, tokens: Self.tokens, hidden: [])
        }
        #expect(elapsed >= .milliseconds(25))
    }

    @Test func perTokenTimeAddsUp() throws {
        let model = try Self.model("synthetic:stage-ms=2,per-token-us=1000")
        let stage = try model.stage(rank: 0, stageCount: 1, layers: 0..<32)
        #expect(stage.delay(batch: Self.batch, tokens: Self.tokens, hidden: []) == .milliseconds(9))
        let elapsed = try ContinuousClock().measure {
            _ = try stage.forward(batch: Self.batch, tokens: Self.tokens, hidden: [])
        }
        #expect(elapsed >= .milliseconds(8))
    }

    @Test func jitterStaysInBoundsAndIsDeterministicPerBatch() throws {
        let model = try Self.model("synthetic:layers=4,stage-ms=10,jitter=0.25,seed=3")
        let stages = try (0..<2).map { try model.stage(rank: $0, stageCount: 2, layers: $0 * 2..<$0 * 2 + 2) }
        var factors: [Double] = []
        for start in 0..<200 {
            let batch = [SequenceChunk(startPosition: start, tokenCount: 2, blockTable: [0], wantsLogits: true)]
            let tokens: [Int32] = [Int32(start % 50), 7]
            let factor = stages[0].jitterFactor(batch: batch, tokens: tokens, hidden: [])
            #expect(factor >= 0.75 && factor <= 1.25)
            #expect(stages[0].jitterFactor(batch: batch, tokens: tokens, hidden: []) == factor)
            #expect(stages[0].delay(batch: batch, tokens: tokens, hidden: []) == .nanoseconds(Int64((10e6 * factor).rounded())))
            factors.append(factor)
        }
        #expect((factors.min() ?? 1) < 0.85 && (factors.max() ?? 1) > 1.15)
        // A rebuilt model gives the same factors; another rank gets its own.
        let rebuilt = try Self.model("synthetic:layers=4,stage-ms=10,jitter=0.25,seed=3").stage(rank: 0, stageCount: 2, layers: 0..<2)
        #expect(rebuilt.jitterFactor(batch: Self.batch, tokens: Self.tokens, hidden: [])
            == stages[0].jitterFactor(batch: Self.batch, tokens: Self.tokens, hidden: []))
        let hidden = [Float](repeating: 2, count: 7 * 64)
        let other = stages[1].jitterFactor(batch: Self.batch, tokens: [], hidden: hidden)
        #expect(other >= 0.75 && other <= 1.25)
        #expect(try Self.model("synthetic:stage-ms=10").stage(rank: 0, stageCount: 1, layers: 0..<32)
            .jitterFactor(batch: Self.batch, tokens: Self.tokens, hidden: []) == 1)
    }

    @Test func perStageTimes() throws {
        let model = try Self.model("synthetic:layers=4,stage-ms=1,2,3")
        let times = try (0..<3).map { try model.stage(rank: $0, stageCount: 3, layers: $0..<$0 + 1).milliseconds }
        #expect(times == [1, 2, 3])
    }

    struct BadSplit: Sendable, CustomStringConvertible {
        let spec: String, rank: Int, stageCount: Int, layers: Range<Int>, expected: String
        var description: String { "\(spec) rank \(rank)/\(stageCount) \(layers)" }
    }

    static let badSplits = [
        BadSplit(spec: "synthetic:stage-ms=1,2,3,4", rank: 0, stageCount: 3, layers: 0..<10,
                 expected: "stage-ms lists 4 times but the pipeline has 3 stages"),
        BadSplit(spec: "synthetic:layers=32", rank: 0, stageCount: 2, layers: 0..<0, expected: "empty or outside 0..<32"),
        BadSplit(spec: "synthetic:layers=32", rank: 1, stageCount: 2, layers: 16..<33, expected: "empty or outside 0..<32"),
        BadSplit(spec: "synthetic:layers=32", rank: 2, stageCount: 2, layers: 0..<16, expected: "rank 2 is not in 0..<2"),
        BadSplit(spec: "synthetic:layers=32", rank: 0, stageCount: 0, layers: 0..<16, expected: "rank 0 is not in 0..<0"),
    ]

    @Test(arguments: badSplits)
    func makeStageRejectsSplitsTheSpecDoesNotFit(split: BadSplit) throws {
        let model = try Self.model(split.spec)
        #expect {
            try model.makeStage(rank: split.rank, stageCount: split.stageCount, layers: split.layers, blockSize: 16, blockCount: 8)
        } throws: { error in
            error is SyntheticSpecError && String(describing: error).contains(split.expected)
        }
    }
}
