/// Building GBNF text from parts: literals, and grammars combined under one root.
public enum GBNFText {
    /// `text` as a GBNF string literal (quotes, backslashes and invisible characters escaped).
    public static func literal(_ text: String) -> String { GBNFSynthesis.literal(text) }

    /// `gbnf` with every rule name prefixed by `prefix` (so its `root` becomes `<prefix>root`): grammars compiled
    /// separately (one JSON schema per tool, say) can then live in one grammar without their rule names clashing.
    public static func prefixingRules(_ gbnf: String, with prefix: String) -> String {
        let text = Array(gbnf.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        func copy(until close: Unicode.Scalar) {
            // Copies a literal or class (or repetition braces) verbatim, escapes included.
            out.append(text[i])
            i += 1
            while i < text.count {
                let c = text[i]
                out.append(c)
                i += 1
                if c == "\\" && i < text.count {
                    out.append(text[i])
                    i += 1
                } else if c == close {
                    return
                }
            }
        }
        while i < text.count {
            let c = text[i]
            switch c {
            case "\"": copy(until: "\"")
            case "[": copy(until: "]")
            case "{": copy(until: "}")
            case "#":
                while i < text.count && text[i] != "\n" {
                    out.append(text[i])
                    i += 1
                }
            case _ where c.isASCII && GBNFParser.isNameByte(UInt8(c.value)):
                out.append(contentsOf: prefix.unicodeScalars)
                while i < text.count, text[i].isASCII, GBNFParser.isNameByte(UInt8(text[i].value)) {
                    out.append(text[i])
                    i += 1
                }
            default:
                out.append(c)
                i += 1
            }
        }
        return String(out)
    }
}
