import Foundation
import Grammar
import Testing

private func regex(_ pattern: String) throws -> Grammar {
    try Grammar(gbnf: RegexGrammar.gbnf(pattern: pattern))
}

/// Every string of at most `length` characters from `alphabet`.
private func strings(over alphabet: String, upTo length: Int) -> [String] {
    var all = [""]
    var current = [""]
    for _ in 0..<length {
        current = current.flatMap { prefix in alphabet.map { prefix + String($0) } }
        all += current
    }
    return all
}

@Suite struct RegexGrammarTests {
    struct Differential: Sendable, CustomStringConvertible {
        var pattern: String
        var alphabet: String
        var description: String { "/\(pattern)/ over \(alphabet.debugDescription)" }
    }

    /// Patterns whose meaning ICU (NSRegularExpression) and ECMAScript share over the given alphabets.
    static let differential = [
        Differential(pattern: "abc", alphabet: "abcx"),
        Differential(pattern: "a|bc|", alphabet: "abc"),
        Differential(pattern: "a*b+c?", alphabet: "abc"),
        Differential(pattern: "(ab)*", alphabet: "abx"),
        Differential(pattern: "(?:a|b){2,3}", alphabet: "abc"),
        Differential(pattern: "a{0,2}b{2}", alphabet: "ab"),
        Differential(pattern: "a{2,}b", alphabet: "ab"),
        Differential(pattern: "[a-c]+", alphabet: "abcd"),
        Differential(pattern: "[^ab]c", alphabet: "abcd"),
        Differential(pattern: "\\d\\D", alphabet: "19a "),
        Differential(pattern: "\\w\\W+", alphabet: "a_- "),
        Differential(pattern: "\\s\\S", alphabet: " \ta\n"),
        Differential(pattern: ".b", alphabet: "ab\n\r"),
        Differential(pattern: "^a.c$", alphabet: "abc\n"),
        Differential(pattern: "(a|ab)(c|bcd)", alphabet: "abcd"),
        Differential(pattern: "[-a]b", alphabet: "-ab"),
        Differential(pattern: "[a-]b", alphabet: "-ab"),
        Differential(pattern: "[\\]\\\\^]", alphabet: "]\\^a"),
        Differential(pattern: "a\\.\\*\\?", alphabet: "a.*?"),
        Differential(pattern: "x*?y+?", alphabet: "xy"),
        Differential(pattern: "(?<name>a)b", alphabet: "ab"),
        Differential(pattern: "(a?){3}", alphabet: "ab"),
        Differential(pattern: "((a|b)c){1,2}", alphabet: "abc"),
        Differential(pattern: "[\\x41-\\x43]\\u0044", alphabet: "ABCD"),
        Differential(pattern: "\\t\\n|\\r", alphabet: "\t\n\r"),
        Differential(pattern: "[\\d\\s]x", alphabet: "1 xa"),
        Differential(pattern: "(a|b|)*c", alphabet: "abc"),
        Differential(pattern: "(a*)*b", alphabet: "ab"),
        Differential(pattern: "(a?b?)+c", alphabet: "abc"),
        Differential(pattern: "(|a){2,}b", alphabet: "ab"),
        Differential(pattern: "((a?)(b*)){1,}", alphabet: "abc"),
        Differential(pattern: "é[à-ä]", alphabet: "éàâäe"),
    ]

    @Test(arguments: differential)
    func matchesWhatNSRegularExpressionMatches(_ entry: Differential) throws {
        let grammar = try regex(entry.pattern)
        // \A and \z: ICU's `$` would also match before a final newline.
        let reference = try NSRegularExpression(pattern: "\\A(?:" + entry.pattern + ")\\z")
        for text in strings(over: entry.alphabet, upTo: 4) {
            let expected = reference.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
            #expect(grammar.matches(text) == expected, "\(text.debugDescription)")
        }
    }

    @Test func wholeMatchesOnly() throws {
        let literal = try regex("abc")
        #expect(literal.matches("abc") && !literal.matches("xabc") && !literal.matches("abcx") && !literal.matches(""))
        let anchored = try regex("^abc$")
        #expect(anchored.matches("abc") && !anchored.matches("abcabc"))
        let empty = try regex("")
        #expect(empty.matches("") && !empty.matches("a"))
        let optional = try regex("(?:)a?")
        #expect(optional.matches("") && optional.matches("a"))
        let named = try regex("(?P<first>a)(?<second>b)")
        #expect(named.matches("ab") && !named.matches("a"))
    }

    @Test func unicode() throws {
        #expect(try regex("😀+").matches("😀😀") && !regex("😀+").matches("😀a"))
        let range = try regex("[😀-😂]")
        #expect(range.matches("😁") && !range.matches("😃"))
        #expect(try regex("\\ud83d\\ude00\\u{1F601}").matches("😀😁"))
        #expect(try regex("[^a]").matches("€") && regex(".").matches("😀"))
        #expect(try !regex(".").matches("\u{2028}"))
    }

    @Test func largeCountsStayLinear() throws {
        let gbnf = try RegexGrammar.gbnf(pattern: "(ab|c){0,10000}[xy]{5000}")
        #expect(gbnf.utf8.count < 500)
        #expect(try Grammar(gbnf: gbnf).matches("abc" + String(repeating: "x", count: 5000)))
        let nested = String(repeating: "(", count: 11) + "a" + String(repeating: "){9999}", count: 11)
        let error = try #require(throwing(nested))
        #expect(error.message.contains("100000"), "\(error)")
    }

    struct Refusal: Sendable, CustomStringConvertible {
        var pattern: String
        var offset: Int
        var says: String
        var description: String { pattern }
    }

    static let refusals = [
        Refusal(pattern: "(a)\\1", offset: 3, says: "backreference"),
        Refusal(pattern: "(?<n>a)\\k<n>", offset: 7, says: "backreference"),
        Refusal(pattern: "(?P=n)", offset: 0, says: "backreference"),
        Refusal(pattern: "x(?=a)", offset: 1, says: "lookahead"),
        Refusal(pattern: "(?!a)", offset: 0, says: "lookahead"),
        Refusal(pattern: "(?<!a)b", offset: 0, says: "lookbehind"),
        Refusal(pattern: "(?<=a)b", offset: 0, says: "lookbehind"),
        Refusal(pattern: "a^b", offset: 1, says: "'^'"),
        Refusal(pattern: "a$b", offset: 1, says: "'$'"),
        Refusal(pattern: "(^a)", offset: 1, says: "'^'"),
        Refusal(pattern: "(a$)", offset: 2, says: "'$'"),
        Refusal(pattern: "a{3,2}", offset: 1, says: "out of order"),
        Refusal(pattern: "[z-a]", offset: 1, says: "out of order"),
        Refusal(pattern: "[abc", offset: 0, says: "unterminated"),
        Refusal(pattern: "(a", offset: 0, says: "unterminated"),
        Refusal(pattern: "a)", offset: 1, says: "unmatched"),
        Refusal(pattern: "\\p{L}", offset: 0, says: "Unicode property"),
        Refusal(pattern: "(?i)a", offset: 0, says: "inline flags"),
        Refusal(pattern: "a**", offset: 2, says: "nothing to repeat"),
        Refusal(pattern: "a*+", offset: 2, says: "possessive"),
        Refusal(pattern: "*a", offset: 0, says: "nothing to repeat"),
        Refusal(pattern: "a|?", offset: 2, says: "nothing to repeat"),
        Refusal(pattern: "\\bword", offset: 0, says: "word-boundary"),
        Refusal(pattern: "[]", offset: 0, says: "matches nothing"),
        Refusal(pattern: "[^\\s\\S]", offset: 0, says: "matches nothing"),
        Refusal(pattern: "[\\d-z]", offset: 1, says: "range bound"),
        Refusal(pattern: "a{10001}", offset: 1, says: "10000"),
        Refusal(pattern: "\\q", offset: 0, says: "unknown escape"),
        Refusal(pattern: "ab\\", offset: 2, says: "end of the pattern"),
        Refusal(pattern: "\\x4", offset: 0, says: "hex digits"),
        Refusal(pattern: "\\ud800", offset: 0, says: "surrogate"),
    ]

    @Test(arguments: refusals)
    func unsupportedSyntaxIsRefusedAtItsOffset(_ refusal: Refusal) throws {
        let error = try #require(throwing(refusal.pattern))
        #expect(error.location == "offset \(refusal.offset)", "\(error)")
        #expect(error.message.contains(refusal.says), "\(error)")
    }

    @Test func deepNestingIsRefusedWithoutRecursingWithoutBound() throws {
        let error = try #require(throwing(String(repeating: "(", count: 10_000) + "a" + String(repeating: ")", count: 10_000)))
        #expect(error.message.contains("nested deeper"), "\(error)")
    }

    @Test func bracesThatAreNotQuantifiersAreLiterals() throws {
        let braces = try regex("a{b}c{,2}")
        #expect(braces.matches("a{b}") && braces.matches("a{b}cc") && !braces.matches("a{b}ccc"))
        #expect(try regex("x{").matches("x{") && regex("}").matches("}"))
    }

    private func throwing(_ pattern: String) -> GrammarError? {
        do {
            _ = try RegexGrammar.gbnf(pattern: pattern)
            return nil
        } catch {
            return error
        }
    }
}
