import Server
import Testing

/// The tool-call parser: the same calls and text however the output is cut into streamed pieces, names reported once
/// the name is known, argument fragments that add up to the arguments, and text that only looks like a tag kept.
@Suite struct ToolCallStreamTests {
    static let output = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n"
        + "<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"a } \\\" tricky { string\"}}\n</tool_call>"

    struct Parsed: Equatable {
        var text = ""
        var calls: [String] = []
        var arguments: [String] = []
    }

    static func parse(_ pieces: [String], tools: Set<String> = []) -> Parsed {
        var stream = ToolCallStream(toolNames: tools)
        var parsed = Parsed()
        for event in pieces.flatMap({ stream.feed($0) }) + stream.finish() {
            switch event {
            case .content(let text): parsed.text += text
            case .callStarted(let index, _, let name):
                #expect(index == parsed.calls.count, "calls are numbered in order")
                parsed.calls.append(name)
                parsed.arguments.append("")
            case .arguments(let index, let fragment): parsed.arguments[index] += fragment
            }
        }
        return parsed
    }

    @Test func everySplitGivesTheSameCalls() {
        let whole = Self.parse([Self.output])
        #expect(whole.text == "Let me check.\n\n")
        #expect(whole.calls == ["get_weather", "web_search"])
        #expect(whole.arguments == [#"{"city": "Paris", "unit": "celsius"}"#, #"{"query": "a } \" tricky { string"}"#])
        let characters = Array(Self.output)
        for cut in 1..<characters.count {
            #expect(Self.parse([String(characters[..<cut]), String(characters[cut...])]) == whole, "cut at \(cut)")
        }
        #expect(Self.parse(characters.map { String($0) }) == whole, "one character at a time")
    }

    @Test func theNameComesBeforeTheArgumentsEnd() {
        var stream = ToolCallStream()
        let events = stream.feed("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1")
        #expect(events.contains { if case .callStarted(_, _, "f") = $0 { true } else { false } })
        #expect(stream.calls.first?.isComplete == false)
        _ = stream.feed("}}\n</tool_call>")
        #expect(stream.completeCalls.map(\.arguments) == [#"{"a": 1}"#])
    }

    @Test func textThatOnlyLooksLikeATagIsText() {
        #expect(Self.parse(["a <tool", "_cal", "x> b <"]).text == "a <tool_calx> b <")
        #expect(Self.parse(["2 < 3 and <b>bold</b>"]) == Parsed(text: "2 < 3 and <b>bold</b>"))
    }

    @Test func callsInOtherKeyOrdersOrUnclosedStillParse() {
        let reordered = Self.parse([#"<tool_call>{"arguments": {"x": 2}, "name": "g"}</tool_call>"#])
        #expect(reordered.calls == ["g"] && reordered.arguments == [#"{"x":2}"#])
        let unclosed = Self.parse([#"<tool_call>{"name": "h", "arguments": {}}"#])
        #expect(unclosed.calls == ["h"] && unclosed.arguments == ["{}"])
        let broken = Self.parse(["<tool_call>not json</tool_call>"])
        #expect(broken.calls.isEmpty && broken.text == "<tool_call>not json")
    }

    @Test func aBareJSONCallIsACallOnlyForAnOfferedTool() {
        let call = Self.parse(["  {\"name\": \"get_weather\", ", "\"parameters\": {\"city\": \"Rome\"}}"], tools: ["get_weather"])
        #expect(call.calls == ["get_weather"] && call.arguments == [#"{"city":"Rome"}"#] && call.text.isEmpty)
        let answer = Self.parse([#"{"name": "Rome", "country": "Italy"}"#], tools: ["get_weather"])
        #expect(answer.calls.isEmpty && answer.text == #"{"name": "Rome", "country": "Italy"}"#)
        let prose = Self.parse(["The answer is {x}."], tools: ["get_weather"])
        #expect(prose.text == "The answer is {x}.")
    }

    @Test func aCallCutShortIsIncomplete() {
        var stream = ToolCallStream()
        _ = stream.feed(#"<tool_call>{"name": "f", "arguments": {"a": "unfinished"#)
        _ = stream.finish()
        #expect(stream.calls.count == 1 && stream.completeCalls.isEmpty)
    }
}
