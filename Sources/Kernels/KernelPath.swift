import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which implementation runs the integer kernels of `PackedMatrix`. Every path computes the same exact integer group
/// sums and the same float epilogue in the same order, so they all give bit-identical outputs; they differ in speed.
///
/// The process uses `selected`: the environment variable `BRIGADE_KERNELS` (one of the raw values) when it is set,
/// else the fastest path this CPU supports. Tests pass a path explicitly to run every supported one.
public enum KernelPath: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The Swift SIMD kernels (`vpmullw`/`vpaddw` in 16-bit lanes) for Q4_0, Q4_1 and Q8_0, the reference the C paths
    /// match bit for bit; every other encoding runs the portable C kernels (`scalar`).
    case swift
    /// Portable C, one column at a time (the only C path off x86-64).
    case scalar
    /// C with AVX2 intrinsics: `vpmaddwd` + `vpaddd` (the x86-64-v3 baseline).
    case avx2
    /// C with AVX-VNNI: `vpdpwssd` on 256-bit vectors (Alder Lake, Zen 5).
    case avxvnni
    /// C with AVX512-VNNI and AVX512VL: EVEX `vpdpwssd` on 256-bit vectors, 32 registers (Ice Lake, Zen 4).
    case avx512vnni

    public var description: String { rawValue }

    /// The C kernels' instruction set (nil for `swift`).
    var level: bk_level? {
        switch self {
        case .swift: return nil
        case .scalar: return BK_SCALAR
        case .avx2: return BK_AVX2
        case .avxvnni: return BK_AVXVNNI
        case .avx512vnni: return BK_AVX512VNNI
        }
    }

    /// Whether this CPU and build can run the path.
    public var isSupported: Bool { level.map { bk_supported($0) != 0 } ?? true }

    /// The paths this machine runs.
    public static var supported: [KernelPath] { allCases.filter(\.isSupported) }

    /// The fastest supported path: VNNI where the CPU has it, else AVX2; off x86-64 the Swift kernels.
    public static var fastest: KernelPath { [.avx512vnni, .avxvnni, .avx2].first(where: \.isSupported) ?? .swift }

    /// The path of this process: `BRIGADE_KERNELS` if set (a path the CPU lacks is a fatal error, so a forced run
    /// never silently tests another path), else `fastest`.
    public static let selected: KernelPath = {
        guard let value = getenv("BRIGADE_KERNELS").map({ String(cString: $0) }), !value.isEmpty else { return fastest }
        guard let path = KernelPath(rawValue: value) else {
            fatalError("BRIGADE_KERNELS=\(value): expected one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard path.isSupported else {
            fatalError("BRIGADE_KERNELS=\(value): this CPU lacks it (supported: \(supported.map(\.rawValue).joined(separator: ", ")))")
        }
        return path
    }()

    /// The C instruction set that multiplies `type` on this path, or nil when the Swift kernels do.
    func level(for type: TensorType) -> bk_level? {
        if self == .swift { return PackedMatrix.hasSwiftKernel(type) ? nil : BK_SCALAR }
        return level
    }
}
