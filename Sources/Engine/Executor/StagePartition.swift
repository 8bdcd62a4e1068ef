import Foundation

/// How a model's layers are split into pipeline stages: contiguous ranges, one per rank, covering every layer.
public struct StagePartition: Sendable, Equatable, CustomStringConvertible {
    public let ranges: [Range<Int>]

    public var stageCount: Int { ranges.count }
    public var layerCounts: [Int] { ranges.map(\.count) }
    public var description: String { layerCounts.map(String.init).joined(separator: ",") }

    /// A split given by hand as layer counts per stage (e.g. `--pp-partition 8,8,7,7`).
    public init(layerCounts: [Int], layerCount: Int) throws(PartitionError) {
        guard !layerCounts.isEmpty else { throw PartitionError("the partition lists no stages") }
        if let bad = layerCounts.first(where: { $0 < 1 }) {
            throw PartitionError("every stage needs at least one layer, got \(bad) in \(layerCounts.map(String.init).joined(separator: ","))")
        }
        let total = layerCounts.reduce(0, +)
        guard total == layerCount else {
            throw PartitionError("the partition \(layerCounts.map(String.init).joined(separator: ",")) covers \(total) layers "
                                 + "but the model has \(layerCount)")
        }
        var start = 0
        ranges = layerCounts.map { count in
            defer { start += count }
            return start..<start + count
        }
    }

    /// The contiguous split of `layerCount` layers into `stages` stages that minimises the most expensive stage,
    /// counting the embedding on the first stage and the head (final norm, output projection, sampling) on the last.
    /// Ties prefer putting extra layers on earlier stages.
    public static func balanced(layerCount: Int, stages: Int, costs: StageCosts) throws(PartitionError) -> StagePartition {
        try balanced(layerCosts: costs.perLayer(layerCount), stages: stages)
    }

    /// The contiguous split that minimises the most expensive stage, a stage costing the sum of its layers' costs
    /// (the first layer's cost includes the embedding, the last layer's the head: they always sit on the first and
    /// last stage). Ties prefer putting extra layers on earlier stages.
    public static func balanced(layerCosts: [Double], stages: Int) throws(PartitionError) -> StagePartition {
        let layerCount = layerCosts.count
        guard stages >= 1 else { throw PartitionError("--pp must be at least 1, got \(stages)") }
        guard stages <= layerCount else {
            throw PartitionError("--pp \(stages) needs at least one layer per stage but the model has \(layerCount) layers")
        }
        var prefix = [0.0]
        for cost in layerCosts { prefix.append(prefix[prefix.count - 1] + cost) }
        // best[s][l]: the smallest possible maximum stage cost when the first s stages hold the first l layers.
        let infinity = Double.infinity
        let tolerance = 1e-9 * max(1, prefix[layerCount])
        var best = Array(repeating: Array(repeating: infinity, count: layerCount + 1), count: stages + 1)
        var cut = Array(repeating: Array(repeating: 0, count: layerCount + 1), count: stages + 1)
        best[0][0] = 0
        for s in 1...stages {
            for l in s...layerCount {
                // The last of these s stages holds layers j..<l; prefer the largest j on ties (later stages lighter).
                for j in stride(from: l - 1, through: s - 1, by: -1) where best[s - 1][j] < infinity {
                    let candidate = max(best[s - 1][j], prefix[l] - prefix[j])
                    if candidate < best[s][l] - tolerance {
                        best[s][l] = candidate
                        cut[s][l] = j
                    }
                }
            }
        }
        var counts: [Int] = []
        var end = layerCount
        for s in stride(from: stages, through: 1, by: -1) {
            counts.append(end - cut[s][end])
            end = cut[s][end]
        }
        return try StagePartition(layerCounts: counts.reversed(), layerCount: layerCount)
    }

    /// Each stage's cost under `layerCosts` (see `balanced(layerCosts:stages:)`).
    public func stageCosts(_ layerCosts: [Double]) -> [Double] {
        ranges.map { range in range.reduce(0) { $0 + (layerCosts.indices.contains($1) ? layerCosts[$1] : 0) } }
    }

    /// Parses `8,8,7,7`.
    public init(parsing text: String, layerCount: Int) throws(PartitionError) {
        var counts: [Int] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            guard let count = Int(trimmed) else {
                throw PartitionError("--pp-partition \"\(text)\": \"\(trimmed)\" is not a layer count; "
                                     + "give comma-separated layer counts per stage, e.g. 8,8,7,7")
            }
            counts.append(count)
        }
        try self.init(layerCounts: counts, layerCount: layerCount)
    }
}

/// A stage split that cannot work, with what to change.
public struct PartitionError: Error, CustomStringConvertible, Equatable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
