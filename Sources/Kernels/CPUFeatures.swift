#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The instruction-set features Brigade's release build is compiled for.
///
/// Release builds generate AVX2 + FMA + F16C code (x86-64-v3). Running such a binary on an older CPU would die with
/// an illegal-instruction signal somewhere deep in a kernel; `CPUFeatures.requireCompiledFeatures()` turns that into a
/// clear message at start-up instead.
public enum CPUFeatures {
    /// Features the kernels are compiled to use.
    public static let required = ["avx2", "fma", "f16c"]

    /// An error raised when the CPU lacks a feature the binary was compiled for.
    public struct MissingFeatures: Error, CustomStringConvertible {
        public let missing: [String]
        public var description: String {
            "this CPU lacks \(missing.joined(separator: ", ")), which Brigade's kernels are compiled for "
                + "(x86-64-v3: AVX2 + FMA + F16C). Run on a newer x86-64 CPU (Intel Haswell / AMD Zen or later)."
        }
    }

    /// The CPU flags reported by the operating system (`/proc/cpuinfo` on Linux), or nil if unknown.
    public static func cpuFlags() -> Set<String>? {
        #if os(Linux) && arch(x86_64)
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            guard let line else { continue }
            let text = String(cString: line)
            if text.hasPrefix("flags") {
                let value = text.split(separator: ":", maxSplits: 1).last ?? ""
                return Set(value.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init))
            }
        }
        return nil
        #else
        return nil
        #endif
    }

    /// Throws `MissingFeatures` when the CPU is known to lack a required feature.
    /// Does nothing where the features cannot be read (non-Linux) or on non-x86 builds.
    public static func requireCompiledFeatures() throws(MissingFeatures) {
        #if arch(x86_64)
        guard let flags = cpuFlags() else { return }
        let missing = required.filter { !flags.contains($0) }
        if !missing.isEmpty { throw MissingFeatures(missing: missing) }
        #endif
    }
}
