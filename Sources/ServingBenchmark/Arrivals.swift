import Foundation

/// A small, fast, seedable generator (SplitMix64), so a benchmark's prompts and arrival times repeat with `--seed`.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1): never 0, so logarithms stay finite.
    mutating func unitOpen() -> Double {
        (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992
    }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        (-2 * Foundation.log(unitOpen())).squareRoot() * cos(2 * .pi * unitOpen())
    }

    /// Gamma(shape, scale) by Marsaglia and Tsang; shapes below 1 use the boost `Gamma(k+1) · U^(1/k)`.
    public mutating func gamma(shape: Double, scale: Double) -> Double {
        if shape < 1 { return gamma(shape: shape + 1, scale: scale) * pow(unitOpen(), 1 / shape) }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = unitOpen()
            if Foundation.log(u) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v * scale }
        }
    }
}

/// When each request is sent, in seconds after the start, as `vllm bench serve` schedules them: all at once for an
/// infinite rate; otherwise gaps drawn from Gamma(shape = burstiness, scale = 1 / (rate · burstiness)) — a Poisson
/// process at burstiness 1, evenly spaced as burstiness → ∞ — whose running sum is rescaled so the last request is
/// sent at exactly `count / rate`.
public func arrivalTimes(count: Int, rate: Double, burstiness: Double, generator: inout SeededGenerator) -> [Double] {
    guard count > 0 else { return [] }
    guard rate.isFinite else { return [Double](repeating: 0, count: count) }
    var times: [Double] = []
    var total = 0.0
    for _ in 0..<count {
        total += burstiness.isFinite ? generator.gamma(shape: burstiness, scale: 1 / (rate * burstiness)) : 1 / rate
        times.append(total)
    }
    guard total > 0 else { return times }
    let factor = Double(count) / rate / total
    return times.map { $0 * factor }
}
