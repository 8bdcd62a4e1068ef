import ArgumentParser
import Foundation
import Grammar
import Model

/// `brigade bench grammar`: what enforcing a JSON schema costs per token over the model's vocabulary.
struct BenchGrammar: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grammar",
        abstract: "Measure schema compile time and the per-token cost of grammar masks over the model's vocabulary.",
        discussion: """
            For each schema file (a JSON object with "schema" and "valid" instances, as in \
            Tests/GrammarTests/Fixtures/schemas), times the compile (schema to GBNF to grammar, uncached), then follows \
            each valid instance token by token — tokenized by the model's tokenizer — and at every token times the \
            full mask (every allowed token of the vocabulary) and the one-token check that greedy decoding makes \
            first. The first instance runs on a fresh index (cold: grammar positions are classified as they are \
            met); the others reuse it (warm, as later requests with the same schema do). Reports medians and p99.
            """
    )

    @OptionGroup var model: ModelOptions
    @Option(help: "Directory of schema files.") var schemas = "Tests/GrammarTests/Fixtures/schemas"
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        let text = try model.loadTextModel()
        let vocabulary = TokenVocabulary(tokenizer: text.tokenizer, size: text.weights.config.vocabSize)
        let files = try FileManager.default.contentsOfDirectory(atPath: schemas).filter { $0.hasSuffix(".json") }.sorted()
        guard !files.isEmpty else { throw ValidationError("no .json schema files in \(schemas)") }
        var compile: [Double] = [], cold: [Double] = [], warm: [Double] = [], check: [Double] = []
        var rows: [[String: Any]] = []
        for file in files {
            let fixture = try JSONValue(parsing: String(contentsOfFile: schemas + "/" + file, encoding: .utf8))
            guard let schema = fixture["schema"], let instances = fixture["valid"]?.arrayValue else { continue }
            var grammar: Grammar?
            let compiled = Self.seconds {
                grammar = try? Grammar(gbnf: JSONSchemaGrammar.gbnf(schema: schema.text))
            }
            guard let grammar else { throw ValidationError("\(file): the schema does not compile") }
            compile.append(compiled)
            let index = GrammarIndex(grammar: grammar, vocabulary: vocabulary)
            var fileCold: [Double] = [], fileWarm: [Double] = []
            for (n, instance) in instances.enumerated() {
                var state = index.initialState()
                for token in text.tokenizer.encode(instance.text, parseSpecial: false, addSpecialTokens: false) {
                    let maskTime = Self.seconds { _ = index.mask(for: state) }
                    if n == 0 { fileCold.append(maskTime) } else { fileWarm.append(maskTime) }
                    var next: MatchState?
                    check.append(Self.seconds { next = index.advance(state, token: token) })
                    guard let next else { throw ValidationError("\(file): instance \(n) leaves the grammar at token \(token)") }
                    state = next
                }
            }
            cold += fileCold
            warm += fileWarm
            rows.append(["schema": file, "compile_ms": compiled * 1e3, "cold_mask_us_median": Self.median(fileCold) * 1e6,
                         "warm_mask_us_median": Self.median(fileWarm) * 1e6, "positions": index.indexedPositions])
        }
        let summary: [String: Any] = [
            "vocabulary": vocabulary.size, "schemas": files.count,
            "compile_ms_median": Self.median(compile) * 1e3,
            "mask_cold_us_median": Self.median(cold) * 1e6, "mask_cold_us_p99": Self.percentile(cold, 0.99) * 1e6,
            "mask_warm_us_median": Self.median(warm) * 1e6, "mask_warm_us_p99": Self.percentile(warm, 0.99) * 1e6,
            "token_check_us_median": Self.median(check) * 1e6, "tokens": check.count,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["summary": summary, "schemas": rows], options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for row in rows {
            print(String(format: "%-36@ compile %6.2f ms  mask cold %8.1f µs  warm %7.1f µs  (%@ positions)",
                         row["schema"] as! String, row["compile_ms"] as! Double, row["cold_mask_us_median"] as! Double,
                         row["warm_mask_us_median"] as! Double, "\(row["positions"]!)"))
        }
        print(String(format: "vocabulary %d, %d schemas, %d tokens: compile median %.2f ms; mask median cold %.1f µs (p99 %.0f), "
                     + "warm %.1f µs (p99 %.0f); one-token check median %.2f µs",
                     vocabulary.size, files.count, check.count, Self.median(compile) * 1e3, Self.median(cold) * 1e6,
                     Self.percentile(cold, 0.99) * 1e6, Self.median(warm) * 1e6, Self.percentile(warm, 0.99) * 1e6,
                     Self.median(check) * 1e6))
    }

    static func seconds(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
    }
}
