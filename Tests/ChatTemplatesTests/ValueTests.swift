import Foundation
import Testing
import ChatTemplates

/// `JinjaValue`, `JinjaDictionary` and JSON reading.
@Suite struct ValueTests {
    @Test func literalsBuildValues() {
        let value: JinjaValue = ["role": "user", "n": 2, "x": 1.5, "ok": true, "none": nil, "list": [1, "a"]]
        guard case .dictionary(let dict) = value else {
            Issue.record("expected a dictionary")
            return
        }
        #expect(dict.keys == ["role", "n", "x", "ok", "none", "list"])
        #expect(dict["role"] == .string("user"))
        #expect(dict["none"] == JinjaValue.none)
        #expect(dict["list"] == .array([.int(1), .string("a")]))
        #expect(value.description == "{'role': 'user', 'n': 2, 'x': 1.5, 'ok': True, 'none': None, 'list': [1, 'a']}")
    }

    @Test func equalityAndHashingFollowPython() {
        #expect(JinjaValue.int(1) == .double(1.0))
        #expect(JinjaValue.bool(true) == .int(1))
        #expect(JinjaValue.string("1") != .int(1))
        #expect(Set<JinjaValue>([1, 1.0, true, 2]).count == 2)
        let a: JinjaValue = ["x": 1, "y": 2]
        let b: JinjaValue = ["y": 2, "x": 1]
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        // Unicode strings compare by code points, like Python (no canonical equivalence).
        #expect(JinjaValue.string("\u{E9}") != .string("e\u{301}"))
    }

    @Test func truthiness() {
        let falsy: [JinjaValue] = [.undefined, .none, false, 0, 0.0, "", [], [:]]
        let truthy: [JinjaValue] = [true, 1, -0.5, "0", [0], ["k": nil]]
        #expect(falsy.allSatisfy { !$0.isTruthy })
        #expect(truthy.allSatisfy { $0.isTruthy })
    }

    @Test func dictionaryKeepsInsertionOrder() {
        var dict = JinjaDictionary()
        dict["b"] = 1
        dict["a"] = 2
        dict["b"] = 3
        #expect(dict.keys == ["b", "a"])
        #expect(dict.values == [3, 2])
        dict["b"] = nil
        #expect(dict.keys == ["a"])
        dict[.int(5)] = "five"
        #expect(dict[.double(5.0)] == "five")
        #expect(JinjaValue.dictionary(dict).description == "{'a': 2, 5: 'five'}")
    }

    @Test func jsonKeepsKeyOrderAndNumberKinds() throws {
        let text = #"{"z": 1, "a": [1.0, 2, -3e2, true, null], "é": "\u00e9\ud83d\ude00\n", "o": {}}"#
        let value = try JinjaValue(parsingJSON: text)
        guard case .dictionary(let dict) = value else {
            Issue.record("expected an object")
            return
        }
        #expect(dict.keys == ["z", "a", "é", "o"])
        #expect(dict["a"] == .array([.double(1), .int(2), .double(-300), .bool(true), .none]))
        if case .double = dict["a"]?.arrayValue?[0] {} else { Issue.record("1.0 must stay a float") }
        #expect(dict["é"] == .string("é😀\n"))
        let rendered = try Template("{{ v | tojson }}").render(context: ["v": value])
        #expect(rendered == #"{"z": 1, "a": [1.0, 2, -300.0, true, null], "é": "é😀\n", "o": {}}"#)
    }

    @Test(arguments: ["", "{", "[1,]", #"{"a" 1}"#, "tru", #""\x""#, "[1] 2", #""unterminated"#])
    func malformedJSONIsAnError(_ text: String) {
        #expect(throws: JSONParseError.self) { try JinjaValue(parsingJSON: text) }
    }

    @Test func deeplyNestedJSONIsRejectedNotCrashing() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JinjaValue(parsingJSON: text) }
    }

    @Test func templatesAreReusableAcrossTasks() async throws {
        let template = try Template("{% for i in range(n) %}{{ i }}{% endfor %}")
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for n in 0..<8 {
                group.addTask { try template.render(context: ["n": .int(n)]) }
            }
            var all: [String] = []
            for try await output in group { all.append(output) }
            return all.sorted()
        }
        #expect(outputs == ["", "0", "01", "012", "0123", "01234", "012345", "0123456"])
    }
}
