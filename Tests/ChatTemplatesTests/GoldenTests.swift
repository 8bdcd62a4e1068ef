import Foundation
import Testing
import ChatTemplates

/// One rendering computed by jinja2 (scripts/testdata/chat_templates.py).
struct GoldenCase: Sendable {
    var templateName: String
    var conversation: String
    var source: String
    var now: Date
    var messages: [JinjaValue]
    var addGenerationPrompt: Bool
    var context: [String: JinjaValue]
    var expectedOutput: String?
    var expectedErrorType: String?
    var expectedErrorMessage: String?

    /// What the engine did with this case.
    enum Outcome: Equatable {
        case pass
        case fail(String)
    }

    func run() -> Outcome {
        let options = RenderOptions(now: now, timeZone: TimeZone(identifier: "UTC") ?? .current)
        let result: Result<String, TemplateError>
        do throws(TemplateError) {
            let template = try ChatTemplate(source)
            result = .success(try template.render(messageValues: messages, addGenerationPrompt: addGenerationPrompt,
                                                  context: context, options: options))
        } catch {
            result = .failure(error)
        }
        switch (result, expectedOutput) {
        case (.success(let output), let expected?):
            if output == expected { return .pass }
            return .fail("output differs: \(GoldenCase.firstDifference(output, expected))")
        case (.failure(let error), let expected?):
            return .fail("unexpected error \(error) (expected \(expected.count) chars of output)")
        case (.success(let output), nil):
            return .fail("expected \(expectedErrorType ?? "an error"): \(expectedErrorMessage ?? ""), got output \(output.debugDescription.prefix(200))")
        case (.failure(let error), nil):
            return GoldenCase.matches(error, type: expectedErrorType, message: expectedErrorMessage)
        }
    }

    /// A `raise_exception` (jinja2 `TemplateError`) must be re-raised with the same message and a sandbox
    /// `SecurityError` must be a security error; other jinja2 errors only need to be errors here too.
    static func matches(_ error: TemplateError, type: String?, message: String?) -> Outcome {
        switch type {
        case "TemplateError":
            if error.kind == .raised && error.message == message { return .pass }
            return .fail("expected raise_exception(\(message ?? "")), got \(error)")
        case "SecurityError":
            return error.kind == .security ? .pass : .fail("expected a sandbox security error, got \(error)")
        default:
            return .pass
        }
    }

    static func firstDifference(_ a: String, _ b: String) -> String {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var i = 0
        while i < x.count, i < y.count, x[i] == y[i] { i += 1 }
        let start = max(0, i - 40)
        func excerpt(_ s: [Unicode.Scalar]) -> String {
            var v = String.UnicodeScalarView()
            v.append(contentsOf: s[min(start, s.count)..<min(i + 40, s.count)])
            return String(v).debugDescription
        }
        return "at scalar \(i): got \(excerpt(x)), expected \(excerpt(y))"
    }

    /// Loads `chat_templates/cases.json`.
    static func loadAll() throws -> [GoldenCase] {
        let document = try JinjaValue(parsingJSON: try TestData.read("chat_templates/cases.json"))
        let formatter = ISO8601DateFormatter()
        guard let cases = document.dictionaryValue?["cases"]?.arrayValue else { throw Malformed() }
        return try cases.map { value in
            guard let c = value.dictionaryValue, let name = c["template_name"]?.stringValue,
                let source = c["template_source"]?.stringValue, var context = c["context"]?.dictionaryValue,
                let nowText = c["now"]?.stringValue, let now = formatter.date(from: nowText),
                let messages = context["messages"]?.arrayValue, case .bool(let prompt)? = context["add_generation_prompt"]
            else { throw Malformed() }
            context["messages"] = nil
            context["add_generation_prompt"] = nil
            let error = c["expected_error"]?.dictionaryValue
            return GoldenCase(
                templateName: name, conversation: c["conversation"]?.stringValue ?? "", source: source, now: now,
                messages: messages, addGenerationPrompt: prompt,
                context: Dictionary(uniqueKeysWithValues: context.pairs.compactMap { pair in
                    pair.key.stringValue.map { ($0, pair.value) }
                }),
                expectedOutput: c["expected_output"]?.stringValue,
                expectedErrorType: error?["type"]?.stringValue, expectedErrorMessage: error?["message"]?.stringValue)
        }
    }

    struct Malformed: Error, CustomStringConvertible {
        var description: String { "chat_templates/cases.json is malformed: rerun scripts/prepare-test-data" }
    }
}

/// A synthetic template exercising one engine feature, rendered by jinja2.
struct FeatureCase: Sendable {
    var name: String
    var source: String
    var now: Date
    var context: [String: JinjaValue]
    var expectedOutput: String?
    var expectedErrorType: String?
    var expectedError: String?

    func run() -> GoldenCase.Outcome {
        let options = RenderOptions(now: now, timeZone: TimeZone(identifier: "UTC") ?? .current)
        do throws(TemplateError) {
            let output = try Template(source).render(context: context, options: options)
            guard let expectedOutput else { return .fail("expected error \(expectedError ?? ""), got \(output.debugDescription)") }
            return output == expectedOutput ? .pass : .fail(GoldenCase.firstDifference(output, expectedOutput))
        } catch {
            if expectedOutput != nil { return .fail("unexpected error: \(error)") }
            return GoldenCase.matches(error, type: expectedErrorType, message: expectedError)
        }
    }

    static func loadAll() throws -> [FeatureCase] {
        let document = try JinjaValue(parsingJSON: try TestData.read("chat_templates/cases.json"))
        guard let cases = document.dictionaryValue?["feature_cases"]?.arrayValue else { throw GoldenCase.Malformed() }
        return try cases.map { value in
            guard let c = value.dictionaryValue, let name = c["name"]?.stringValue,
                let source = c["template_source"]?.stringValue, let context = c["context"]?.dictionaryValue,
                let nowText = c["now"]?.stringValue, let now = ISO8601DateFormatter().date(from: nowText)
            else { throw GoldenCase.Malformed() }
            return FeatureCase(
                name: name, source: source, now: now,
                context: Dictionary(uniqueKeysWithValues: context.pairs.compactMap { pair in
                    pair.key.stringValue.map { ($0, pair.value) }
                }),
                expectedOutput: c["expected_output"]?.stringValue,
                expectedErrorType: c["expected_error"]?.dictionaryValue?["type"]?.stringValue,
                expectedError: c["expected_error"]?.dictionaryValue?["message"]?.stringValue)
        }
    }
}

@Suite struct GoldenTests {
    /// Every synthetic feature template renders (or fails) exactly as jinja2 does.
    @Test func featureTemplatesMatchJinja2() throws {
        let cases = try FeatureCase.loadAll()
        #expect(cases.count >= 100, "too few feature cases: rerun scripts/prepare-test-data")
        for c in cases {
            let outcome = c.run()
            #expect(outcome == .pass, "\(c.name): \(outcome)")
        }
    }

    /// The templates Brigade must render exactly like jinja2 in every case.
    static let required = [
        "SmolLM2-135M-Instruct",
        "Qwen2.5-Coder-0.5B-Instruct",
        "meta-llama-Llama-3.1-8B-Instruct",
        "meta-llama-Llama-3.2-3B-Instruct",
        "Qwen-Qwen2.5-7B-Instruct",
        "mistralai-Mistral-Nemo-Instruct-2407",
        "Mistral-Small-3.2-24B-Instruct-2506",
    ]

    @Test(arguments: required)
    func requiredTemplateMatchesJinja2(name: String) throws {
        let cases = try GoldenCase.loadAll().filter { $0.templateName == name }
        #expect(cases.count >= 10, "no golden cases for \(name): rerun scripts/prepare-test-data")
        for c in cases {
            let outcome = c.run()
            #expect(outcome == .pass, "\(name) / \(c.conversation) / add_generation_prompt=\(c.addGenerationPrompt): \(outcome)")
        }
    }

    @Test func allTemplatesPassRate() throws {
        let cases = try GoldenCase.loadAll()
        var perTemplate: [String: (passed: Int, total: Int)] = [:]
        var failures: [String] = []
        for c in cases {
            let outcome = c.run()
            var entry = perTemplate[c.templateName] ?? (0, 0)
            entry.total += 1
            if outcome == .pass { entry.passed += 1 } else {
                failures.append("\(c.templateName) / \(c.conversation) / agp=\(c.addGenerationPrompt): \(outcome)")
            }
            perTemplate[c.templateName] = entry
        }
        let passed = perTemplate.values.reduce(0) { $0 + $1.passed }
        print("chat template golden cases: \(passed)/\(cases.count) pass")
        for (name, entry) in perTemplate.sorted(by: { $0.key < $1.key }) {
            print("  \(entry.passed == entry.total ? "ok  " : "FAIL") \(name): \(entry.passed)/\(entry.total)")
        }
        for failure in failures { print("  - \(failure)") }
        #expect(failures.isEmpty, "\(failures.count) golden cases differ from jinja2")
    }
}
