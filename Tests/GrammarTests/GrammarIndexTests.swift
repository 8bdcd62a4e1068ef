import Grammar
import Testing

/// The index's masks against the definition: a token is allowed iff the matcher accepts its bytes.
@Suite struct GrammarIndexTests {
    /// A vocabulary with single bytes, common JSON pieces, multi-byte characters split across tokens, and a control
    /// token without bytes.
    static let pieces: [String?] = ["{", "}", "\"", ":", ",", " ", "\n", "  ", "a", "b", "ab", "abc", "\"a", "\":",
                                    "\",", "\"}", "}\n", "{\"", "1", "12", "-", ".", "e", "true", "false", "null",
                                    "[", "]", "[\"", "\"]", "\\", "\\\"", "\\n", "é", " \"", ": \"", nil, "x\"y", "tr"]
    static func vocabulary() -> TokenVocabulary {
        var tokens = pieces.map { $0.map { Array($0.utf8) } }
        tokens.append([0xC3])  // the first byte of "é" alone
        tokens.append([0xA9])
        return TokenVocabulary(tokens: tokens, size: tokens.count + 3)
    }

    static let json = #"""
        root ::= object
        value ::= object | array | string | number | "true" | "false" | "null"
        object ::= "{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}"
        array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
        string ::= "\"" ( [^"\\] | "\\" ["\\/bfnrt] )* "\""
        number ::= "-"? [0-9]+ ( "." [0-9]+ )?
        ws ::= [ \n]{0,3}
        """#

    func bruteForce(_ matcher: GrammarMatcher, _ v: TokenVocabulary) -> [Int32] {
        (0..<Int32(v.size)).filter { id in !v.bytes(of: id).isEmpty && matcher.accepts(v.bytes(of: id)) }
    }

    @Test(arguments: [#"{"a": [1, "b\"", {}], "ab" : null}"#, #"{ "é":"\n"}"#])
    func masksEqualTheDefinitionAlongADocument(document: String) throws {
        let grammar = try Grammar(gbnf: Self.json)
        let v = Self.vocabulary()
        let index = GrammarIndex(grammar: grammar, vocabulary: v)
        var matcher = GrammarMatcher(grammar)
        var state = index.initialState()
        for byte in document.utf8 {
            #expect(index.mask(for: state).ids == bruteForce(matcher, v), "after \(matcher.state)")
            let accepted = matcher.advance([byte])
            #expect(accepted)
            state = try #require(index.advance(state, bytes: [byte]))
        }
        #expect(matcher.canEnd && state.canEnd)
        #expect(index.mask(for: state).ids == bruteForce(matcher, v))
    }

    @Test func exhaustedGrammarAllowsNothing() throws {
        let grammar = try Grammar(gbnf: #"root ::= "ab""#)
        let index = GrammarIndex(grammar: grammar, vocabulary: Self.vocabulary())
        let state = try #require(index.advance(index.initialState(), bytes: Array("ab".utf8)))
        #expect(state.canEnd && state.isExhausted)
        #expect(index.mask(for: state).population == 0)
        #expect(index.advance(index.initialState(), token: 36) == nil)  // the control token has no bytes
    }
}
