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
            distinct projection of layer 0, the output head and the first matrix of any other packed encoding, in \
            the int precision (packed panels, integer kernels) and the f32 one (rows dequantized on the fly), for \
            each --tokens count, alternating run by run so that all see the same load. The int precision is timed \
            once per --kernel-paths entry (swift, scalar, avx2, avxvnni, avx512vnni; default: swift and the \
            process's selected path), so the paths are compared in the same run. Every figure is the best of \
            --repetitions runs.
            """
    )

    @OptionGroup var model: ModelOptions
    @Option(help: "Comma-separated thread counts to measure.") var threadCounts = "1,2"
    @Option(help: "Comma-separated token counts (rows of activations) per product.") var tokens = "1,4,16,64,512"
    @Option(help: "Runs per figure; the best is reported.") var repetitions = 5
    @Option(help: "Comma-separated integer kernel paths to time side by side (default: swift and the selected path).")
    var kernelPaths: String?
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func validate() throws { try model.rejectPrecision("bench kernels") }

    func run() throws {
        let weights = try model.loadWeights()
        let config = weights.config
        let threads = try parseList(threadCounts, name: "--thread-counts")
        let tokenCounts = try parseList(tokens, name: "--tokens")
        let paths = try kernelPathList()
        let names = ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_output.weight", "blk.0.ffn_gate.weight",
                     "blk.0.ffn_down.weight", config.tiedEmbeddings ? "token_embd.weight" : "output.weight"]
        var matrices = names.compactMap { weights.store.tensors[$0] }
        // Plus the first layer matrix of each packed encoding the list above misses (Q4_K_M files mix Q4_K, Q5_0,
        // Q6_K and Q8_0, layer by layer).
        for tensor in weights.store.tensors.values.sorted(by: { $0.name.localizedStandardCompare($1.name) == .orderedAscending })
        where tensor.name.hasPrefix("blk.") && tensor.rows > 1 && PackedMatrix.canPack(tensor.type)
            && !matrices.contains(where: { $0.type == tensor.type }) {
            matrices.append(tensor)
        }
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
                            // The paths alternate, run by run, so all of them see the same machine load.
                            var f32 = Double.infinity, int = [Double](repeating: .infinity, count: paths.count)
                            for _ in 0..<max(1, repetitions) {
                                f32 = min(f32, MemoryBandwidth.seconds { MatMul.multiply(w, x.baseAddress!, tokens: t, into: y.baseAddress!) })
                                guard let packed else { continue }
                                for (k, path) in paths.enumerated() {
                                    int[k] = min(int[k], MemoryBandwidth.seconds {
                                        let q = QuantizedActivations(x.baseAddress!, tokens: t, columns: w.columns,
                                                                     maximum: packed.activationLimit)
                                        packed.multiply(q, into: y.baseAddress!, path: path)
                                    })
                                }
                            }
                            row["f32_GMACps"] = macs / f32 / 1e9
                            if let packed {
                                // The selected path's figures (else the first's) under the int keys; every path's by name.
                                let main = int[paths.firstIndex(of: .selected) ?? 0]
                                row["int_GMACps"] = macs / main / 1e9
                                row["int_weight_GBps"] = Double(packed.byteCount) / main / 1e9
                                row["int_over_f32"] = f32 / main
                                row["paths_GMACps"] = Dictionary(uniqueKeysWithValues: zip(paths.map(\.rawValue), int.map { macs / $0 / 1e9 }))
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
        print("\nint GMAC/s per kernel path: \(paths.map(\.rawValue).joined(separator: ", ")); weight GB/s and int÷f32 of \(paths.contains(.selected) ? KernelPath.selected : paths[0])")
        let pathHeader = paths.map { $0.rawValue.leftPadded(to: 10) }.joined(separator: "  ")
        print("threads  tensor                    type  rows×columns  tokens  \(pathHeader)  int weight GB/s  f32 GMAC/s  int÷f32")
        for r in rows {
            let shape = "\(r["rows"] as! Int)×\(r["columns"] as! Int)"
            let gbps = r["int_weight_GBps"] as? Double, ratio = r["int_over_f32"] as? Double
            let perPath = r["paths_GMACps"] as? [String: Double]
            let int = paths.map { path in perPath?[path.rawValue].map { String(format: "%10.1f", $0) } ?? "         -" }
                .joined(separator: "  ")
            print(String(format: "%7d  %@  %@  %@  %6d  %@  %@  %10.1f  %@", r["threads"] as! Int,
                         (r["tensor"] as! String).padding(toLength: 24, withPad: " ", startingAt: 0),
                         (r["type"] as! String).padding(toLength: 4, withPad: " ", startingAt: 0),
                         shape.padding(toLength: 12, withPad: " ", startingAt: 0), r["tokens"] as! Int,
                         int, gbps.map { String(format: "%15.1f", $0) } ?? "              -",
                         r["f32_GMACps"] as! Double, ratio.map { String(format: "%7.1f", $0) } ?? "      -"))
        }
    }

    /// The `--kernel-paths` to time, each supported by this CPU.
    func kernelPathList() throws -> [KernelPath] {
        guard let kernelPaths else { return KernelPath.selected == .swift ? [.swift] : [.swift, KernelPath.selected] }
        return try kernelPaths.split(separator: ",").map { name in
            guard let path = KernelPath(rawValue: String(name)) else {
                throw ValidationError("--kernel-paths: unknown path '\(name)' (expected \(KernelPath.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard path.isSupported else { throw ValidationError("--kernel-paths: this CPU does not support \(path)") }
            return path
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

extension String {
    /// The string right-aligned in `width` characters.
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
