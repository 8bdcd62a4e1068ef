import Foundation

/// Axis tick placement: "nice" linear ticks whose step is 1, 2 or 5 times a power of ten, and decade-based
/// logarithmic ticks.
public enum Ticks {
    /// The step, 1, 2 or 5 × 10^k, that cuts `span` into roughly `targetCount` intervals. Returns 1 for an empty,
    /// negative or non-finite span.
    public static func niceStep(span: Double, targetCount: Int = 6) -> Double {
        guard span.isFinite, span > 0 else { return 1 }
        let raw = span / Double(max(targetCount, 1))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let fraction = raw / magnitude
        let multiplier: Double = fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10
        return multiplier * magnitude
    }

    /// Every multiple of ``niceStep(span:targetCount:)`` that lies within `lower...upper`, ascending.
    /// A degenerate range yields just its bound; a non-finite one yields nothing.
    public static func linear(from lower: Double, to upper: Double, targetCount: Int = 6) -> [Double] {
        guard lower.isFinite, upper.isFinite else { return [] }
        let lo = min(lower, upper)
        let hi = max(lower, upper)
        guard hi > lo else { return [lo] }
        return multiples(of: niceStep(span: hi - lo, targetCount: targetCount), from: lo, to: hi)
    }

    /// Every multiple of `step` within `lo...hi` (with a relative slack of 1e-9 steps), ascending.
    static func multiples(of step: Double, from lo: Double, to hi: Double) -> [Double] {
        let slack = step * 1e-9
        let first = ((lo - slack) / step).rounded(.up)
        let last = ((hi + slack) / step).rounded(.down)
        guard first <= last, last - first < 10_000 else { return [] }
        return stride(from: first, through: last, by: 1).map { index in
            let value = index * step
            return value == 0 ? 0 : value  // no "-0"
        }
    }

    /// `lower...upper` widened outwards to multiples of the nice step, with that step and the ticks of the domain.
    /// Degenerate ranges are first widened around their value (to `0...1` for zero).
    public static func niceDomain(from lower: Double, to upper: Double, targetCount: Int = 6)
        -> (lower: Double, upper: Double, step: Double, ticks: [Double])
    {
        guard lower.isFinite, upper.isFinite else { return niceDomain(from: 0, to: 1, targetCount: targetCount) }
        var lo = min(lower, upper)
        var hi = max(lower, upper)
        if hi == lo {
            if lo == 0 {
                hi = 1
            } else {
                let pad = abs(lo) * 0.1
                (lo, hi) = (lo - pad, hi + pad)
            }
        }
        let step = niceStep(span: hi - lo, targetCount: targetCount)
        let niceLo = (lo / step).rounded(.down) * step
        let niceHi = (hi / step).rounded(.up) * step
        return (niceLo, niceHi, step, multiples(of: step, from: niceLo, to: niceHi))
    }

    /// Ticks for a logarithmic axis over positive `lower...upper`: 1, 2 and 5 × 10^k when the range spans at most
    /// three decades, otherwise powers of ten only (thinned to about ten of them). Non-positive ranges yield nothing.
    public static func logarithmic(from lower: Double, to upper: Double) -> [Double] {
        guard lower.isFinite, upper.isFinite, lower > 0, upper > 0 else { return [] }
        let lo = min(lower, upper)
        let hi = max(lower, upper)
        let firstDecade = Int(log10(lo).rounded(.down))
        let lastDecade = Int(log10(hi).rounded(.up))
        let decades = lastDecade - firstDecade
        let multipliers: [Double] = decades <= 3 ? [1, 2, 5] : [1]
        let every = max(1, (decades + 9) / 10)
        var ticks: [Double] = []
        for decade in firstDecade...lastDecade where (decade - firstDecade) % every == 0 {
            for multiplier in multipliers {
                let value = multiplier * pow(10, Double(decade))
                if value >= lo * (1 - 1e-9) && value <= hi * (1 + 1e-9) { ticks.append(value) }
            }
        }
        return ticks
    }

    /// A tick label for `value` on an axis whose tick step is `step`: as many decimals as the step needs
    /// (`0.25` → 2, `5` → 0), exponent notation for very large or very small magnitudes.
    public static func label(_ value: Double, step: Double) -> String {
        guard value.isFinite else { return "" }
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1e7 || magnitude < 1e-4 || (step > 0 && step < 1e-4) {
            return String(format: "%.3g", value)
        }
        let decimals = step > 0 && step.isFinite ? max(0, Int((-log10(step)).rounded(.up))) : 2
        if decimals > 4 { return String(format: "%.3g", value) }
        return SVG.number(value, maxDecimals: decimals)
    }

    /// A tick label for a logarithmic axis: plain decimals between 0.001 and 1e6, exponent notation outside.
    public static func logLabel(_ value: Double) -> String {
        guard value.isFinite, value > 0 else { return "" }
        if value >= 1e6 || value < 1e-3 { return String(format: "%.0e", value) }
        return SVG.number(value, maxDecimals: 3)
    }
}
