import Foundation

/// The decoder chain of a SentencePiece-style `tokenizer.json`, reduced to what each token decodes to and
/// the ``DecodingRules``.
struct SentencePieceDecoder {
    /// `Replace("▁", " ")` or `Metaspace`: `▁` decodes to a space.
    var spaces = false
    /// `ByteFallback`: `<0xNN>` tokens decode to their byte.
    var byteFallback = false

    static let supported =
        "a Sequence of Replace(\"▁\", \" \"), ByteFallback, Fuse, Strip(\" \", start, 0) after Fuse, and Metaspace(\"▁\"); or Metaspace alone"

    init(_ value: Any?, rules: inout DecodingRules) throws(TokenizationError) {
        let path = "$.decoder"
        guard let value, !(value is NSNull) else {
            throw .unsupportedTokenizerConfiguration(path: path, found: "null", supported: Self.supported)
        }
        let decoder = try jsonObject(value, path)
        let type = try jsonString(decoder["type"], "\(path).type")
        let steps = type == "Sequence" ? try jsonArray(decoder["decoders"], "\(path).decoders") : [decoder]
        var fused = false
        for (index, step) in steps.enumerated() {
            let stepPath = type == "Sequence" ? "\(path).decoders[\(index)]" : path
            let step = try jsonObject(step, stepPath)
            let name = try jsonString(step["type"], "\(stepPath).type")
            func unsupported(_ found: String) -> TokenizationError {
                .unsupportedTokenizerConfiguration(path: stepPath, found: found, supported: Self.supported)
            }
            switch name {
            case "Replace":
                let (pattern, content) = try parseReplace(step, stepPath)
                guard pattern == "▁", content == " ", !spaces else { throw unsupported("Replace(\"\(pattern)\", \"\(content)\")") }
                spaces = true
            case "ByteFallback":
                byteFallback = true
                rules.byteFallbackRuns = true
            case "Fuse":
                fused = true
            case "Strip":
                let content = try jsonString(step["content"], "\(stepPath).content")
                let start = Int(try jsonNumber(step["start"], "\(stepPath).start"))
                let stop = Int(try jsonNumber(step["stop"], "\(stepPath).stop"))
                guard content == " ", stop == 0, fused else {
                    throw unsupported("Strip(\"\(content)\", \(start), \(stop))\(fused ? "" : " before Fuse")")
                }
                rules.stripLeadingSpaces = start
            case "Metaspace":
                let metaspace = try parseMetaspace(step, stepPath)
                guard metaspace.replacement == "▁", !spaces, index == 0 else { throw unsupported("Metaspace(\"\(metaspace.replacement)\") after another step") }
                spaces = true
                rules.dropMetaspaceInFirstToken = metaspace.prependScheme != .never
            default:
                throw unsupported(name)
            }
        }
    }

    /// The bytes a token's text decodes to.
    func piece(_ text: String) -> [UInt8] {
        if byteFallback, let byte = byteTokenValue(text) { return [byte] }
        return spaces ? unescapingSpaces(text) : Array(text.utf8)
    }
}

extension TokenizerJSONParser {
    /// A pre-tokenizer that is not byte-level: none, or `Metaspace`.
    static func parseSentencePiecePreTokenizer(_ value: Any?) throws(TokenizationError) -> WordSplitter {
        let path = "$.pre_tokenizer"
        guard let value, !(value is NSNull) else { return .none }
        let root = try jsonObject(value, path)
        let type = try jsonString(root["type"], "\(path).type")
        guard type == "Metaspace" else {
            throw .unsupportedTokenizerConfiguration(path: path, found: type, supported: supportedPreTokenizers)
        }
        return .metaspace(try parseMetaspace(root, path))
    }
}

/// A `Metaspace` pre-tokenizer or decoder (`prepend_scheme`, or the older `add_prefix_space` flag).
func parseMetaspace(_ object: [String: Any], _ path: String) throws(TokenizationError) -> Metaspace {
    var metaspace = Metaspace()
    if let replacement = object["replacement"] { metaspace.replacement = try jsonString(replacement, "\(path).replacement") }
    guard metaspace.replacement.unicodeScalars.count == 1 else {
        throw .unsupportedTokenizerConfiguration(
            path: "\(path).replacement", found: metaspace.replacement, supported: "one character")
    }
    if let scheme = object["prepend_scheme"] {
        let name = try jsonString(scheme, "\(path).prepend_scheme")
        guard let parsed = Metaspace.PrependScheme(rawValue: name) else {
            throw .unsupportedTokenizerConfiguration(path: "\(path).prepend_scheme", found: name, supported: "always, first, never")
        }
        metaspace.prependScheme = parsed
    } else if let add = object["add_prefix_space"] {
        metaspace.prependScheme = try jsonBool(add, "\(path).add_prefix_space") ? .always : .never
    }
    if let split = object["split"] { metaspace.split = try jsonBool(split, "\(path).split") }
    return metaspace
}

/// A `Replace` normalizer or decoder of a literal string: its pattern and content.
func parseReplace(_ object: [String: Any], _ path: String) throws(TokenizationError) -> (String, String) {
    let pattern = try jsonObject(object["pattern"], "\(path).pattern")
    guard let literal = pattern["String"] as? String else {
        throw .unsupportedTokenizerConfiguration(
            path: "\(path).pattern", found: "\(pattern.keys.sorted())", supported: "a literal {\"String\": ...} pattern")
    }
    return (literal, try jsonString(object["content"], "\(path).content"))
}
