import Foundation
import Grammar
import Testing

/// The structured-output suite: real-world JSON schemas (Pydantic v2 output, OpenAI tool and strict-mode schemas,
/// JSON-RPC, GeoJSON, …) with instances, in `Fixtures/schemas/NN-name.json`:
/// `{"name", "source", "schema", "valid": [...], "invalid": [...]}`.
///
/// Each schema is compiled with `JSONSchemaGrammar.gbnf(schema:)` and `Grammar(gbnf:)`. Every `valid` instance must
/// match both compactly and pretty-printed with a 2-space indent (keys in the fixture's order, which is the schema's
/// `properties` order); no `invalid` instance may match compactly. Every instance was checked against its schema
/// with Python `jsonschema` (Draft 2020-12) when the fixtures were written.
///
/// `Fixtures/schemas-unsupported/` holds schemas with a keyword the compiler must refuse:
/// `{"name", "schema", "keyword", "pointer"}`; the `GrammarError` names the keyword and is located at the pointer.
@Suite struct SchemaSuiteTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let schemas = fixtures.appendingPathComponent("schemas")
    static let unsupported = fixtures.appendingPathComponent("schemas-unsupported")

    static func files(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }

    struct Fixture {
        var name: String
        var schema: JSONValue
        var valid: [JSONValue]
        var invalid: [JSONValue]

        init(file: String) throws {
            let text = try String(contentsOf: SchemaSuiteTests.schemas.appendingPathComponent(file), encoding: .utf8)
            let json = try JSONValue(parsing: text)
            guard let name = json["name"]?.stringValue, let schema = json["schema"],
                  let valid = json["valid"]?.arrayValue, let invalid = json["invalid"]?.arrayValue
            else { throw GrammarError(location: file, message: "a fixture needs name, schema, valid and invalid") }
            self.name = name
            self.schema = schema
            self.valid = valid
            self.invalid = invalid
        }
    }

    /// `value` as Python's `json.dumps(value, indent=2)` writes it: one member or element per line, `": "` after
    /// keys, `[]` and `{}` for empty containers.
    static func pretty(_ value: JSONValue, indent: Int = 0) -> String {
        let inner = String(repeating: " ", count: indent + 2)
        let outer = String(repeating: " ", count: indent)
        switch value {
        case .array(let elements) where !elements.isEmpty:
            let lines = elements.map { inner + pretty($0, indent: indent + 2) }
            return "[\n" + lines.joined(separator: ",\n") + "\n" + outer + "]"
        case .object(let members) where !members.isEmpty:
            let lines = members.map { inner + JSONValue.string($0.key).text + ": " + pretty($0.value, indent: indent + 2) }
            return "{\n" + lines.joined(separator: ",\n") + "\n" + outer + "}"
        default:
            return value.text
        }
    }

    @Test func theSuiteIsThere() {
        #expect(Self.files(in: Self.schemas).count >= 24)
        #expect(Self.files(in: Self.unsupported).count >= 3)
    }

    @Test(arguments: SchemaSuiteTests.files(in: SchemaSuiteTests.schemas))
    func validInstancesMatchAndInvalidOnesDoNot(file: String) throws {
        let fixture = try Fixture(file: file)
        let gbnf = try JSONSchemaGrammar.gbnf(schema: fixture.schema.text)
        let grammar = try Grammar(gbnf: gbnf)
        #expect(!fixture.valid.isEmpty && !fixture.invalid.isEmpty)
        for (index, instance) in fixture.valid.enumerated() {
            let compact = instance.text
            #expect(grammar.matches(compact), "\(fixture.name) valid[\(index)] compact: \(compact)")
            let pretty = Self.pretty(instance)
            #expect(grammar.matches(pretty), "\(fixture.name) valid[\(index)] pretty:\n\(pretty)")
        }
        for (index, instance) in fixture.invalid.enumerated() {
            let compact = instance.text
            #expect(!grammar.matches(compact), "\(fixture.name) invalid[\(index)] matched: \(compact)")
        }
    }

    @Test(arguments: SchemaSuiteTests.files(in: SchemaSuiteTests.unsupported))
    func unsupportedKeywordsAreRefusedAtTheirPointer(file: String) throws {
        let text = try String(contentsOf: Self.unsupported.appendingPathComponent(file), encoding: .utf8)
        let json = try JSONValue(parsing: text)
        let schema = try #require(json["schema"])
        let keyword = try #require(json["keyword"]?.stringValue)
        let pointer = try #require(json["pointer"]?.stringValue)
        do {
            let gbnf = try JSONSchemaGrammar.gbnf(schema: schema.text)
            Issue.record("\(file): \(keyword) was accepted; grammar:\n\(gbnf)")
        } catch {
            #expect(error.message.contains(keyword), "\(file): \(error)")
            #expect(error.location == pointer, "\(file): \(error)")
        }
    }

    /// Prints the median time to compile one schema of the suite (schema to GBNF, GBNF to `Grammar`). Informative
    /// only: no time is asserted.
    @Test func compileTimes() throws {
        let clock = ContinuousClock()
        var times: [(file: String, total: Duration, gbnf: Duration, bytes: Int)] = []
        for file in Self.files(in: Self.schemas) {
            let schema = try Fixture(file: file).schema.text
            var runs: [(total: Duration, gbnf: Duration, bytes: Int)] = []
            for _ in 0..<3 {
                let start = clock.now
                guard let gbnf = try? JSONSchemaGrammar.gbnf(schema: schema) else { break }
                let converted = clock.now
                guard (try? Grammar(gbnf: gbnf)) != nil else { break }
                runs.append((clock.now - start, converted - start, gbnf.utf8.count))
            }
            // A schema that does not compile is reported by validInstancesMatchAndInvalidOnesDoNot.
            guard runs.count == 3 else { continue }
            let median = runs.sorted { $0.total < $1.total }[1]
            times.append((file, median.total, median.gbnf, median.bytes))
        }
        guard !times.isEmpty else { return }
        func ms(_ duration: Duration) -> String {
            let (seconds, attoseconds) = duration.components
            return String(format: "%.3f ms", Double(seconds) * 1e3 + Double(attoseconds) / 1e15)
        }
        let sorted = times.sorted { $0.total < $1.total }
        let median = sorted[sorted.count / 2]
        let slowest = sorted[sorted.count - 1]
        let gbnfMedian = times.map(\.gbnf).sorted()[times.count / 2]
        print("SchemaSuite: \(times.count) schemas compiled; median compile \(ms(median.total)) "
            + "(schema to GBNF alone: median \(ms(gbnfMedian))); slowest \(ms(slowest.total)) \(slowest.file) "
            + "(\(slowest.bytes) bytes of GBNF)")
        for entry in times {
            print("SchemaSuite:   \(entry.file): \(ms(entry.total)), GBNF \(entry.bytes) bytes")
        }
    }
}
