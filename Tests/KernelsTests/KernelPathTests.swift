import Foundation
import Kernels
import Testing

/// Every kernel path this machine supports (Swift, portable C, AVX2, AVX-VNNI, AVX512-VNNI) against the Swift
/// reference (`ReferenceKernel`) bit for bit, for every packed encoding: odd shapes (partial panels, one-block rows,
/// 1–9 tokens around the 4-token tile), batch and thread invariance, quants and activations at their extremes,
/// non-finite activations.
@Suite struct KernelPathTests {
    typealias Random = KernelTests.Random

    static let packable: [TensorType] = TensorType.allCases.filter { PackedMatrix.canPack($0) }

    /// Odd shapes: rows leaving a partial panel, a single block, more than 16 panels (two tiles).
    static func shapes(_ type: TensorType) -> [(rows: Int, columns: Int)] {
        let block = type.blockElements
        return [(13, block), (8, 3 * block), (37, 2 * block), (136, block)]
    }

    /// Where `values` first differs from `expected` bit for bit (nil when they are identical), kept short so that a
    /// failure does not print whole arrays.
    static func mismatch(_ values: [Float], _ expected: [Float]) -> String? {
        guard values.count == expected.count else { return "\(values.count) values, expected \(expected.count)" }
        guard let i = values.indices.first(where: { values[$0].bitPattern != expected[$0].bitPattern }) else { return nil }
        return "index \(i): \(values[i]) instead of \(expected[i])"
    }

    /// `packed` times `count` tokens of `x` from token `first`, on `path` with `threads` threads.
    static func run(_ packed: PackedMatrix, _ x: [Float], first: Int = 0, count: Int, bias: [Float]?, path: KernelPath,
                    threads: Int) -> [Float] {
        KernelThreads.configure(threads)
        defer { KernelThreads.configure(KernelThreads.cores) }
        let q = x.withUnsafeBufferPointer {
            QuantizedActivations($0.baseAddress! + first * packed.columns, tokens: count, columns: packed.columns,
                                 maximum: packed.activationLimit)
        }
        var y = [Float](repeating: .nan, count: count * packed.rows)
        y.withUnsafeMutableBufferPointer { out in
            if let bias {
                bias.withUnsafeBufferPointer { packed.multiply(q, into: out.baseAddress!, bias: $0.baseAddress!, path: path) }
            } else {
                packed.multiply(q, into: out.baseAddress!, path: path)
            }
        }
        return y
    }

    @Test func everyQuantizedEncodingPacksAndTheSelectedPathIsSupported() {
        #expect(Self.packable == [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs])
        #expect(KernelPath.selected.isSupported && KernelPath.supported.contains(.swift) && KernelPath.supported.contains(.scalar))
        #if arch(x86_64)
        #expect(KernelPath.supported.contains(.avx2))
        #endif
    }

    @Test(arguments: packable)
    func packedRowsDequantizeBitIdentically(type: TensorType) {
        let rows = 13, columns = 2 * type.blockElements
        var random = Random(state: 5)
        let bytes = KernelTests.matrixBytes(type, rows: rows, columns: columns, random: &random)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)
            let packed = PackedMatrix(w)
            #expect(packed.byteCount <= rows.roundedUp(to: 8) * w.rowBytes * 104 / 100, "panels stay about the file size")
            var a = [Float](repeating: 0, count: columns), b = a
            for row in 0..<rows {
                a.withUnsafeMutableBufferPointer { w.dequantizeRow(row, into: $0.baseAddress!) }
                b.withUnsafeMutableBufferPointer { packed.dequantizeRow(row, into: $0.baseAddress!) }
                #expect(Self.mismatch(b, a) == nil, "row \(row)")
            }
        }
    }

    /// Each path equals the reference bit for bit on the whole batch (2 threads), and on every prefix of 1–9 tokens
    /// computed alone on one thread.
    @Test(arguments: packable)
    func everyPathMatchesTheReferenceOnOddShapes(type: TensorType) {
        for (index, shape) in Self.shapes(type).enumerated() {
            var random = Random(state: UInt64(100 + index))
            let bytes = KernelTests.matrixBytes(type, rows: shape.rows, columns: shape.columns, random: &random)
            let tokens = 9
            let x = random.floats(tokens * shape.columns).map { $0 * 3 }
            let bias = index % 2 == 0 ? random.floats(shape.rows) : nil
            bytes.withUnsafeBytes { raw in
                let w = WeightMatrix(type: type, rows: shape.rows, columns: shape.columns, base: raw.baseAddress!)
                let packed = PackedMatrix(w)
                let q = x.withUnsafeBufferPointer {
                    QuantizedActivations($0.baseAddress!, tokens: tokens, columns: shape.columns, maximum: packed.activationLimit)
                }
                let expected = ReferenceKernel.multiply(w, q, bias: bias)
                for path in KernelPath.supported {
                    let batched = Self.run(packed, x, count: tokens, bias: bias, path: path, threads: 2)
                    #expect(Self.mismatch(batched, expected) == nil, "\(type) \(shape) \(path): batch of \(tokens)")
                    for count in 1..<tokens {
                        let alone = Self.run(packed, x, first: tokens - count, count: count, bias: bias, path: path, threads: 1)
                        let tail = Array(expected[((tokens - count) * shape.rows)...])
                        #expect(Self.mismatch(alone, tail) == nil, "\(type) \(shape) \(path): last \(count) tokens alone")
                    }
                }
            }
        }
    }

    /// The lanes at their limits: every quant at its largest (all bits set) or most negative value, against
    /// activations that all quantize to ±511 (±127 for Q8_0): bit for bit the reference on every path, and within
    /// float rounding of the exact product.
    @Test(arguments: packable, [UInt8(0xFF), 0x00])
    func extremeQuantsMatchTheReference(type: TensorType, fill: UInt8) {
        let rows = 8, columns = 2 * type.blockElements
        var random = Random(state: 1)
        var bytes = KernelTests.matrixBytes(type, rows: rows, columns: columns, random: &random)
        // Quants get `fill`; sub-block scale bytes their largest value (0xFF); the f16 fields stay finite.
        let halves = Set((type == .q4_1 ? [0, 2] : KernelTests.halfFields(type)).flatMap { [$0, $0 + 1] }), quants = Self.quantBytes(type)
        for i in bytes.indices where !halves.contains(i % type.blockBytes) {
            bytes[i] = !quants.contains(i % type.blockBytes) ? 0xFF : type == .q8_0 && fill == 0 ? 0x80 : fill
        }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)
            let packed = PackedMatrix(w)
            var dense = [Float](repeating: 0, count: rows * columns)
            dense.withUnsafeMutableBufferPointer { d in for r in 0..<rows { w.dequantizeRow(r, into: d.baseAddress! + r * columns) } }
            for sign in [Float(1), -1] {
                let x = [Float](repeating: sign, count: 5 * columns)
                let q = x.withUnsafeBufferPointer {
                    QuantizedActivations($0.baseAddress!, tokens: 5, columns: columns, maximum: packed.activationLimit)
                }
                #expect((0..<columns).allSatisfy { abs(Int(q.quant(token: 0, column: $0))) == Int(packed.activationLimit) })
                let expected = ReferenceKernel.multiply(w, q, bias: nil)
                let xq = q.dequantized(token: 0)
                for r in 0..<rows {
                    var exact = 0.0, magnitude = 0.0
                    for c in 0..<columns {
                        exact += Double(dense[r * columns + c]) * Double(xq[c])
                        magnitude += abs(Double(dense[r * columns + c]) * Double(xq[c]))
                    }
                    #expect(abs(Double(expected[r]) - exact) <= 1e-5 * magnitude + 1e-6, "\(type) row \(r): \(expected[r]) vs \(exact)")
                }
                for path in KernelPath.supported {
                    let y = Self.run(packed, x, count: 5, bias: nil, path: path, threads: 1)
                    #expect(Self.mismatch(y, expected) == nil, "\(type) fill \(fill) sign \(sign) \(path)")
                }
            }
        }
    }

    /// The bytes of a block of `type` that hold quant bits (the rest: f16 fields and sub-block scales).
    static func quantBytes(_ type: TensorType) -> Range<Int> {
        switch type {
        case .q4_0, .q5_0, .q8_0, .iq4_nl: return 2..<type.blockBytes
        case .q4_1, .q5_1: return 4..<type.blockBytes
        case .q4_K, .q5_K: return 16..<type.blockBytes
        case .q6_K: return 0..<192
        case .q3_K: return 0..<96
        case .q2_K: return 16..<80
        default: return 8..<type.blockBytes  // IQ4_XS
        }
    }

    /// A NaN or infinite activation poisons exactly its own token's outputs, on every path.
    @Test(arguments: packable)
    func nonFiniteActivationsPoisonOnlyTheirToken(type: TensorType) {
        let rows = 16, columns = type.blockElements
        var random = Random(state: 3)
        let bytes = KernelTests.matrixBytes(type, rows: rows, columns: columns, random: &random)
        var x = random.floats(6 * columns)
        x[5] = .nan
        x[columns + 17] = .infinity
        x[4 * columns + 3] = -.infinity
        bytes.withUnsafeBytes { raw in
            let packed = PackedMatrix(WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!))
            for path in KernelPath.supported {
                let y = Self.run(packed, x, count: 6, bias: nil, path: path, threads: 1)
                for t in 0..<6 {
                    let outputs = y[(t * rows)..<((t + 1) * rows)]
                    if [0, 1, 4].contains(t) {
                        #expect(outputs.allSatisfy { $0.isNaN }, "\(type) \(path) token \(t) holds a non-finite value")
                    } else {
                        #expect(outputs.allSatisfy { $0.isFinite }, "\(type) \(path) token \(t) is clean")
                    }
                }
            }
        }
    }
}

extension Int {
    func roundedUp(to multiple: Int) -> Int { (self + multiple - 1) / multiple * multiple }
}
