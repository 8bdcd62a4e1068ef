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

    /// In-place softmax of `n` floats.
    @inline(__always)
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var maximum = -Float.infinity
        for i in 0..<n { maximum = max(maximum, x[i]) }
        var total: Float = 0
        for i in 0..<n {
            let e = expf(x[i] - maximum)
            x[i] = e
            total += e
        }
        let inverse = 1 / total
        for i in 0..<n { x[i] *= inverse }
    }

    /// `gate[i] = silu(gate[i]) * up[i]` (SwiGLU), in place.
    @inline(__always)
    public static func swiGLU(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
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
