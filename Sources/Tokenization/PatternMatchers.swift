/// Hand-written equivalents of the pre-tokenizer regexes, over a ``ScalarBuffer``.
///
/// Each matcher returns the end (exclusive scalar index) of the match that the regex, scanning with
/// leftmost-first alternation as Oniguruma does, finds at `start`; `end` is the end of the piece being split
/// (the regex sees it as the end of the input). Every scalar is matched by some alternative, so splitting a
/// piece is: match at the start, continue at the match's end.
enum PatternMatchers {
    private static let apostrophe: UInt32 = 0x27
    private static let space: UInt32 = 0x20
    private static let carriageReturn: UInt32 = 0x0D
    private static let lineFeed: UInt32 = 0x0A

    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    static func gpt2(_ s: ScalarBuffer, at start: Int, end: Int) -> Int {
        let values = s.values
        let classes = s.classes
        let first = values[start]
        if first == apostrophe, start + 1 < end {
            let next = values[start + 1]
            switch next {
            case 0x73, 0x74, 0x6D, 0x64:  // s t m d
                return start + 2
            case 0x72, 0x76:  // r v (+ e)
                if start + 2 < end, values[start + 2] == 0x65 { return start + 3 }
            case 0x6C:  // l (+ l)
                if start + 2 < end, values[start + 2] == 0x6C { return start + 3 }
            default:
                break
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a run of one class, optionally after one space.
        let runStart = first == space && start + 1 < end ? start + 1 : start
        let runClass = classes[runStart]
        if runClass != .whitespace {
            return runEnd(classes, from: runStart + 1, end: end, of: runClass)
        }
        return whitespaceTail(classes, at: start, end: end)
    }

    /// The Llama-3 family:
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// with `maxDigits` 3 for Llama 3 and 1 for Qwen 2.
    static func llama3(_ s: ScalarBuffer, at start: Int, end: Int, maxDigits: Int) -> Int {
        let values = s.values
        let classes = s.classes
        let first = values[start]
        if first == apostrophe, start + 1 < end, let length = caseInsensitiveContraction(values, at: start + 1, end: end) {
            return start + 1 + length
        }
        let firstClass = classes[start]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if firstClass == .letter {
            return runEnd(classes, from: start + 1, end: end, of: .letter)
        }
        if firstClass != .number, first != carriageReturn, first != lineFeed, start + 1 < end,
            classes[start + 1] == .letter
        {
            return runEnd(classes, from: start + 2, end: end, of: .letter)
        }
        // `\p{N}{1,maxDigits}`
        if firstClass == .number {
            var index = start + 1
            while index < end, index - start < maxDigits, classes[index] == .number { index += 1 }
            return index
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let runStart = first == space && start + 1 < end ? start + 1 : start
        if classes[runStart] == .other {
            var index = runEnd(classes, from: runStart + 1, end: end, of: .other)
            while index < end, values[index] == carriageReturn || values[index] == lineFeed { index += 1 }
            return index
        }
        // Here `first` is whitespace. `\s*[\r\n]+`: up to and including the last CR/LF of the whitespace run.
        let whitespaceEnd = runEnd(classes, from: start + 1, end: end, of: .whitespace)
        var index = whitespaceEnd - 1
        while index >= start {
            if values[index] == carriageReturn || values[index] == lineFeed { return index + 1 }
            index -= 1
        }
        return whitespaceTail(classes, at: start, end: end)
    }

    /// `\s+(?!\S)|\s+` at a whitespace scalar: the whole run at the end of the piece, otherwise all but the
    /// last scalar of the run (which then prefixes the next word), and a lone scalar when the run has one.
    private static func whitespaceTail(_ classes: [ScalarClass], at start: Int, end: Int) -> Int {
        let whitespaceEnd = runEnd(classes, from: start + 1, end: end, of: .whitespace)
        if whitespaceEnd == end { return end }
        return whitespaceEnd - 1 > start ? whitespaceEnd - 1 : whitespaceEnd
    }

    @inline(__always)
    private static func runEnd(_ classes: [ScalarClass], from index: Int, end: Int, of runClass: ScalarClass) -> Int {
        var index = index
        while index < end, classes[index] == runClass { index += 1 }
        return index
    }

    /// The length after the apostrophe of `(?i:s|t|re|ve|m|ll|d)` at `index`, with Oniguruma's simple case
    /// folding (which also folds U+017F LATIN SMALL LETTER LONG S to `s`).
    private static func caseInsensitiveContraction(_ values: [UInt32], at index: Int, end: Int) -> Int? {
        func folded(_ value: UInt32) -> UInt32 {
            if value >= 0x41, value <= 0x5A { return value + 0x20 }
            if value == 0x17F { return 0x73 }
            return value
        }
        let next = folded(values[index])
        switch next {
        case 0x73, 0x74, 0x6D, 0x64:  // s t m d
            return 1
        case 0x72, 0x76:  // r v (+ e)
            if index + 1 < end, folded(values[index + 1]) == 0x65 { return 2 }
        case 0x6C:  // l (+ l)
            if index + 1 < end, folded(values[index + 1]) == 0x6C { return 2 }
        default:
            break
        }
        return nil
    }
}
