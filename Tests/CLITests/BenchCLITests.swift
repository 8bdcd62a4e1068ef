import Foundation
import Testing

/// `brigade bench kernels` and `brigade bench model` on SmolLM2, run as a user runs them.
@Suite struct BenchCLITests {
    static func json(_ run: CLITests.Run) throws -> [String: Any] {
        #expect(run.status == 0, "\(run.stderr)")
        return try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
    }

    /// Every product is reported with its bandwidth context, and the integer kernels keep their lead over the f32
    /// path measured side by side in the same run (≈ 6× at one token on this machine kind; a lost vectorization
    /// or a fallback to the f32 path shows as ≈ 1×).
    @Test func kernelsReportEveryProductAgainstTheMeasuredBandwidth() throws {
        let report = try Self.json(try CLITests.run(["bench", "kernels", "--thread-counts", "1", "--tokens", "1,5",
                                                     "--repetitions", "2", "--json"]))
        let bandwidth = try #require(report["bandwidth"] as? [[String: Any]])
        #expect(bandwidth.count == 1 && (bandwidth[0]["read_GBps"] as? Double ?? 0) > 1)
        let products = try #require(report["products"] as? [[String: Any]])
        #expect(products.count == 12)  // 6 projections × 2 token counts
        let head = products.filter { $0["type"] as? String == "Q8_0" }
        #expect(head.count == 2 && head.allSatisfy { ($0["int_GMACps"] as? Double ?? 0) > 0 }, "the Q8_0 output head is measured")
        let q4AtOneToken = products.filter { $0["type"] as? String == "Q4_1" && $0["tokens"] as? Int == 1 }
        #expect(!q4AtOneToken.isEmpty)
        for product in q4AtOneToken {
            let ratio = try #require(product["int_over_f32"] as? Double)
            #expect(ratio > 2, "integer kernel only \(ratio)× the f32 path on \(product["tensor"] ?? "")")
        }
    }

    @Test func modelReportsPrefillDecodeAndBatchedDecode() throws {
        let report = try Self.json(try CLITests.run(["bench", "model", "--thread-counts", "1", "--prompt-tokens", "16",
                                                     "--decode-tokens", "4", "--concurrency", "1,3", "--batched-steps", "2",
                                                     "--repetitions", "1", "--json"]))
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.map { $0["test"] as? String } == ["pp16", "tg4", "batched decode x1", "batched decode x3"])
        #expect(results.allSatisfy { ($0["tokens_per_second"] as? Double ?? 0) > 0 })
    }

    @Test func evalDivergenceComparesThePrecisions() throws {
        let report = try Self.json(try CLITests.run(["eval", "divergence", "--sequence-tokens", "32", "--sequences", "2", "--json"]))
        #expect(report["positions"] as? Int == 64)
        let mean = try #require(report["mean_kl"] as? Double), agreement = try #require(report["top1_agreement"] as? Double)
        #expect(mean > 0 && mean <= 0.01 && agreement >= 0.95, "\(report)")
        let bad = try CLITests.run(["eval", "divergence", "--text", "/nonexistent/file.txt"])
        #expect(bad.status != 0 && bad.stderr.contains("cannot read /nonexistent/file.txt"), "\(bad.stderr)")
        let ignored = try CLITests.run(["eval", "divergence", "--precision", "f32"])
        #expect(ignored.status != 0 && ignored.stderr.contains("remove --precision f32"), "\(ignored.stderr)")
    }
}
