import Foundation

/// Reads `$.model.vocab` and `$.model.merges` of a `tokenizer.json` straight from its bytes, in file order and
/// with their exact Unicode scalars. `JSONSerialization` yields a `[String: Any]`, whose `String` keys compare
/// by canonical equivalence (SentencePiece vocabularies hold both "ί" U+1F77 and "ί" U+03AF, and one would be
/// lost), and it drops U+FEFF from strings (Gemma has "▁\u{FEFF}"). Only these two values are decoded;
/// everything else is skipped.
struct JSONVocabularyScanner {
    private let bytes: [UInt8]
    private var index = 0

    private init(_ data: Data) { bytes = [UInt8](data) }

    /// The vocabulary and merges as read exactly.
    struct Model {
        /// `(token, id)` in file order.
        var vocabulary: [(String, Int)]?
        /// Each merge as its JSON array item: `["a b"]` for the string form, `["a", "b"]` for the pair form.
        var merges: [[String]]?
    }

    /// The model's vocabulary and merges; either is `nil` if the file does not have the expected shape (the
    /// caller then reports the problem from its `JSONSerialization` view).
    static func model(in data: Data) -> Model {
        var scanner = JSONVocabularyScanner(data)
        var found = Model()
        _ = scanner.forEachMember { scanner, key in
            guard key == "model" else { return scanner.skipValue() }
            return scanner.forEachMember { scanner, key in
                switch key {
                case "vocab":
                    var entries: [(String, Int)] = []
                    let ok = scanner.forEachMember { scanner, token in
                        guard let id = scanner.integer() else { return false }
                        entries.append((token, id))
                        return true
                    }
                    if ok { found.vocabulary = entries }
                    return ok
                case "merges":
                    var merges: [[String]] = []
                    let ok = scanner.forEachElement { scanner in
                        scanner.skipSpace()
                        if let line = scanner.string() {
                            merges.append([line])
                            return true
                        }
                        var pair: [String] = []
                        let ok = scanner.forEachElement { scanner in
                            scanner.skipSpace()
                            guard let part = scanner.string() else { return false }
                            pair.append(part)
                            return true
                        }
                        merges.append(pair)
                        return ok
                    }
                    if ok { found.merges = merges }
                    return ok
                default:
                    return scanner.skipValue()
                }
            }
        }
        return found
    }

    /// Calls `body` with the scanner on each element of the array at the current position.
    private mutating func forEachElement(_ body: (inout JSONVocabularyScanner) -> Bool) -> Bool {
        guard consume(UInt8(ascii: "[")) else { return false }
        if consume(UInt8(ascii: "]")) { return true }
        while true {
            guard body(&self) else { return false }
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "]"))
        }
    }

    private mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Calls `body` with each key of the object at the current position, the scanner on its value.
    private mutating func forEachMember(_ body: (inout JSONVocabularyScanner, String) -> Bool) -> Bool {
        guard consume(UInt8(ascii: "{")) else { return false }
        if consume(UInt8(ascii: "}")) { return true }
        while true {
            skipSpace()
            guard let key = string(), consume(UInt8(ascii: ":")) else { return false }
            guard body(&self, key) else { return false }
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "}"))
        }
    }

    private mutating func integer() -> Int? {
        skipSpace()
        var value = 0
        let start = index
        while index < bytes.count, (0x30...0x39).contains(bytes[index]), value < Int(Int32.max) {
            value = value * 10 + Int(bytes[index] - 0x30)
            index += 1
        }
        return index > start ? value : nil
    }

    private mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16)
        else { return nil }
        index += 4
        return value
    }

    /// The string at the current position (which must be its opening quote).
    private mutating func string() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        var output: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: output, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "u"):
                    guard var value = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(value), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        index += 2
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    }
                    output.append(contentsOf: String(Character(Unicode.Scalar(value) ?? "\u{FFFD}")).utf8)
                default: output.append(escape)  // \" \\ \/
                }
            default:
                output.append(byte)
            }
        }
        return nil
    }

    /// Skips any JSON value.
    private mutating func skipValue() -> Bool {
        skipSpace()
        guard index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            return string() != nil
        case UInt8(ascii: "{"):
            return forEachMember { scanner, _ in scanner.skipValue() }
        case UInt8(ascii: "["):
            return forEachElement { scanner in scanner.skipValue() }
        default:
            // A number, true, false or null.
            let start = index
            while index < bytes.count, !",}] \n\r\t".utf8.contains(bytes[index]) { index += 1 }
            return index > start
        }
    }
}
