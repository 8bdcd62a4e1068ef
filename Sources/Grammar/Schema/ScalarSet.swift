extension GBNFSynthesis {
    /// A set of Unicode scalar values (code points other than surrogates), as sorted, disjoint, non-adjacent ranges.
    struct ScalarSet: Hashable {
        private(set) var ranges: [ClosedRange<UInt32>]

        static let empty = ScalarSet(normalized: [])
        static let all = ScalarSet(normalized: [0...0xD7FF, 0xE000...0x10FFFF])

        /// Characters JSON writes as themselves inside a string (per the `char` builtin): all but `"`, `\`, the C0
        /// controls and DEL.
        static let jsonRaw = ScalarSet([0x22...0x22, 0x5C...0x5C, 0x00...0x1F, 0x7F...0x7F]).complement

        private init(normalized: [ClosedRange<UInt32>]) { ranges = normalized }

        /// The union of `ranges`, which may overlap, touch or contain surrogates (those are dropped).
        init(_ ranges: [ClosedRange<UInt32>]) {
            var merged: [ClosedRange<UInt32>] = []
            for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                let clamped = range.lowerBound...min(range.upperBound, 0x10FFFF)
                guard clamped.lowerBound <= clamped.upperBound else { continue }
                if let last = merged.last, clamped.lowerBound <= last.upperBound + 1 {
                    merged[merged.count - 1] = last.lowerBound...max(last.upperBound, clamped.upperBound)
                } else {
                    merged.append(clamped)
                }
            }
            // Drop the surrogate block, splitting a range that spans it.
            var result: [ClosedRange<UInt32>] = []
            for range in merged {
                if range.upperBound < 0xD800 || range.lowerBound > 0xDFFF {
                    result.append(range)
                    continue
                }
                if range.lowerBound < 0xD800 { result.append(range.lowerBound...0xD7FF) }
                if range.upperBound > 0xDFFF { result.append(0xE000...range.upperBound) }
            }
            self.ranges = result
        }

        init(scalar: UInt32) { self.init([scalar...scalar]) }

        init(_ characters: String) { self.init(characters.unicodeScalars.map { $0.value...$0.value }) }

        var isEmpty: Bool { ranges.isEmpty }

        var isAll: Bool { self == .all }

        /// The one code point in the set, if it has exactly one.
        var single: UInt32? {
            guard ranges.count == 1, let range = ranges.first, range.lowerBound == range.upperBound else { return nil }
            return range.lowerBound
        }

        func contains(_ value: UInt32) -> Bool {
            ranges.contains { $0.contains(value) }
        }

        /// Every scalar value not in the set.
        var complement: ScalarSet {
            var result: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for range in ranges {
                if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
                next = range.upperBound + 1
            }
            if next <= 0x10FFFF { result.append(next...0x10FFFF) }
            return ScalarSet(result)
        }

        func union(_ other: ScalarSet) -> ScalarSet { ScalarSet(ranges + other.ranges) }

        func intersection(_ other: ScalarSet) -> ScalarSet { complement.union(other.complement).complement }

        func subtracting(_ other: ScalarSet) -> ScalarSet { intersection(other.complement) }
    }
}
