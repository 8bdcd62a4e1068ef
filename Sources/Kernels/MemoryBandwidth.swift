import Dispatch

/// This machine's memory bandwidth, measured the way STREAM does (arrays far larger than the caches, touched first
/// by the threads that use them, best of several runs): the ceiling of batch-1 decode, which reads every weight once
/// per token.
public enum MemoryBandwidth {
    /// A measurement: GB/s (10⁹ bytes) of each kind of traffic.
    public struct Result: Sendable {
        public var threads: Int
        /// Reading an array (sum of its floats).
        public var readGBps: Double
        /// `a[i] = b[i] + s·c[i]`: 12 bytes per element (STREAM's count, write-allocate traffic not included).
        public var triadGBps: Double
    }

    /// Measures with the calling thread's kernel pool (`KernelThreads.count` threads), over arrays of `bytes` each.
    public static func measure(bytes: Int = 256 << 20, repetitions: Int = 5) -> Result {
        let count = max(1 << 16, bytes / 4) / 4096 * 4096
        let a = UnsafeMutablePointer<Float>.allocate(capacity: count), b = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        let pages = count / 4096
        parallelChunks(pages, minimumPerChunk: 1) { range in
            for page in range {
                (a + page * 4096).initialize(repeating: 0, count: 4096)
                (b + page * 4096).initialize(repeating: 1, count: 4096)
                (c + page * 4096).initialize(repeating: 2, count: 4096)
            }
        }
        var read = Double.infinity, triad = Double.infinity
        var sink: Float = 0
        for _ in 0..<max(1, repetitions) {
            let partial = Locked<Float>(0)
            read = min(read, seconds {
                parallelChunks(pages, minimumPerChunk: 1) { range in
                    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
                    let raw = UnsafeRawPointer(b + range.lowerBound * 4096)
                    for i in stride(from: 0, to: range.count * 4096 * 4, by: 256) {
                        s0 += raw.loadUnaligned(fromByteOffset: i, as: SIMD16<Float>.self)
                        s1 += raw.loadUnaligned(fromByteOffset: i + 64, as: SIMD16<Float>.self)
                        s2 += raw.loadUnaligned(fromByteOffset: i + 128, as: SIMD16<Float>.self)
                        s3 += raw.loadUnaligned(fromByteOffset: i + 192, as: SIMD16<Float>.self)
                    }
                    let total = ((s0 + s1) + (s2 + s3)).sum()
                    partial.withLock { $0 += total }
                }
            })
            sink += partial.withLock { $0 }
            triad = min(triad, seconds {
                parallelChunks(pages, minimumPerChunk: 1) { range in
                    let s = SIMD16<Float>(repeating: 3)
                    for i in stride(from: range.lowerBound * 4096, to: range.upperBound * 4096, by: 16) {
                        let sum = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self) + s * UnsafeRawPointer(c + i).loadUnaligned(as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(a + i).storeBytes(of: sum, as: SIMD16<Float>.self)
                    }
                }
            })
        }
        precondition(sink.isFinite && a[count - 1] == 7, "bandwidth kernels computed a wrong result")
        return Result(threads: KernelThreads.count, readGBps: Double(count * 4) / read / 1e9,
                      triadGBps: Double(count * 12) / triad / 1e9)
    }

    /// Wall-clock seconds `body` takes.
    public static func seconds(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
