/// The character classes the pre-tokenizer patterns use.
///
/// Every scalar is in exactly one class, which is what lets the hand-written matchers in
/// `PatternMatchers.swift` replace the regexes:
/// - `letter`: `\p{L}` (general categories Lu, Ll, Lt, Lm, Lo),
/// - `number`: `\p{N}` (Nd, Nl, No),
/// - `whitespace`: `\s`, which for Oniguruma (the regex engine of Hugging Face `tokenizers`) is the Unicode
///   `White_Space` property: U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029,
///   U+202F, U+205F, U+3000 (not U+001C–U+001F, U+180E, U+200B or U+FEFF),
/// - `other`: everything else (punctuation, symbols, marks, controls, unassigned, private use).
enum ScalarClass: UInt8, Sendable {
    case letter, number, whitespace, other
}

enum UnicodeClasses {
    /// The Unicode version of Oniguruma's property tables in `tokenizers` (checked exhaustively against
    /// `tokenizers` 0.23 by the golden pre-tokenization test). Scalars assigned in a later version are
    /// unassigned (`other`) for the reference, so they are `other` here too, whatever the Swift runtime knows.
    static let referenceUnicodeVersion = (major: 16, minor: 0)

    private static let asciiClasses: [ScalarClass] = (0..<128).map { value in
        switch UInt8(value) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case 0x09...0x0D, 0x20: return .whitespace
        default: return .other
        }
    }

    /// The class of one scalar value (see ``ScalarClass``).
    @inline(__always)
    static func classify(_ value: UInt32) -> ScalarClass {
        if value < 0x80 { return asciiClasses[Int(value)] }
        return classifyNonASCII(value)
    }

    private static func classifyNonASCII(_ value: UInt32) -> ScalarClass {
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        let candidate: ScalarClass
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            candidate = .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            candidate = .number
        default:
            return properties.isWhitespace ? .whitespace : .other
        }
        if let age = properties.age,
            (age.major, age.minor) > (referenceUnicodeVersion.major, referenceUnicodeVersion.minor)
        {
            return .other
        }
        return candidate
    }

    /// Rust's `char::is_whitespace` (the `White_Space` property), used by added tokens' `lstrip`/`rstrip`.
    static func isWhitespace(_ value: UInt32) -> Bool {
        classify(value) == .whitespace
    }

    /// Rust's `char::is_numeric` (general category Nd, Nl or No), used by the `Digits` pre-tokenizer.
    ///
    /// Unlike ``classify(_:)`` this uses the runtime's Unicode version: Rust's standard library, like Swift 6.3's,
    /// has Unicode 17.0 tables (checked by the golden pre-tokenization test), while Oniguruma has 16.0.
    static func isNumeric(_ value: UInt32) -> Bool {
        if value < 0x80 { return asciiClasses[Int(value)] == .number }
        guard let scalar = Unicode.Scalar(value) else { return false }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Rust's `char::is_alphanumeric` (`Alphabetic` or numeric), used by added tokens' `single_word`.
    static func isAlphanumeric(_ value: UInt32) -> Bool {
        if value < 0x80 { return asciiClasses[Int(value)] == .letter || asciiClasses[Int(value)] == .number }
        guard let scalar = Unicode.Scalar(value) else { return false }
        return scalar.properties.isAlphabetic || isNumeric(value)
    }
}

/// UTF-8 helpers over buffers that are known to hold valid UTF-8 (the bytes of a Swift `String`).
enum ValidUTF8 {
    /// Decodes the scalar starting at `index`; returns its value and byte length.
    @inline(__always)
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (value: UInt32, length: Int) {
        let lead = UInt32(bytes[index])
        if lead < 0x80 { return (lead, 1) }
        if lead < 0xE0 {
            return (((lead & 0x1F) << 6) | (UInt32(bytes[index + 1]) & 0x3F), 2)
        }
        if lead < 0xF0 {
            let value = ((lead & 0x0F) << 12) | ((UInt32(bytes[index + 1]) & 0x3F) << 6)
                | (UInt32(bytes[index + 2]) & 0x3F)
            return (value, 3)
        }
        let value = ((lead & 0x07) << 18) | ((UInt32(bytes[index + 1]) & 0x3F) << 12)
            | ((UInt32(bytes[index + 2]) & 0x3F) << 6) | (UInt32(bytes[index + 3]) & 0x3F)
        return (value, 4)
    }

    /// The length of the sequence a lead byte starts (1 for a stray continuation byte, as llama.cpp counts).
    @inline(__always)
    static func sequenceLength(lead: UInt8) -> Int {
        lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    /// The number of UTF-8 bytes of a scalar value.
    static func length(of value: UInt32) -> Int {
        value < 0x80 ? 1 : value < 0x800 ? 2 : value < 0x10000 ? 3 : 4
    }

    /// The scalar that ends just before `end` (not before `lower`), if any.
    static func scalar(endingAt end: Int, in bytes: UnsafeBufferPointer<UInt8>, lower: Int) -> UInt32? {
        guard end > lower else { return nil }
        var start = end - 1
        while start > lower, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        return decode(bytes, at: start).value
    }
}

/// The scalars of one text segment with their classes and byte offsets, reused across segments.
struct ScalarBuffer {
    private(set) var values: [UInt32] = []
    private(set) var classes: [ScalarClass] = []
    /// `offsets[i]` is the byte offset of scalar `i`; `offsets[count]` is the end of the segment.
    private(set) var offsets: [Int] = []

    var count: Int { values.count }

    /// Replaces the contents with the scalars of `bytes[range]` (valid UTF-8).
    mutating func load(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        values.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var index = range.lowerBound
        while index < range.upperBound {
            let (value, length) = ValidUTF8.decode(bytes, at: index)
            values.append(value)
            classes.append(UnicodeClasses.classify(value))
            offsets.append(index)
            index += length
        }
        offsets.append(range.upperBound)
    }
}
