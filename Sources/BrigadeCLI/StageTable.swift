import Engine
import Foundation

/// The per-stage table of `--stats` and `bench pipeline`: where each rank's time went.
struct StageTable {
    let rows: [StageStatistics]
    /// The wall time the fractions are relative to (default: each rank's own lifetime).
    let wallSeconds: Double?

    init(_ rows: [StageStatistics], wallSeconds: Double? = nil) {
        self.rows = rows
        self.wallSeconds = wallSeconds
    }

    var text: String {
        var lines = ["stage  layers   micro-batches   tokens   busy %  upstream-wait %  relay-wait %  idle %  max in flight"]
        for row in rows {
            let wall = max(wallSeconds ?? row.wallSeconds, 1e-9)
            func percent(_ seconds: Double) -> String { String(format: "%.1f", 100 * seconds / wall) }
            let layers = "\(row.layers.lowerBound)-\(row.layers.upperBound - 1)"
            lines.append(pad(String(row.rank), 5) + "  " + pad(layers, 7) + "  " + pad(String(row.microBatches), 13, right: true)
                         + "  " + pad(String(row.tokens), 7, right: true) + "  " + pad(percent(row.forwardSeconds), 7, right: true)
                         + "  " + pad(percent(row.upstreamWaitSeconds), 15, right: true)
                         + "  " + pad(percent(row.relayWaitSeconds), 12, right: true)
                         + "  " + pad(percent(row.idleSeconds), 6, right: true)
                         + "  " + pad(String(row.maxInFlight), 13, right: true))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        guard text.count < width else { return text }
        let fill = String(repeating: " ", count: width - text.count)
        return right ? fill + text : text + fill
    }
}
