import Foundation
import FuzzTargets
import Testing

/// Replays every fuzz corpus (`Corpora/<target>/`: the seeds from `scripts/fuzz-seeds`, the inputs libFuzzer kept
/// because they reached new code, and every crash found, named `crash-*`) through its target: none may crash, and
/// each corpus must hold inputs that are accepted as well as rejected, so the fuzzer provably reaches both sides.
@Suite struct CorpusReplayTests {
    static let corpora = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpora")

    static func inputs(_ target: FuzzTarget) throws -> [URL] {
        let directory = corpora.appendingPathComponent(target.rawValue)
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusReplaysWithoutCrashing(_ target: FuzzTarget) throws {
        let files = try Self.inputs(target)
        #expect(files.count >= 3, "\(target): the corpus is missing; run scripts/fuzz-seeds")
        var accepted: [String] = [], rejected: [String] = []
        for file in files {
            switch target.run(try Data(contentsOf: file)) {
            case .accepted: accepted.append(file.lastPathComponent)
            case .rejected(let message):
                rejected.append(file.lastPathComponent)
                #expect(!message.isEmpty)
            }
            // A crash found by the fuzzer, once fixed, must be refused with a message, never accepted.
            if file.lastPathComponent.hasPrefix("crash-") {
                #expect(rejected.last == file.lastPathComponent, "\(target): \(file.lastPathComponent) was accepted")
            }
        }
        #expect(!accepted.isEmpty, "\(target): no input of \(files.count) was accepted")
        #expect(!rejected.isEmpty, "\(target): no input of \(files.count) was rejected")
        for seed in files.map(\.lastPathComponent) where seed.hasPrefix("seed-") && !seed.contains("invalid") {
            #expect(accepted.contains(seed), "\(target): the valid seed \(seed) was rejected")
        }
    }

    @Test func checkpointSectionsSplitAtTheSeparator() {
        let parts = FuzzTarget.sections(Data("a".utf8) + FuzzTarget.separator + Data("bc".utf8) + FuzzTarget.separator)
        #expect(parts == [Data("a".utf8), Data("bc".utf8), Data()])
        #expect(FuzzTarget.sections(Data("abc".utf8)) == [Data("abc".utf8)])
    }

    @Test func rejectionsNameTheProblem() {
        #expect(FuzzTarget.gguf.run(Data("GGUF\u{3}\0\0\0".utf8)) != .accepted)
        guard case .rejected(let message) = FuzzTarget.request.run(Data("\u{1}{\"messages\": 3}".utf8)) else {
            Issue.record("a chat body whose messages is a number was accepted")
            return
        }
        #expect(message.contains("messages"))
        guard case .rejected(let template) = FuzzTarget.chatTemplate.run(Data("{% for %}".utf8)) else {
            Issue.record("a broken template compiled")
            return
        }
        #expect(template.contains("line 1"))
    }
}
