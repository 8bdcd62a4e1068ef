import Foundation
import Kernels
import Testing

/// The packed integer kernels (`PackedMatrix`, `QuantizedActivations`) against double-precision references, on odd
/// sizes: rows that leave a partial panel, single-block rows, token counts around the 4-token tile.
@Suite struct QuantMatMulTests {
    typealias Random = KernelTests.Random
    static let packable: [TensorType] = [.q4_0, .q4_1, .q8_0]

    /// Runs `body` with a random `rows × columns` matrix of `type`.
    static func withMatrix<R>(_ type: TensorType, rows: Int, columns: Int, seed: UInt64, _ body: (WeightMatrix) -> R) -> R {
        var random = Random(state: seed)
        let bytes = KernelTests.matrixBytes(type, rows: rows, columns: columns, random: &random)
        return bytes.withUnsafeBytes { body(WeightMatrix(type: type, rows: rows, columns: columns, base: $0.baseAddress!)) }
    }

    @Test(arguments: packable)
    func packedRowsDequantizeBitIdentically(type: TensorType) {
        Self.withMatrix(type, rows: 13, columns: 96, seed: 5) { w in
            let packed = PackedMatrix(w)
            #expect(packed.panels == 2 && packed.blocks == 3)
            var a = [Float](repeating: 0, count: 96), b = a
            for row in 0..<13 {
                a.withUnsafeMutableBufferPointer { w.dequantizeRow(row, into: $0.baseAddress!) }
                b.withUnsafeMutableBufferPointer { packed.dequantizeRow(row, into: $0.baseAddress!) }
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "row \(row)")
            }
        }
    }

    @Test func activationsRoundToTheNearestStepOfTheirBlock() {
        var random = Random(state: 8)
        var x = random.floats(2 * 64)
        x[5] = 0
        for i in 64..<96 { x[i] = 0 }  // an all-zero block
        let q = x.withUnsafeBufferPointer { QuantizedActivations($0.baseAddress!, tokens: 2, columns: 64) }
        for token in 0..<2 {
            let values = q.dequantized(token: token)
            for group in 0..<8 {
                let slice = x[(token * 64 + group * 8)..<(token * 64 + group * 8 + 8)]
                let step = slice.map(abs).max()! / QuantizedActivations.limit
                for (i, original) in slice.enumerated() {
                    #expect(abs(values[group * 8 + i] - original) <= step / 2 * 1.0001 + 1e-12)
                }
            }
        }
        #expect(q.dequantized(token: 1)[0..<32].allSatisfy { $0 == 0 })
    }

    /// Every (type, rows, columns, tokens) case: the kernel equals the exact product of what it multiplies (weights
    /// and quantized activations) to float rounding, stays within the quantization bound of the f32 product, and each
    /// token's row is bit-identical whether computed alone on one thread or in a batch on two.
    @Test(arguments: packable, [(13, 32), (8, 96), (37, 320), (64, 64)])
    func multiplyMatchesReferencesAndIsBatchInvariant(type: TensorType, shape: (Int, Int)) {
        let (rows, columns) = shape
        Self.withMatrix(type, rows: rows, columns: columns, seed: UInt64(rows * columns)) { w in
            let packed = PackedMatrix(w)
            var dense = [Float](repeating: 0, count: rows * columns)
            dense.withUnsafeMutableBufferPointer { d in for r in 0..<rows { w.dequantizeRow(r, into: d.baseAddress! + r * columns) } }
            var random = Random(state: 77)
            let tokens = 9
            let x = random.floats(tokens * columns).map { $0 * 3 }
            let bias = random.floats(rows)
            let maximum = type == .q8_0 ? QuantizedActivations.q8Limit : QuantizedActivations.limit
            func run(_ count: Int, from token: Int, threads: Int) -> [Float] {
                KernelThreads.configure(threads)
                let q = x.withUnsafeBufferPointer {
                    QuantizedActivations($0.baseAddress! + token * columns, tokens: count, columns: columns, maximum: maximum)
                }
                var y = [Float](repeating: .nan, count: count * rows)
                bias.withUnsafeBufferPointer { b in y.withUnsafeMutableBufferPointer { packed.multiply(q, into: $0.baseAddress!, bias: b.baseAddress!) } }
                return y
            }
            let batched = run(tokens, from: 0, threads: 2)
            let quantized = x.withUnsafeBufferPointer {
                QuantizedActivations($0.baseAddress!, tokens: tokens, columns: columns, maximum: maximum)
            }
            for t in 0..<tokens {
                let alone = run(1, from: t, threads: 1)
                #expect(alone.map(\.bitPattern) == batched[t * rows..<(t + 1) * rows].map(\.bitPattern), "token \(t) is not batch-invariant")
                let xq = quantized.dequantized(token: t)
                for r in 0..<rows {
                    // What the kernel computes exactly: offsets (Q4's m, Q4_0's -8d) times the exact block sums.
                    var exact = Double(bias[r]), magnitude = abs(Double(bias[r])), bound = 0.0
                    var f32 = Double(bias[r])
                    for b in 0..<(columns / 32) {
                        let offset = Self.offset(w, row: r, block: b)
                        var blockSum = 0.0
                        for group in 0..<4 {
                            let columns = (32 * b + 8 * group)..<(32 * b + 8 * group + 8)
                            let groupMax = columns.map { abs(Double(x[t * shape.1 + $0])) }.max()!
                            for k in columns {
                                let weight = Double(dense[r * shape.1 + k]), input = Double(x[t * shape.1 + k])
                                exact += (weight - offset) * Double(xq[k])
                                magnitude += abs((weight - offset) * Double(xq[k]))
                                blockSum += input
                                // kernel − f32 = Σ (w − offset)(x_q − x), each x_q off by at most half a step.
                                bound += abs(weight - offset) * groupMax / Double(maximum) / 2
                                f32 += weight * input
                            }
                        }
                        exact += offset * blockSum
                        magnitude += abs(offset * blockSum)
                    }
                    #expect(abs(Double(alone[r]) - exact) <= 1e-5 * magnitude + 1e-6, "row \(r) token \(t)")
                    #expect(abs(Double(alone[r]) - f32) <= bound * 1.001 + 1e-5 * magnitude + 1e-6, "row \(r) token \(t) beyond the quantization bound")
                }
            }
            KernelThreads.configure(KernelThreads.cores)
        }
    }

    /// The per-block offset the kernel applies with the activations' exact sum.
    static func offset(_ w: WeightMatrix, row: Int, block: Int) -> Double {
        let start = w.base + row * w.rowBytes + block * w.type.blockBytes
        let d = Double(Float(Float16(bitPattern: start.loadUnaligned(as: UInt16.self))))
        switch w.type {
        case .q4_1: return Double(Float(Float16(bitPattern: (start + 2).loadUnaligned(as: UInt16.self))))
        case .q4_0: return -8 * d
        default: return 0
        }
    }

    /// The 16-bit lanes at their limits: every nibble 15 (every Q8 byte -128) against activations that all quantize
    /// to ±511 (±127 for Q8), so each lane sums its largest possible products.
    @Test(arguments: packable, [Float(1), -1])
    func extremeQuantsDoNotOverflow(type: TensorType, sign: Float) {
        let rows = 8, columns = 64, d = Float16(0.01), m = Float16(-0.05)
        var bytes: [UInt8] = []
        for _ in 0..<(rows * columns / 32) {
            withUnsafeBytes(of: d.bitPattern) { bytes += $0 }
            if type == .q4_1 { withUnsafeBytes(of: m.bitPattern) { bytes += $0 } }
            bytes += [UInt8](repeating: type == .q8_0 ? 0x80 : 0xFF, count: type == .q8_0 ? 32 : 16)
        }
        let weight: Double = switch type {
        case .q4_1: Double(Float(d)) * 15 + Double(Float(m))
        case .q4_0: Double(Float(d)) * 7
        default: Double(Float(d)) * -128
        }
        let x = [Float](repeating: sign, count: 3 * columns)
        let packed = bytes.withUnsafeBytes { PackedMatrix(WeightMatrix(type: type, rows: rows, columns: columns, base: $0.baseAddress!)) }
        let q = x.withUnsafeBufferPointer {
            QuantizedActivations($0.baseAddress!, tokens: 3, columns: columns, maximum: packed.activationLimit)
        }
        #expect(q.dequantized(token: 0).allSatisfy { $0 == sign })
        var y = [Float](repeating: .nan, count: 3 * rows)
        y.withUnsafeMutableBufferPointer { packed.multiply(q, into: $0.baseAddress!) }
        let exact = weight * Double(sign) * Double(columns)
        for value in y { #expect(abs(Double(value) - exact) <= 1e-5 * abs(exact), "\(value) against \(exact)") }
    }

    /// A NaN or infinite activation poisons exactly its own token's outputs.
    @Test func nonFiniteActivationsGiveNaNOnlyForTheirToken() {
        Self.withMatrix(.q4_1, rows: 16, columns: 64, seed: 3) { w in
            let packed = PackedMatrix(w)
            var random = Random(state: 4)
            var x = random.floats(3 * 64)
            x[5] = .nan
            x[64 + 40] = .infinity
            let q = x.withUnsafeBufferPointer { QuantizedActivations($0.baseAddress!, tokens: 3, columns: 64) }
            var y = [Float](repeating: 0, count: 3 * 16)
            y.withUnsafeMutableBufferPointer { packed.multiply(q, into: $0.baseAddress!) }
            let poisoned = y[0..<32].allSatisfy { $0.isNaN }, clean = y[32..<48].allSatisfy { $0.isFinite }
            #expect(poisoned, "tokens 0 and 1 hold a NaN and an infinity")
            #expect(clean, "token 2 is clean")
        }
    }

    @Test func threadBudgetsAddUpAndNeverDropToZero() {
        #expect(KernelThreads.split(2, ranks: 1) == [2])
        #expect(KernelThreads.split(2, ranks: 2) == [1, 1])
        #expect(KernelThreads.split(3, ranks: 2) == [2, 1])
        #expect(KernelThreads.split(8, ranks: 3) == [3, 3, 2])
        #expect(KernelThreads.split(1, ranks: 3) == [1, 1, 1])
    }

    /// `parallelChunks` runs on the calling thread's pool: a rank's pool of one thread does everything inline.
    @Test func aThreadUsesItsOwnPool() {
        let single = WorkerPool(threads: 1)
        let threads = Locked(Set<pthread_t>())
        let count = WorkerPool.withCurrent(single) {
            parallelChunks(64, minimumPerChunk: 1) { _ in threads.withLock { _ = $0.insert(pthread_self()) } }
            return KernelThreads.count
        }
        let seen = threads.withLock { $0 }
        #expect(count == 1 && seen == [pthread_self()])
        #expect(WorkerPool.current === WorkerPool.shared)
    }
}
