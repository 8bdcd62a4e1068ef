import Grammar
import Testing

@Suite struct GBNFTests {
    @Test func literalsClassesAndRepetition() throws {
        let g = try Grammar(gbnf: #"""
            # a tiny language
            root   ::= greeting (", " name)* "!"?
            greeting ::= "hi" | "hello"
            name   ::= [A-Z] [a-z]{1,5}
            """#)
        for text in ["hi", "hello!", "hi, Bob", "hello, Al, Zoe!"] { #expect(g.matches(text), "\(text)") }
        for text in ["", "hey", "hi,Bob", "hi, B", "hi, Bobbyyy", "hi!!"] { #expect(!g.matches(text), "\(text)") }
    }

    @Test func unicodeClassesAreMatchedAsUTF8Bytes() throws {
        let g = try Grammar(gbnf: #"root ::= [α-ω]+ "→" [^a-z]"#)
        #expect(g.matches("αβω→Z"))
        #expect(g.matches("λ→😀"))
        #expect(!g.matches("αβ→z"))
        #expect(!g.matches("a→Z"))
        let any = try Grammar(gbnf: "root ::= .{3}")
        #expect(any.matches("a😀ß"))
        #expect(!any.matches("ab"))
    }

    @Test func escapesAndMultilineRules() throws {
        let g = try Grammar(gbnf: """
            root ::= "\\"" chars "\\"" "\\n"
              | "\\x41\\u00e9"
            chars ::= (
                [^"\\\\] |
                "\\\\" ["\\\\n]
              )*
            """)
        #expect(g.matches("\"ab\\\"c\"\n"))
        #expect(g.matches("Aé"))
        #expect(!g.matches("\"a\"b\"\n"))
    }

    @Test func repetitionOfANullableItem() throws {
        let g = try Grammar(gbnf: #"root ::= ("a"? "b"?)* "c""#)
        for text in ["c", "ac", "abbac", "bbbc"] { #expect(g.matches(text), "\(text)") }
        #expect(!g.matches("abca"))
    }

    @Test func boundedRepetitions() throws {
        let g = try Grammar(gbnf: #"root ::= "a"{2} "b"{1,3} "c"{2,} "d"{0,1}"#)
        #expect(g.matches("aabcc"))
        #expect(g.matches("aabbbccccd"))
        #expect(!g.matches("abcc"))
        #expect(!g.matches("aabbbbcc"))
        #expect(!g.matches("aabc"))
    }

    @Test func errorsNameThePlace() {
        func failure(_ text: String) -> GrammarError? {
            do { _ = try Grammar(gbnf: text); return nil } catch { return error }
        }
        #expect(failure("root ::= foo")?.message == "undefined rule \"foo\"")
        #expect(failure("root ::= \"abc")?.message == "unterminated string literal")
        #expect(failure("start ::= \"a\"")?.message.contains("no rule named \"root\"") == true)
        #expect(failure("root ::= \"a\"\nroot ::= \"b\"")?.message == "rule \"root\" is defined twice")
        #expect(failure("root ::= [b-a]")?.location == "line 1, column 14")
        #expect(failure("root ::= \"a\"{99999}")?.message.contains("limit") == true)
        #expect(failure("root ::= root \"a\" | \"b\"")?.message.contains("left recursion") == true)
        #expect(failure("root ::= x \"a\"\nx ::= \"\" | root")?.message.contains("left recursion") == true)
        // A repetition of something that may match nothing recurses only in tail position: fine.
        #expect(failure("root ::= (\"a\"?)* \"b\"") == nil)
        #expect(failure("")?.message == "the grammar is empty")
        #expect(failure("root ::= (\"a\"")?.message.contains("\")\"") == true)
    }

    @Test func pathologicalRepetitionIsBounded() throws {
        // Nested repetition stays small: each level is one rule referenced from the next.
        let nested = try Grammar(gbnf: #"root ::= (("a"{10000}){10000}){10000}"#)
        var matcher = GrammarMatcher(nested)
        let advanced = matcher.advance([UInt8](repeating: UInt8(ascii: "a"), count: 20_000))
        #expect(advanced)
        #expect(!matcher.canEnd)
        // Flat repetition that multiplies past the symbol budget is refused instead of allocated.
        let flat = (0..<500).map { "r\($0) ::= [a-z]{9999}" }.joined(separator: "\n")
        #expect(throws: GrammarError.self) { try Grammar(gbnf: "root ::= r0\n" + flat) }
    }
}
