import Foundation
import Kernels
import Testing

/// Kernels against straightforward double-precision references, on odd sizes (tails) and every encoding.
@Suite struct KernelTests {
    struct Random {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
        mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
    }

    @Test(arguments: [1, 7, 15, 16, 17, 33, 64, 100, 577])
    func dotMatchesDoublePrecisionAndDot4IsBitIdentical(n: Int) {
        var r = Random(state: UInt64(n))
        let rows = (0..<4).map { _ in r.floats(n) }
        let x = r.floats(n)
        let exact = rows.map { row in zip(row, x).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        let singles = rows.map { row in row.withUnsafeBufferPointer { a in x.withUnsafeBufferPointer { VectorOps.dot(a.baseAddress!, $0.baseAddress!, n) } } }
        for (single, e) in zip(singles, exact) { #expect(abs(Double(single) - e) <= 1e-5 * Double(n)) }
        let four = rows[0].withUnsafeBufferPointer { a in rows[1].withUnsafeBufferPointer { b in rows[2].withUnsafeBufferPointer { c in
            rows[3].withUnsafeBufferPointer { d in x.withUnsafeBufferPointer {
                VectorOps.dot4(a.baseAddress!, b.baseAddress!, c.baseAddress!, d.baseAddress!, $0.baseAddress!, n)
            } } } } }
        for k in 0..<4 { #expect(four[k].bitPattern == singles[k].bitPattern) }
    }

    /// A quantized matrix built from bytes: rows × columns of `type`.
    static func matrixBytes(_ type: TensorType, rows: Int, columns: Int, random: inout Random) -> [UInt8] {
        let blocks = rows * columns / type.blockElements
        var bytes: [UInt8] = []
        for _ in 0..<blocks {
            switch type {
            case .f32: withUnsafeBytes(of: random.next()) { bytes += $0 }
            case .f16: withUnsafeBytes(of: Float16(random.next()).bitPattern) { bytes += $0 }
            case .bf16: withUnsafeBytes(of: UInt16(random.next().bitPattern >> 16)) { bytes += $0 }
            case .q4_0, .q4_1, .q8_0:
                withUnsafeBytes(of: Float16(abs(random.next()) * 0.1).bitPattern) { bytes += $0 }
                if type == .q4_1 { withUnsafeBytes(of: Float16(random.next() * 0.5).bitPattern) { bytes += $0 } }
                let payload = type.blockBytes - (type == .q4_1 ? 4 : 2)
                for _ in 0..<payload { bytes.append(UInt8(truncatingIfNeeded: Int(random.next() * 1000) & 0xFF)) }
            default:
                // Random bytes, then finite f16 scales (d, and m/dmin) where the layout keeps them; the K-quants'
                // 6- and 8-bit sub-block scales multiply d, so theirs is smaller to keep weights of the same order.
                var block = (0..<type.blockBytes).map { _ in UInt8(truncatingIfNeeded: Int(random.next() * 1000) & 0xFF) }
                let scale: Float = type.blockElements == 256 ? 0.002 : 0.1
                for (k, at) in halfFields(type).enumerated() {
                    let bits = Float16(k == 0 ? abs(random.next()) * scale : random.next() * 5 * scale).bitPattern
                    block[at] = UInt8(bits & 0xFF)
                    block[at + 1] = UInt8(bits >> 8)
                }
                bytes += block
            }
        }
        return bytes
    }

    /// Byte offsets of the f16 scale fields (d, then m or dmin) of the encodings `matrixBytes` fills generically.
    static func halfFields(_ type: TensorType) -> [Int] {
        switch type {
        case .q5_1, .q4_K, .q5_K: return [0, 2]
        case .q2_K: return [80, 82]
        case .q3_K: return [108]
        case .q6_K: return [208]
        default: return [0]
        }
    }

    @Test(arguments: TensorType.allCases)
    func multiplyIsBatchAndThreadInvariantAndMatchesReference(type: TensorType) {
        var r = Random(state: 99)
        let rows = 37, columns = type.blockElements == 256 ? 256 : 96, tokens = 5
        let bytes = Self.matrixBytes(type, rows: rows, columns: columns, random: &r)
        let x = r.floats(tokens * columns)
        let bias = r.floats(rows)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(type: type, rows: rows, columns: columns, base: raw.baseAddress!)
            var dense = [Float](repeating: 0, count: rows * columns)
            dense.withUnsafeMutableBufferPointer { d in for row in 0..<rows { w.dequantizeRow(row, into: d.baseAddress! + row * columns) } }
            func run(_ t: Int, offset: Int, threads: Int) -> [Float] {
                KernelThreads.configure(threads)
                var y = [Float](repeating: 0, count: t * rows)
                x.withUnsafeBufferPointer { x in bias.withUnsafeBufferPointer { b in y.withUnsafeMutableBufferPointer {
                    MatMul.multiply(w, x.baseAddress! + offset * columns, tokens: t, into: $0.baseAddress!, bias: b.baseAddress!)
                } } }
                return y
            }
            let batched = run(tokens, offset: 0, threads: 2)
            for t in 0..<tokens {
                let alone = run(1, offset: t, threads: 1)
                #expect(alone.map(\.bitPattern) == batched[t * rows..<(t + 1) * rows].map(\.bitPattern), "token \(t) not batch-invariant")
                for row in 0..<rows {
                    var exact = Double(bias[row])
                    for c in 0..<columns { exact += Double(dense[row * columns + c]) * Double(x[t * columns + c]) }
                    #expect(abs(Double(alone[row]) - exact) < 1e-4 * max(1, abs(exact)))
                }
            }
            KernelThreads.configure(KernelThreads.cores)
        }
    }

    @Test func normSoftmaxSwiGLU() {
        var x: [Float] = [1, -2, 3, 0.5]
        let w: [Float] = [1, 2, 0.5, 1]
        var out = [Float](repeating: 0, count: 4)
        x.withUnsafeBufferPointer { x in w.withUnsafeBufferPointer { w in out.withUnsafeMutableBufferPointer {
            VectorOps.rmsNorm(x.baseAddress!, weight: w.baseAddress!, eps: 1e-5, 4, into: $0.baseAddress!)
        } } }
        let scale = 1 / sqrt((1 + 4 + 9 + 0.25) / 4 + 1e-5)
        for i in 0..<4 { #expect(abs(Double(out[i]) - Double(x[i] * w[i]) * scale) < 1e-6) }
        x.withUnsafeMutableBufferPointer { VectorOps.softmax($0.baseAddress!, 4) }
        #expect(abs(x.reduce(0, +) - 1) < 1e-6)
        #expect(x[2] > x[0] && x[0] > x[3] && x[3] > x[1])
        var gate: [Float] = [0, 2]
        let up: [Float] = [5, 3]
        gate.withUnsafeMutableBufferPointer { g in up.withUnsafeBufferPointer { VectorOps.swiGLU(g.baseAddress!, up: $0.baseAddress!, 2) } }
        #expect(gate[0] == 0 && abs(gate[1] - 2 / (1 + exp(-2)) * 3) < 1e-5)
    }

    /// `VectorOps.exp` against double-precision `exp` over the whole float range it handles, plus its edges.
    @Test func vectorExpIsWithinTwoUlpAndHandlesTheEdges() {
        var worst = 0.0
        var x: Float = -87.3
        while x < 88.3 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0013 })
            let result = VectorOps.exp(lanes)
            for lane in 0..<8 {
                let exact = Foundation.exp(Double(lanes[lane]))
                worst = max(worst, abs(Double(result[lane]) - exact) / Double(Float(exact).ulp))
            }
            x += 0.0137
        }
        #expect(worst <= 2, "worst error \(worst) ulp")
        let edges = VectorOps.exp(SIMD8(-.infinity, -200, -88, 0, 89, 200, .infinity, .nan))
        #expect(edges[0] == 0 && edges[1] == 0 && edges[2] == 0 && edges[3] == 1)
        #expect(edges[4] == .infinity && edges[5] == .infinity && edges[6] == .infinity && edges[7].isNaN)
    }

    @Test func cpuHasTheCompiledFeatures() throws {
        try CPUFeatures.requireCompiledFeatures()
        let flags = try #require(CPUFeatures.cpuFlags())
        #expect(flags.contains("avx2") && flags.contains("fma"))
    }

    /// Guards against losing AVX2/FMA code generation (then `SIMD.addProduct` becomes ~100× slower `fmaf` calls):
    /// the binary that runs these tests must contain FMA instructions in the kernels and no calls to `fmaf`; and the C
    /// kernels' `vpmaddwd` (AVX2) and `vpdpwssd` (VNNI).
    @Test func releaseCodeUsesFMAInstructions() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/objdump")
        process.arguments = ["-d", "--no-show-raw-insn", URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(text.contains("vfmadd"), "no FMA instructions: Kernels lost -march=x86-64-v3")
        #expect(!text.contains("fmaf@plt"), "kernels call fmaf: SIMD FMA was lowered to library calls")
        // The integer kernels: 16-bit multiplies and adds of packed quants, f16 scales converted 8 at a time.
        let integerKernel = Self.disassembly(of: "PackedMatrix", in: text)
        #expect(integerKernel.contains("vpmullw") && integerKernel.contains("vpaddw"), "the integer kernels lost their 16-bit SIMD code")
        #expect(integerKernel.contains("vcvtph2ps") && integerKernel.contains("vcvtdq2ps"), "the integer kernels' epilogue is no longer vectorized")
        let calls = integerKernel.split(separator: "\n").filter { $0.contains("call") && $0.contains("convert") }
        #expect(calls.isEmpty, "the integer kernels call generic element-by-element conversions: \(calls)")
        // The C variants: AVX2 multiplies and pair-adds with vpmaddwd, both VNNI variants accumulate with vpdpwssd.
        #if arch(x86_64)
        #expect(Self.disassembly(of: "bk_multiply_avx2", in: text).contains("vpmaddwd"), "the AVX2 C kernels lost vpmaddwd")
        for variant in ["bk_multiply_avx512vnni", "bk_multiply_avxvnni"] {
            let code = Self.disassembly(of: variant, in: text)
            let dots = code.split(separator: "\n").filter { $0.contains("vpdpwssd") }.count
            #expect(dots >= 100, "\(variant) has \(dots) vpdpwssd: its dot products were split back into vpmaddwd + vpaddd")
        }
        #endif
    }

    /// The instructions of every function whose symbol mentions `name`, from `objdump -d` output.
    static func disassembly(of name: String, in text: String) -> String {
        var result = "", inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix(">:") { inside = line.contains(name) }
            if inside { result += line + "\n" }
        }
        return result
    }
}
