extension JSONSchemaGrammar {
    /// A JSON number read exactly (no floating point): its sign, integer part and whether a non-zero fraction
    /// follows, after applying the exponent.
    struct DecimalNumber {
        var isNegative: Bool
        /// The integer part's digits, most significant first, without leading zeros (empty for 0).
        var integerDigits: [UInt8]
        /// Whether the number has a non-zero fractional part.
        var hasFraction: Bool

        enum Rounding { case down, up }

        /// Reads JSON number text; `nil` if it is not one.
        init?(_ text: String) {
            var scalars = Substring(text).unicodeScalars[...]
            isNegative = scalars.first == "-"
            if isNegative { scalars = scalars.dropFirst() }
            var mantissa: [UInt8] = []
            var point: Int?
            var exponent = 0
            var sawDigit = false
            while let scalar = scalars.first {
                if ("0"..."9").contains(scalar) {
                    mantissa.append(UInt8(scalar.value - 0x30))
                    sawDigit = true
                } else if scalar == ".", point == nil {
                    point = mantissa.count
                } else {
                    break
                }
                scalars = scalars.dropFirst()
            }
            guard sawDigit else { return nil }
            if let scalar = scalars.first, scalar == "e" || scalar == "E" {
                scalars = scalars.dropFirst()
                let negativeExponent = scalars.first == "-"
                if scalars.first == "-" || scalars.first == "+" { scalars = scalars.dropFirst() }
                guard !scalars.isEmpty else { return nil }
                while let scalar = scalars.first, ("0"..."9").contains(scalar) {
                    // Saturate: an exponent beyond a million digits means "far out of range" either way.
                    exponent = Swift.min(exponent * 10 + Int(scalar.value - 0x30), 1_000_000)
                    scalars = scalars.dropFirst()
                }
                if negativeExponent { exponent = -exponent }
            }
            guard scalars.isEmpty else { return nil }
            // The decimal point sits after `position` digits of the mantissa.
            var position = (point ?? mantissa.count) + exponent
            let firstNonZero = mantissa.firstIndex { $0 != 0 } ?? mantissa.count
            position -= firstNonZero
            let significant = mantissa[firstNonZero...]
            if significant.isEmpty {
                isNegative = false
                integerDigits = []
                hasFraction = false
            } else if position <= 0 {
                integerDigits = []
                hasFraction = true
            } else if position >= significant.count {
                // Cap absurd magnitudes: anything past 40 digits is out of every supported range anyway.
                integerDigits = Array(significant) + [UInt8](repeating: 0, count: Swift.min(position, 40) - significant.count)
                hasFraction = false
            } else {
                integerDigits = Array(significant.prefix(position))
                hasFraction = significant.dropFirst(position).contains { $0 != 0 }
            }
        }

        var isInteger: Bool { !hasFraction }

        /// The integer `rounding` down (toward -∞) or up reaches; `nil` when the integer part is beyond
        /// ±(`Int.max` - 1), which leaves room to add or subtract one.
        func integer(rounding: Rounding) -> Int? {
            guard integerDigits.count <= 19 else { return nil }
            var magnitude = 0
            for digit in integerDigits {
                let (product, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, carry) = product.addingReportingOverflow(Int(digit))
                guard !overflow, !carry, sum < Int.max else { return nil }
                magnitude = sum
            }
            var value = isNegative ? -magnitude : magnitude
            if hasFraction {
                switch (rounding, isNegative) {
                case (.down, true): value -= 1
                case (.up, false): value += 1
                default: break
                }
            }
            return value
        }
    }

    /// Grammars for the decimal spellings of integers in a range (no leading zeros, no `-0`), built digit by digit:
    /// `[3, 217]` is `[3-9] | [1-9] [0-9] | "1" [0-9]{2} | "20" [0-9] | "21" [0-7]`.
    enum IntegerRanges {
        /// How many digits an integer may have when no bound limits it (as the `integral-part` builtin).
        static let openDigits = 16

        private enum Piece {
            case literal(String)
            case digits(UInt8, UInt8)
            /// `min...max` digits, each any of 0-9.
            case anyDigits(min: Int, max: Int)
        }

        /// The integers in `min...max` (`nil`: unbounded on that side, up to `openDigits` digits); `min <= max`.
        static func integers(min: Int?, max: Int?) -> Fragment {
            var alternatives: [[Piece]] = []
            if min.map({ $0 < 0 }) ?? true {
                let lowMagnitude = max.map { $0 < 0 ? -$0 : 1 } ?? 1
                let highMagnitude = min.map { -$0 }
                if highMagnitude.map({ lowMagnitude <= $0 }) ?? true {
                    alternatives += nonNegative(lowMagnitude, highMagnitude).map { [.literal("-")] + $0 }
                }
            }
            if max.map({ $0 >= 0 }) ?? true {
                let low = Swift.max(min ?? 0, 0)
                if max.map({ low <= $0 }) ?? true { alternatives += nonNegative(low, max) }
            }
            return GBNFSynthesis.alternation(alternatives.map(render))
        }

        /// The magnitudes (spelled as JSON numbers without sign or exponent) above `lower` and below `upper`, both
        /// non-negative integers; `nil` if there are none.
        static func magnitudes(
            above lower: (value: Int, exclusive: Bool), below upper: (value: Int, exclusive: Bool)?
        ) -> Fragment? {
            let digit = Fragment.atom("[0-9]")
            let anyFraction = GBNFSynthesis.repeated(
                GBNFSynthesis.sequence([.literal("."), GBNFSynthesis.repeated(digit, min: 1, max: 16)]), min: 0, max: 1)
            var alternatives: [Fragment] = []
            // Integer parts strictly inside the bounds take any fraction.
            let anyLow = lower.exclusive ? lower.value + 1 : lower.value
            let anyHigh = upper.map { $0.value - 1 }
            if anyHigh.map({ anyLow <= $0 }) ?? true {
                let integerPart = GBNFSynthesis.alternation(nonNegative(anyLow, anyHigh).map(render))
                alternatives.append(GBNFSynthesis.sequence([integerPart, anyFraction]))
            }
            // An exclusive lower bound itself, with a non-zero fraction.
            if lower.exclusive && (upper.map { lower.value < $0.value } ?? true) {
                alternatives.append(GBNFSynthesis.sequence([
                    .literal("\(lower.value)."), GBNFSynthesis.repeated(.literal("0"), min: 0, max: 15),
                    .atom("[1-9]"), GBNFSynthesis.repeated(digit, min: 0, max: 15),
                ]))
            }
            // An inclusive upper bound itself, with no fraction or a zero one.
            if let upper, !upper.exclusive, upper.value > lower.value || (upper.value == lower.value && !lower.exclusive) {
                let zeros = GBNFSynthesis.sequence([.literal("."), GBNFSynthesis.repeated(.literal("0"), min: 1, max: 16)])
                alternatives.append(GBNFSynthesis.sequence([
                    .literal(String(upper.value)), GBNFSynthesis.repeated(zeros, min: 0, max: 1),
                ]))
            }
            return alternatives.isEmpty ? nil : GBNFSynthesis.alternation(alternatives)
        }

        /// Alternatives for the integers in `low...high` (`high == nil`: up to `openDigits` digits), `0 <= low`.
        private static func nonNegative(_ low: Int, _ high: Int?) -> [[Piece]] {
            let lowDigits = digits(low)
            let highDigits = high.map(digits)
            let shortest = lowDigits.count
            let longest = highDigits?.count ?? Swift.max(openDigits, shortest)
            guard shortest <= longest else { return [] }
            var result: [[Piece]] = []
            // Lengths whose every number is in range are merged into one `[1-9] [0-9]{a,b}`.
            var fullLengths: ClosedRange<Int>?
            func flushFullLengths() {
                guard let lengths = fullLengths else { return }
                result.append([.digits(1, 9), .anyDigits(min: lengths.lowerBound - 1, max: lengths.upperBound - 1)])
                fullLengths = nil
            }
            for length in shortest...longest {
                let smallest = [1] + [UInt8](repeating: 0, count: length - 1)
                let largest = [UInt8](repeating: 9, count: length)
                let from = length == shortest ? lowDigits : smallest
                let to = length == longest ? highDigits ?? largest : largest
                if length > 1 && from == smallest && to == largest {
                    fullLengths = (fullLengths?.lowerBound ?? length)...length
                    continue
                }
                flushFullLengths()
                sameLength(from[...], to[...], prefix: [], into: &result)
            }
            flushFullLengths()
            return result
        }

        /// The numbers from `low` to `high`, spelled with exactly their (equal) number of digits.
        private static func sameLength(
            _ low: ArraySlice<UInt8>, _ high: ArraySlice<UInt8>, prefix: [Piece], into result: inout [[Piece]]
        ) {
            var low = low
            var high = high
            var prefix = prefix
            while let a = low.first, let b = high.first, a == b {
                prefix.append(.literal(String(a)))
                low = low.dropFirst()
                high = high.dropFirst()
            }
            guard let first = low.first, let last = high.first else {
                result.append(prefix)
                return
            }
            let rest = low.count - 1
            let lowTailIsZeros = low.dropFirst().allSatisfy { $0 == 0 }
            let highTailIsNines = high.dropFirst().allSatisfy { $0 == 9 }
            if !lowTailIsZeros {
                let nines = [UInt8](repeating: 9, count: rest)
                sameLength(low.dropFirst(), nines[...], prefix: prefix + [.literal(String(first))], into: &result)
            }
            let middleLow = lowTailIsZeros ? first : first + 1
            let middleHigh = highTailIsNines ? last : last - 1
            if middleLow <= middleHigh {
                result.append(prefix + [.digits(middleLow, middleHigh)] + (rest > 0 ? [.anyDigits(min: rest, max: rest)] : []))
            }
            if !highTailIsNines {
                let zeros = [UInt8](repeating: 0, count: rest)
                sameLength(zeros[...], high.dropFirst(), prefix: prefix + [.literal(String(last))], into: &result)
            }
        }

        private static func digits(_ value: Int) -> [UInt8] {
            String(value.magnitude).utf8.map { $0 - UInt8(ascii: "0") }
        }

        private static func render(_ pieces: [Piece]) -> Fragment {
            var parts: [Fragment] = []
            var literal = ""
            func flush() {
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = ""
            }
            for piece in pieces {
                switch piece {
                case .literal(let text):
                    literal += text
                case .digits(let low, let high) where low == high:
                    literal += String(low)
                case .digits(let low, let high):
                    flush()
                    parts.append(.atom("[\(low)-\(high)]"))
                case .anyDigits(let min, let max):
                    flush()
                    parts.append(GBNFSynthesis.repeated(.atom("[0-9]"), min: min, max: max))
                }
            }
            flush()
            return GBNFSynthesis.sequence(parts)
        }
    }
}
