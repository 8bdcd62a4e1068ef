import ArgumentParser
import Foundation
import Kernels
import Model

/// `brigade bench kernels`: each matrix product of the model at several token counts, against the memory bandwidth
/// measured in the same run.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Measure the model's matrix products (GMAC/s, GB/s of weights) against this machine's memory bandwidth.",
        discussion: """
            First measures memory bandwidth (read and STREAM triad over 256 MiB arrays) at each thread count: batch-1 \
            decode reads every weight once per token, so read bandwidth ÷ weight bytes is its ceiling. Then times each \
            distinct projection of layer 0 and the output head, in the int precision (packed panels, integer \
            kernels) and the f32 one (rows dequantized on the fly), for each --tokens count, the two alternating run \
            by run so that both see the same load. Every figure is the best of --repetitions runs.
            """
    )

    @OptionGroup var model: ModelOptions
    @Option(help: "Comma-separated thread counts to measure.") var threadCounts = "1,2"
    @Option(help: "Comma-separated token counts (rows of activations) per product.") var tokens = "1,4,16,64,512"
    @Option(help: "Runs per figure; the best is reported.") var repetitions = 5
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func validate() throws { try model.rejectPrecision("bench kernels") }

    func run() throws {
        let weights = try model.loadWeights()
        let config = weights.config
        let threads = try parseList(threadCounts, name: "--thread-counts")
        let tokenCounts = try parseList(tokens, name: "--tokens")
        let names = ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_output.weight", "blk.0.ffn_gate.weight",
                     "blk.0.ffn_down.weight", config.tiedEmbeddings ? "token_embd.weight" : "output.weight"]
        let matrices = names.compactMap { weights.store.tensors[$0] }
        let packedBytes = weightBytesPerToken(weights)
        var bandwidth: [[String: Any]] = []
        var rows: [[String: Any]] = []
        for threadCount in threads {
            KernelThreads.configure(threadCount)
            let memory = MemoryBandwidth.measure(repetitions: repetitions)
            bandwidth.append(["threads": threadCount, "read_GBps": memory.readGBps, "triad_GBps": memory.triadGBps,
                              "decode_ceiling_tokens_per_second": memory.readGBps * 1e9 / Double(packedBytes)])
            for tensor in matrices {
                let w = tensor.matrix
                let packed = PackedMatrix.canPack(w.type) ? PackedMatrix(w) : nil
                for t in tokenCounts {
                    let x = (0..<(t * w.columns)).map { Float(($0 * 7919) % 2001 - 1000) / 1000 }
                    var y = [Float](repeating: 0, count: t * w.rows)
                    var row: [String: Any] = ["threads": threadCount, "tensor": tensor.name, "type": "\(w.type)",
                                              "rows": w.rows, "columns": w.columns, "tokens": t]
                    let macs = Double(w.rows * w.columns * t)
                    x.withUnsafeBufferPointer { x in
                        y.withUnsafeMutableBufferPointer { y in
                            // The two paths alternate, run by run, so both see the same machine load.
                            var f32 = Double.infinity, int = Double.infinity
                            for _ in 0..<max(1, repetitions) {
                                f32 = min(f32, MemoryBandwidth.seconds { MatMul.multiply(w, x.baseAddress!, tokens: t, into: y.baseAddress!) })
                                guard let packed else { continue }
                                int = min(int, MemoryBandwidth.seconds {
                                    let q = QuantizedActivations(x.baseAddress!, tokens: t, columns: w.columns,
                                                                 maximum: packed.activationLimit)
                                    packed.multiply(q, into: y.baseAddress!)
                                })
                            }
                            row["f32_GMACps"] = macs / f32 / 1e9
                            if let packed {
                                row["int_GMACps"] = macs / int / 1e9
                                row["int_weight_GBps"] = Double(packed.byteCount) / int / 1e9
                                row["int_over_f32"] = f32 / int
                            }
                        }
                    }
                    rows.append(row)
                }
            }
        }
        KernelThreads.configure(model.threads ?? KernelThreads.cores)
        if json {
            let object: [String: Any] = ["model": model.resolvedPath, "weight_bytes_per_token": packedBytes,
                                         "bandwidth": bandwidth, "products": rows]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("model: \(model.resolvedPath)\nweights read per decoded token: \(String(format: "%.1f", Double(packedBytes) / 1e6)) MB\n")
        print("threads  read GB/s  triad GB/s  decode ceiling (tokens/s)")
        for b in bandwidth {
            print(String(format: "%7d  %9.1f  %10.1f  %25.0f", b["threads"] as! Int, b["read_GBps"] as! Double,
                         b["triad_GBps"] as! Double, b["decode_ceiling_tokens_per_second"] as! Double))
        }
        print("\nthreads  tensor                    type  rows×columns  tokens  int GMAC/s  int weight GB/s  f32 GMAC/s  int÷f32")
        for r in rows {
            let shape = "\(r["rows"] as! Int)×\(r["columns"] as! Int)"
            let int = r["int_GMACps"] as? Double, gbps = r["int_weight_GBps"] as? Double, ratio = r["int_over_f32"] as? Double
            print(String(format: "%7d  %@  %@  %@  %6d  %@  %@  %10.1f  %@", r["threads"] as! Int,
                         (r["tensor"] as! String).padding(toLength: 24, withPad: " ", startingAt: 0),
                         (r["type"] as! String).padding(toLength: 4, withPad: " ", startingAt: 0),
                         shape.padding(toLength: 12, withPad: " ", startingAt: 0), r["tokens"] as! Int,
                         int.map { String(format: "%10.1f", $0) } ?? "         -", gbps.map { String(format: "%15.1f", $0) } ?? "              -",
                         r["f32_GMACps"] as! Double, ratio.map { String(format: "%7.1f", $0) } ?? "      -"))
        }
    }

    /// Bytes of weights one decode step reads: every layer's projections and the output head (the embedding row is
    /// negligible), at their size in the file (packed panels hold exactly the same bytes).
    func weightBytesPerToken(_ weights: ModelWeights) -> Int {
        let config = weights.config
        return weights.store.tensors.values.reduce(0) { total, tensor in
            let isLayer = tensor.name.hasPrefix("blk.") && tensor.rows > 1
            let isHead = tensor.name == "output.weight" || (config.tiedEmbeddings && tensor.name == "token_embd.weight")
            guard isLayer || isHead else { return total }
            return total + tensor.rows * tensor.matrix.rowBytes
        }
    }
}
