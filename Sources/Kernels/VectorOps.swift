/// Element-wise and reduction kernels on `Float` vectors.
///
/// Every reduction here has a fixed order that depends only on the vector length, never on the batch a row is in or on
/// the thread that computes it: this is what keeps a sequence's results bit-identical across batch compositions and
/// pipeline splits.
public enum VectorOps {
    /// Dot product of `n` floats, accumulated in two 8-lane FMA accumulators over 16-element steps, then the tail.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            acc0.addProduct(load8(a + i), load8(b + i))
            acc1.addProduct(load8(a + i + 8), load8(b + i + 8))
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < n {
            sum = sum.addingProduct(a[i], b[i])
            i += 1
        }
        return sum
    }

    /// Four dot products of rows `w0…w3` with the same `x`, each bit-identical to `dot(w_k, x, n)`.
    @inline(__always)
    public static func dot4(
        _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>, _ w3: UnsafePointer<Float>,
        _ x: UnsafePointer<Float>, _ n: Int
    ) -> SIMD4<Float> {
        var a0 = SIMD8<Float>(), b0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b1 = SIMD8<Float>()
        var a2 = SIMD8<Float>(), b2 = SIMD8<Float>(), a3 = SIMD8<Float>(), b3 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            let xl = load8(x + i), xh = load8(x + i + 8)
            a0.addProduct(load8(w0 + i), xl); b0.addProduct(load8(w0 + i + 8), xh)
            a1.addProduct(load8(w1 + i), xl); b1.addProduct(load8(w1 + i + 8), xh)
            a2.addProduct(load8(w2 + i), xl); b2.addProduct(load8(w2 + i + 8), xh)
            a3.addProduct(load8(w3 + i), xl); b3.addProduct(load8(w3 + i + 8), xh)
            i += 16
        }
        var s = SIMD4<Float>((a0 + b0).sum(), (a1 + b1).sum(), (a2 + b2).sum(), (a3 + b3).sum())
        while i < n {
            s[0] = s[0].addingProduct(w0[i], x[i])
            s[1] = s[1].addingProduct(w1[i], x[i])
            s[2] = s[2].addingProduct(w2[i], x[i])
            s[3] = s[3].addingProduct(w3[i], x[i])
            i += 1
        }
        return s
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// `out[i] = x[i] / sqrt(mean(x²) + eps) * weight[i]` for one row of `n` floats (`out` may alias `x`).
    @inline(__always)
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float, _ n: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let meanSquare = dot(x, x, n) / Float(n)
        let scale = 1 / (meanSquare + eps).squareRoot()
        for i in 0..<n { out[i] = x[i] * scale * weight[i] }
    }

    /// In-place softmax of `n` floats (8 lanes at a time with `exp`, in a fixed order that depends only on `n`).
    @inline(__always)
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var maximum = -Float.infinity
        for i in 0..<n { maximum = max(maximum, x[i]) }
        let shift = SIMD8<Float>(repeating: maximum)
        var sums = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let e = exp(load8(x + i) - shift)
            store8(e, x + i)
            sums += e
            i += 8
        }
        var total = sums.sum()
        while i < n {
            x[i] = exp(SIMD8(repeating: x[i] - maximum))[0]
            total += x[i]
            i += 1
        }
        let inverse = SIMD8<Float>(repeating: 1 / total)
        i = 0
        while i + 8 <= n {
            store8(load8(x + i) * inverse, x + i)
            i += 8
        }
        while i < n {
            x[i] *= inverse[0]
            i += 1
        }
    }

    /// `gate[i] = silu(gate[i]) * up[i]` (SwiGLU), in place.
    @inline(__always)
    public static func swiGLU(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let g = load8(gate + i)
            store8(g / (1 + exp(-g)) * load8(up + i), gate + i)
            i += 8
        }
        while i < n {
            let g = gate[i]
            gate[i] = g / (1 + exp(SIMD8(repeating: -g))[0]) * up[i]
            i += 1
        }
    }

    /// `gate[i] = gelu(gate[i]) * up[i]` in place (GeGLU, Gemma's FFN), with GELU's tanh approximation
    /// `0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³)))`, computed as `g / (1 + e^(-2u))`, the same value without a tanh.
    @inline(__always)
    public static func geGLU(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, _ n: Int) {
        @inline(__always) func gelu(_ g: SIMD8<Float>) -> SIMD8<Float> {
            let u = SIMD8<Float>(repeating: 0.797_884_56) * (g + SIMD8(repeating: 0.044_715) * g * g * g)
            return g / (1 + exp(SIMD8(repeating: -2) * u))
        }
        var i = 0
        while i + 8 <= n {
            store8(gelu(load8(gate + i)) * load8(up + i), gate + i)
            i += 8
        }
        while i < n {
            gate[i] = gelu(SIMD8(repeating: gate[i]))[0] * up[i]
            i += 1
        }
    }

    /// `e^x` lane by lane, within a few ulp of the correctly rounded value for `x` in [-87.3, 88.3] (0 below,
    /// +∞ above; NaN stays NaN). Cephes' `expf`: range reduction `x = n·ln2 + r` with ln2 split in two, a degree-6
    /// polynomial for `e^r`, and `2^n` built in the exponent bits: a few FMAs instead of a libm call per element.
    @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let high = SIMD8<Float>(repeating: 88.376_262_664_794_9), low = SIMD8<Float>(repeating: -87.336_544_750_553_1)
        var v = x.replacing(with: high, where: x .> high)
        v = v.replacing(with: low, where: v .< low)
        // n = round(v / ln2) with the 1.5·2^23 trick: the integer lands in t's low mantissa bits, no conversion.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let t = v * SIMD8(repeating: 1.442_695_04) + magic
        let n = t - magic
        var r = v.addingProduct(n, SIMD8(repeating: -0.693_359_375))
        r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
        var q = SIMD8<Float>(repeating: 1.987_569_1e-4)
        q = SIMD8(repeating: 1.398_199_9e-3).addingProduct(q, r)
        q = SIMD8(repeating: 8.333_451_9e-3).addingProduct(q, r)
        q = SIMD8(repeating: 4.166_579_6e-2).addingProduct(q, r)
        q = SIMD8(repeating: 0.166_666_65).addingProduct(q, r)
        q = SIMD8(repeating: 0.500_000_01).addingProduct(q, r)
        let er = (r + 1).addingProduct(q, r * r)
        // 2^n = bits((n + 127) << 23); t's bits are 0x4B400000 + n.
        let exponent = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- SIMD8(repeating: 0x4B40_0000 - 127)) &<< SIMD8(repeating: 23)
        let result = er * unsafeBitCast(exponent, to: SIMD8<Float>.self)
        return result.replacing(with: 0, where: x .< low).replacing(with: .infinity, where: x .> high)
    }

    @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// `x[i] += y[i]`.
    @inline(__always)
    public static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let sum = load8(x + i) + load8(y + i)
            UnsafeMutableRawPointer(x + i).storeBytes(of: sum, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            x[i] += y[i]
            i += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
